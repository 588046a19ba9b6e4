#!/usr/bin/env python3
"""Evaluation of the element-by-element Rosenbrock over x: f64[N] (issue 16), value and
gradient, as generated C: gradc's C backend (`gradc compile --backend c`, model.c) against
CasADi's generated C (SX `gradient` + `Function`, `Function.generate`), each built with the
same `cc -O2 -march=native` into a small C driver that times calls one at a time (warm-up,
then until >= 0.5 s) on the same input; the value and the gradient are compared. Prints a
table with the cc time of each and the ratio of the medians.

  Scripts/bench/rosenbrock_vector_c.py [--gradc PATH] N [N ...]
Build first: swift build -c release --product gradc. CasADi comes from PyPI into the venv
.build/bench-venv (shared with rosenbrock_vector.py)."""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
CFLAGS = ["-O2", "-march=native"]

CASADI = r"""
import sys, casadi as ca
n, out = int(sys.argv[1]), sys.argv[2]
x = ca.SX.sym("x", n)
f = 0
for i in range(n - 1):
    f = f + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
F = ca.Function("F", [x], [f, ca.gradient(f, x)])
F.generate("rb_casadi.c", {"with_header": True})
import shutil; shutil.move("rb_casadi.c", out + "/rb_casadi.c"); shutil.move("rb_casadi.h", out + "/rb_casadi.h")
"""

TIMING = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
#define MEASURE(CALL) do { \
    for (int w = 0; w < 5; w++) CALL; \
    static double ts[1000000]; int k = 0; double total = 0; \
    while ((total < 0.5 || k < 5) && k < 1000000) { double t0 = now(); CALL; ts[k] = now() - t0; total += ts[k++]; } \
    qsort(ts, k, sizeof(double), cmp); \
    printf("%.9g %.9g %d\n", ts[k / 2], ts[0], k); } while (0)
"""

GRADC_DRIVER = TIMING + r"""
#include "model.h"
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    double *x = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double)), f;
    for (long i = 0; i < n; i++) x[i] = 0.5 + 0.25 * ((i * 7919) % 13) / 13.0;
    void *ws = malloc(rosenbrock_WORKSPACE_BYTES + 1);
    const void *in[1] = {x}; void *out[2] = {&f, g};
    MEASURE(rosenbrock(in, out, ws));
    double s = 0; for (long i = 0; i < n; i++) s += g[i] * (1 + i % 5);
    printf("%.17g %.17g\n", f, s);
    return 0;
}
"""

CASADI_DRIVER = TIMING + r"""
#include "rb_casadi.h"
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    double *x = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double)), f;
    for (long i = 0; i < n; i++) x[i] = 0.5 + 0.25 * ((i * 7919) % 13) / 13.0;
    casadi_int sz_arg, sz_res, sz_iw, sz_w;
    F_work(&sz_arg, &sz_res, &sz_iw, &sz_w);
    const casadi_real **arg = malloc((sz_arg + 1) * sizeof(void *));
    casadi_real **res = malloc((sz_res + 2) * sizeof(void *));
    casadi_int *iw = malloc((sz_iw + 1) * sizeof(casadi_int));
    casadi_real *w = malloc((sz_w + 1) * sizeof(casadi_real));
    arg[0] = x; res[0] = &f; res[1] = g;
    MEASURE(F(arg, res, iw, w, 0));
    double s = 0; for (long i = 0; i < n; i++) s += g[i] * (1 + i % 5);
    printf("%.17g %.17g\n", f, s);
    return 0;
}
"""


def run(args, **kw):
    t = time.perf_counter()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args[:4])}…\n{p.stderr[-2000:]}")
    return time.perf_counter() - t, p.stdout


def main():
    from rosenbrock_vector import model, python
    argv = sys.argv[1:]
    gradc = os.path.join(ROOT, ".build", "release", "gradc")
    if "--gradc" in argv:
        i = argv.index("--gradc")
        gradc = argv[i + 1]
        del argv[i:i + 2]
    sizes = [int(a) for a in argv] or [10000, 100000]
    py = python()
    print(f"value + gradient as generated C, cc {' '.join(CFLAGS)}, one call at a time (median / min)")
    print("| N | gradc C call | CasADi C call | gradc ÷ CasADi (median) | gradc compile + cc | CasADi generate + cc | C bytes gradc / CasADi |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            with open(f"{d}/r.ir", "w") as fh:
                fh.write(model(n))
            print(f"N={n}: gradc compile", file=sys.stderr, flush=True)
            t_g, _ = run([gradc, "compile", f"{d}/r.ir", "--backend", "c", "-o", f"{d}/g"])
            with open(f"{d}/g/driver.c", "w") as fh:
                fh.write(GRADC_DRIVER)
            t_gcc, _ = run(["cc", *CFLAGS, "-I", f"{d}/g", f"{d}/g/driver.c", f"{d}/g/model.c", "-lm", "-o", f"{d}/g/run"])
            print(f"N={n}: casadi generate", file=sys.stderr, flush=True)
            t_c, _ = run([py, "-c", CASADI, str(n), d], cwd=d)
            with open(f"{d}/driver_casadi.c", "w") as fh:
                fh.write(CASADI_DRIVER)
            t_ccc, _ = run(["cc", *CFLAGS, "-I", d, f"{d}/driver_casadi.c", f"{d}/rb_casadi.c", "-lm", "-o", f"{d}/c_run"])
            print(f"N={n}: timing", file=sys.stderr, flush=True)
            _, g_out = run([f"{d}/g/run", str(n)])
            _, c_out = run([f"{d}/c_run", str(n)])
            (gm, gmin, _), (gf, gs) = [l.split() for l in g_out.split("\n")[:2]]
            (cm, cmin, _), (cf, cs) = [l.split() for l in c_out.split("\n")[:2]]
            for a, b in ((gf, cf), (gs, cs)):
                assert abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b))), (a, b)
            size_g = os.path.getsize(f"{d}/g/model.c")
            size_c = os.path.getsize(f"{d}/rb_casadi.c")
            print(f"| {n} | {float(gm) * 1e6:.1f} / {float(gmin) * 1e6:.1f} µs | {float(cm) * 1e6:.1f} / {float(cmin) * 1e6:.1f} µs | "
                  f"{float(gm) / float(cm):.2f} | {t_g:.2f} + {t_gcc:.2f} s | {t_c:.2f} + {t_ccc:.2f} s | "
                  f"{size_g / 1e6:.2f} / {size_c / 1e6:.2f} MB |", flush=True)


if __name__ == "__main__":
    main()
