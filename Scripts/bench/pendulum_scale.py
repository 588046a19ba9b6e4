#!/usr/bin/env python3
"""Back-end scale on the unrolled damped pendulum (issue 21): N explicit Euler steps written
out as straight-line .ir, the energy and its gradient. For each N prints the time of
`gradc compile --backend bytecode` (parse + differentiate + optimize + lower + write .gbc) and of
`gradc run --backend c` cold (fresh cache: + C emission + cc) and on a cache hit, with peak RSS.

  Scripts/bench/pendulum_scale.py [--gradc PATH] [--no-cold] N [N ...]
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
    sizes = [int(a) for a in argv if not a.startswith("--")] or [2000, 20000]
    print(f"{'N':>7} {'bytecode s':>11} {'MB':>6} {'C cold s':>9} {'C hit s':>8} {'MB':>6}")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            path = os.path.join(d, f"pend{n}.ir")
            with open(path, "w") as f:
                f.write(model(n))
            env = dict(os.environ, GRADC_CACHE_DIR=os.path.join(d, f"cache{n}"))
            bc, bc_mb = timed([gradc, "compile", path, "--backend", "bytecode", "-o", os.path.join(d, "p.gbc")], env)
            run = [gradc, "run", path, "--backend", "c", "--input", "th0=0.5", "--input", "w0=0", "--input", "k=0.1"]
            c_cold = f"{timed(run, env)[0]:9.2f}" if cold else f"{'-':>9}"
            hit, hit_mb = timed(run, env) if cold else (float("nan"), float("nan"))
            print(f"{n:>7} {bc:11.2f} {bc_mb:6.0f} {c_cold} {hit:8.2f} {hit_mb:6.0f}")


main()
