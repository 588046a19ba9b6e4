#!/usr/bin/env python3
"""Reverse-mode memory of a long loop (issue 15): T steps of h ← tanh(h·w + 0.1) with a carry
of 128 f64 (1 KB), loss = sum(h_T), the gradient w.r.t. h0 and w — without and with
`checkpoint=` (true: a stored carry every ⌈√T⌉ steps). For each prints the planned memory
(the VM arena from `gradc compile --backend bytecode`, which holds the tape), the time and peak
RSS of `gradc run` on the VM and in C (cache hit: the C compile is timed separately), and the
slowdown of checkpointing.

  Scripts/bench/loop_memory.py [--gradc PATH] [T ...]      (default T = 100000)
Build first: swift build -c release --product gradc."""
import os
import re
import subprocess
import sys
import tempfile
import time


def model(n, checkpoint):
    ck = f", checkpoint={checkpoint}" if checkpoint else ""
    return (f"func cell(i: i64, h: f64[128], w: f64) {{\n  return tanh(h * w + 0.1)\n}}\n"
            f"func f(h0: f64[128], w: f64) {{\n  hT = fori(cell, {n}, carry=h0, with=w{ck})\n"
            f"  loss = sum(hT)\n  return loss, grad(loss, h0, w)\n}}\n")


def timed(args, env):
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + args, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stderr}")
    return wall, int(p.stderr.strip().splitlines()[-1]) / 1024, p.stdout


def main():
    argv = sys.argv[1:]
    gradc = ".build/release/gradc"
    if "--gradc" in argv:
        i = argv.index("--gradc")
        gradc = argv[i + 1]
        del argv[i:i + 2]
    sizes = [int(a) for a in argv] or [100000]
    print(f"{'T':>7} {'checkpoint':>10} {'arena MB':>9} {'VM s':>6} {'VM RSS MB':>9} {'C cold s':>8} {'C hit s':>7} {'C RSS MB':>8} {'loss':>22}")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            base = {}
            for ck in ["", "true"]:
                path = os.path.join(d, f"mem{n}{ck}.ir")
                with open(path, "w") as f:
                    f.write(model(n, ck))
                env = dict(os.environ, GRADC_CACHE_DIR=os.path.join(d, f"cache{n}{ck}"))
                gbc = os.path.join(d, "m.gbc")
                p = subprocess.run([gradc, "compile", path, "--backend", "bytecode", "-o", gbc], env=env,
                                   capture_output=True, text=True, check=True)
                arena = int(re.search(r"arena (\d+) bytes", p.stdout + p.stderr).group(1)) / 1e6
                inputs = ["--input", "h0=0.5", "--input", "w=0.9"]
                vm, vm_mb, out = timed([gradc, "run", gbc] + inputs, env)
                run_c = [gradc, "run", path, "--backend", "c"] + inputs
                cold, _, _ = timed(run_c, env)
                hit, c_mb, out_c = timed(run_c, env)
                loss = out.splitlines()[0].split("=")[-1].strip()
                if out_c.splitlines()[0] != out.splitlines()[0]:
                    loss += " (C differs)"
                base.setdefault("vm", vm)
                print(f"{n:>7} {ck or 'none':>10} {arena:9.2f} {vm:6.2f} {vm_mb:9.0f} {cold:8.2f} {hit:7.2f} {c_mb:8.0f} {loss:>22}")


main()
