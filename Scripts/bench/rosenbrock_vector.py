#!/usr/bin/env python3
"""The element-by-element Rosenbrock function over one vector x: f64[N] (issue 16), as a
CasADi user writes it: sum of 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2, written out term by
term, and its gradient. For each N prints gradc's times (release CLI, each a fresh process:
`gradc compile --backend bytecode` = parse + differentiate + optimize + lower + write .gbc;
`gradc run --backend bytecode` = all that + one evaluation of value and gradient) and
CasADi's (SX: building the expression, `gradient` + `Function` construction; one
evaluation of the SX Function's virtual machine), in the same run, with ratios.

  Scripts/bench/rosenbrock_vector.py [--gradc PATH] N [N ...]
Build first: swift build -c release --product gradc. CasADi comes from PyPI into the venv
.build/bench-venv, made on first use."""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".build", "bench-venv")

CASADI = r"""
import sys, time
import casadi as ca
n = int(sys.argv[1])
t0 = time.perf_counter()
x = ca.SX.sym("x", n)
f = 0
for i in range(n - 1):
    f = f + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
t1 = time.perf_counter()
F = ca.Function("F", [x], [f, ca.gradient(f, x)])
t2 = time.perf_counter()
r = F([0.5] * n)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, float(r[0]))
"""


def model(n):
    terms = " + ".join(f"100 * (x[{i+1}] - x[{i}]^2)^2 + (1 - x[{i}])^2" for i in range(n - 1))
    return f"func rosenbrock(x: f64[{n}]) {{\n  f = {terms}\n  return f, grad(f, x)\n}}\n"


def timed(args):
    t = time.perf_counter()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args[:3])}…\n{p.stderr[-2000:]}")
    return time.perf_counter() - t, p.stdout


def python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import casadi"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "casadi"], check=True)
    return py


def main():
    argv = sys.argv[1:]
    gradc = os.path.join(ROOT, ".build", "release", "gradc")
    if "--gradc" in argv:
        i = argv.index("--gradc")
        gradc = argv[i + 1]
        del argv[i:i + 2]
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    py = python()
    print("| N | gradc compile (bytecode) | gradc run (+1 eval) | CasADi SX build | CasADi gradient + Function | CasADi eval | compile ÷ CasADi gradient + Function | compile ÷ CasADi build + gradient + Function |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            path = os.path.join(d, f"r{n}.ir")
            with open(path, "w") as f:
                f.write(model(n))
            compile_s, _ = timed([gradc, "compile", path, "--backend", "bytecode", "-o", os.path.join(d, "r.gbc")])
            run_s, out = timed([gradc, "run", path, "--backend", "bytecode", "--input", "x=0.5"])
            _, c_out = timed([py, "-c", CASADI, str(n)])
            build, grad, ev, value = (float(v) for v in c_out.split())
            ours = float(out.split("=")[1].split()[0]) if "=" in out else float("nan")
            assert abs(ours - value) <= 1e-9 * max(1, abs(value)), (ours, value)
            print(f"| {n} | {compile_s:.2f} s | {run_s:.2f} s | {build:.2f} s | {grad:.2f} s | {ev * 1e3:.2f} ms | {compile_s / grad:.1f} | {compile_s / (build + grad):.2f} |")


if __name__ == "__main__":
    main()
