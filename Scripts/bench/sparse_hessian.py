#!/usr/bin/env python3
"""The sparse Hessian of a 2-D Laplacian energy on an N × N grid (issue 18), f64:

    f(u) = Σ (u[i+1,j] − u[i,j])² + Σ (u[i,j+1] − u[i,j])² + Σ exp(u)      (N² unknowns)

gradc (`hessian(f, u, sparse=true)`: sparsity propagation, star colouring, one Hessian-vector
product per colour; `GradBench sparse-hessian`) against CasADi's `hessian` of the same
function (its own sparsity detection and colouring), SX and MX, in the same run. Setup =
everything from the expression to a callable function; evaluate = the best of 5 calls.

  Scripts/bench/sparse_hessian.py [--python PY] [--c] [N]      (default N = 1000)
Build first: swift build -c release --product GradBench. CasADi comes from the peers' venv
(Scripts/peers/setup.sh, pinned versions) unless --python names an interpreter with casadi."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASADI = r"""
import sys, time
import casadi as ca
import numpy as np
n, kind = int(sys.argv[1]), sys.argv[2]
Sym = ca.SX if kind == "SX" else ca.MX
t0 = time.perf_counter()
v = Sym.sym("u", n * n)
u = ca.reshape(v, n, n)
dx = u[1:, :] - u[:-1, :]
dy = u[:, 1:] - u[:, :-1]
f = ca.sumsqr(dx) + ca.sumsqr(dy) + ca.sum1(ca.exp(v))
h = ca.hessian(f, v)[0]
F = ca.Function("h", [v], [h])
setup = time.perf_counter() - t0
x = np.sin(np.arange(n * n) / 1000.0)   # gradc's input too (its checksum must match)
out = F(x)
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    F(x)
    best = min(best, time.perf_counter() - t0)
print(f"setup {setup:.3f} evaluate {best:.4f} nonzeros {h.nnz()} checksum {float(ca.sum1(ca.sum2(out))):.12g}")
"""


def python(argv):
    if "--python" in argv:
        i = argv.index("--python")
        py = argv[i + 1]
        del argv[i:i + 2]
        return py
    py = os.path.join(ROOT, "Scripts", "peers", ".venv", "bin", "python")
    if subprocess.run([py, "-c", "import casadi"], capture_output=True).returncode != 0:
        subprocess.run([os.path.join(ROOT, "Scripts", "peers", "setup.sh")], check=True)
    return py


def main():
    argv = sys.argv[1:]
    py = python(argv)
    with_c = "--c" in argv
    argv = [a for a in argv if a != "--c"]
    n = int(argv[0]) if argv else 1000
    exe = os.path.join(ROOT, ".build", "release", "GradBench")
    out = subprocess.run([exe, "sparse-hessian", str(n)] + (["--c"] if with_c else []),
                         capture_output=True, text=True, check=True).stdout
    print(out.strip())
    g = {}
    for line in out.splitlines():
        w = line.split()
        if w[0] == "build+pattern":
            g["build"] = float(w[1])
        elif w[0] == "compile":
            g["compile " + w[1]] = float(w[2])
        elif w[0] == "evaluate":
            g["evaluate " + w[1]] = float(w[2])
            g["checksum"] = float(w[5])
        elif w[0] == "unknowns":
            g["nonzeros"], g["colours"] = int(w[3]), int(w[5])
    rows = []
    for kind in ["SX", "MX"]:
        r = subprocess.run([py, "-c", CASADI, str(n), kind], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"casadi {kind}: failed: {r.stderr.strip()[-300:]}")
            continue
        w = r.stdout.split()
        rows.append((kind, float(w[1]), float(w[3]), int(w[5]), float(w[7])))
    print()
    print(f"N = {n} ({n * n} unknowns); gradc: {g.get('nonzeros')} non-zeros, {g.get('colours')} colours")
    print()
    print("| system | setup (s) | evaluate (s) | non-zeros | checksum |")
    print("|---|---:|---:|---:|---:|")
    backends = ["bytecode"] + (["c"] if with_c else [])
    for b in backends:
        setup = g["build"] + g["compile " + b]
        print(f"| gradc {b} | {setup:.2f} | {g['evaluate ' + b]:.4f} | {g['nonzeros']} | {g['checksum']:.12g} |")
    for kind, setup, ev, nnz, cs in rows:
        print(f"| CasADi {kind} | {setup:.2f} | {ev:.4f} | {nnz} | {cs:.12g} |")
    if rows:
        print()
        print("| ratio (gradc ÷ CasADi) | setup | evaluate |")
        print("|---|---:|---:|")
        for b in backends:
            setup = g["build"] + g["compile " + b]
            for kind, s, ev, _, _ in rows:
                print(f"| gradc {b} ÷ CasADi {kind} | {setup / s:.2f} | {g['evaluate ' + b] / ev:.2f} |")


main()
