#!/usr/bin/env python3
"""Back-end scale on the damped pendulum (issues 15 and 21): N explicit Euler steps, the energy
and its gradient, written out as straight-line .ir (`unrolled`) and as one `fori` loop
(`loop`). For each N and form prints the time of `gradc compile --backend bytecode` (parse +
differentiate + optimize + lower + write .gbc), the .gbc size, and the time of `gradc run
--backend c` cold (fresh cache: + C emission + cc + the run) and on a cache hit, with peak RSS.

  Scripts/bench/pendulum_scale.py [--gradc PATH] [--no-cold] [--loop-only] N [N ...]
Build first: swift build -c release --product gradc."""
import os
import subprocess
import sys
import tempfile
import time


def model(n):
    lines = ["func pendulum(th0: f64, w0: f64, k: f64) {", "  th_0 = th0", "  w_0 = w0"]
    for i in range(n):
        lines.append(f"  th_{i+1} = th_{i} + 0.001 * w_{i}")
        lines.append(f"  w_{i+1} = w_{i} - 0.001 * (9.81 * sin(th_{i}) + k * w_{i})")
    lines.append(f"  e = th_{n} * th_{n} + w_{n} * w_{n}")
    lines.append("  return e, grad(e, th0, w0, k)")
    lines.append("}")
    return "\n".join(lines) + "\n"


def looped_model(n):
    return "\n".join([
        "func step(i: i64, th: f64, w: f64, k: f64) {",
        "  return th + 0.001 * w, w - 0.001 * (9.81 * sin(th) + k * w)",
        "}",
        "func pendulum(th0: f64, w0: f64, k: f64) {",
        f"  thN, wN = fori(step, {n}, carry=(th0, w0), with=k)",
        "  e = thN * thN + wN * wN",
        "  return e, grad(e, th0, w0, k)",
        "}",
    ]) + "\n"


def timed(args, env):
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + args, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stderr}")
    return wall, int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    argv = sys.argv[1:]
    gradc = ".build/release/gradc"
    if "--gradc" in argv:
        i = argv.index("--gradc")
        gradc = argv[i + 1]
        del argv[i:i + 2]
    cold = "--no-cold" not in argv
    forms = [("loop", looped_model)] if "--loop-only" in argv else [("unrolled", model), ("loop", looped_model)]
    sizes = [int(a) for a in argv if not a.startswith("--")] or [2000, 20000]
    print(f"{'N':>7} {'form':>8} {'bytecode s':>11} {'.gbc KB':>8} {'MB':>6} {'C cold s':>9} {'C hit s':>8} {'MB':>6}")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            for name, make in forms:
                path = os.path.join(d, f"pend{n}-{name}.ir")
                with open(path, "w") as f:
                    f.write(make(n))
                env = dict(os.environ, GRADC_CACHE_DIR=os.path.join(d, f"cache{n}-{name}"))
                gbc = os.path.join(d, "p.gbc")
                bc, bc_mb = timed([gradc, "compile", path, "--backend", "bytecode", "-o", gbc], env)
                kb = os.path.getsize(gbc) / 1024
                run = [gradc, "run", path, "--backend", "c", "--input", "th0=0.5", "--input", "w0=0", "--input", "k=0.1"]
                c_cold = f"{timed(run, env)[0]:9.2f}" if cold else f"{'-':>9}"
                hit, hit_mb = timed(run, env) if cold else (float("nan"), float("nan"))
                print(f"{n:>7} {name:>8} {bc:11.2f} {kb:8.1f} {bc_mb:6.0f} {c_cold} {hit:8.2f} {hit_mb:6.0f}")

main()
