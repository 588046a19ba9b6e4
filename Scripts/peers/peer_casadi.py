#!/usr/bin/env python3
"""CasADi peer (f64 only; casadi_real is double).
  casadi_vm : SX graph -> casadi.Function, evaluated by CasADi's SX virtual machine
              (called from Python: F(numpy) incl. numpy->DM->numpy conversion).
  casadi_c  : the same Function via Function.generate -> gcc -O3 -shared -fPIC ->
              called through ctypes on preallocated buffers (values cross-checked
              with casadi.external). Record has gen_s (codegen) and cc_s (gcc).
Also: --scale N  (element-by-element Rosenbrock SX graph; prints one JSON line with
the time of gradient + Function construction; memory is measured by the caller)."""
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import casadi as ca
import numpy as np

from common import REPO, WORKLOADS, emit, load_inputs, peer_args, time_fn, write_outputs

CC = os.environ.get("CC", "gcc")
# --quick skips the generated-C rows whose gcc -O3 alone takes seconds (casadi_vm still runs).
QUICK_SKIP_C = {"mlp-small": "~5 s", "rosenbrock": "40-55 s"}


# ---------------------------------------------------------------- graphs
def mlp_graph(B, D, H, C, S=ca.MX):
    # MX (matrix-valued) graph: an SX graph of mlp-small is ~10^5 scalar nodes and its
    # generated C takes gcc -O3 far too long (rosenbrock N=1000 as SX already ~45 s).
    X, Y = S.sym("X", B, D), S.sym("Y", B, C)
    W1, b1 = S.sym("W1", D, H), S.sym("b1", H)
    W2, b2 = S.sym("W2", H, C), S.sym("b2", C)
    Hh = ca.fmax(ca.mtimes(X, W1) + ca.repmat(b1.T, B, 1), 0)
    Z = ca.mtimes(Hh, W2) + ca.repmat(b2.T, B, 1)
    # log-sum-exp without max shift (logits are O(1) here; same value to rounding)
    lse = ca.log(ca.sum2(ca.exp(Z)))
    loss = ca.sum1(lse - ca.sum2(Y * Z)) / B
    return [X, Y, W1, b1, W2, b2], loss, [W1, b1, W2, b2]


def rosen_graph(n):
    x = ca.SX.sym("x", n)
    f = ca.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return [x], f, [x]


def arm_graph(n):
    q = ca.SX.sym("q", n)
    th = 0
    cs = 0
    sn = 0
    extra = 0
    qs = ca.vertsplit(q, 1)
    for i in range(n):           # theta built element by element (scalar SX graph)
        th = th + qs[i]
        cs = cs + ca.cos(th)
        sn = sn + ca.sin(th)
        extra = extra + ca.sin(qs[i]) ** 2 * qs[i]
    f = (cs - n / 2) ** 2 + (sn - n / 4) ** 2 + extra
    return [q], f, [q]


def rosen_scalar_graph(n):
    x = ca.SX.sym("x", n)
    xs = ca.vertsplit(x, 1)      # scalar elements (fast; x[i] per element is slow in Python)
    f = 0
    for i in range(n - 1):
        f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return x, f


def graph_for(workload, inputs):
    if workload.startswith("mlp"):
        X, Y, W1, b1, W2, b2 = inputs
        return mlp_graph(X.shape[0], X.shape[1], W1.shape[1], W2.shape[1])
    if workload == "rosenbrock":
        return rosen_graph(inputs[0].shape[0])
    if workload == "arm":
        return arm_graph(inputs[0].shape[0])
    raise KeyError(workload)


def build_function(workload, inputs):
    ins, f, wrt = graph_for(workload, inputs)
    grads = [ca.reshape(ca.gradient(f, w), w.shape[0], w.shape[1]) for w in wrt]
    F = ca.Function("vg_" + workload.replace("-", "_"), ins, [f] + grads)
    Ff = ca.Function("fw_" + workload.replace("-", "_"), ins, [f])
    return F, Ff


# ---------------------------------------------------------------- codegen + cc
def codegen_compile(F, workdir):
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    name = F.name()
    t0 = time.perf_counter()
    cg = ca.CodeGenerator(name + ".c", {"casadi_int": "long long int"})
    cg.add(F)
    cg.generate(str(workdir) + "/")
    t1 = time.perf_counter()
    so = workdir / (name + ".so")
    subprocess.run([CC, "-O3", "-shared", "-fPIC", str(workdir / (name + ".c")), "-o", str(so), "-lm"], check=True)
    t2 = time.perf_counter()
    return so, t1 - t0, t2 - t1


class CFunc:
    """Call a CasADi-generated C function through ctypes on preallocated buffers."""

    def __init__(self, so, F):
        self.lib = ctypes.CDLL(str(so))
        name = F.name()
        LL = ctypes.c_longlong
        work = getattr(self.lib, name + "_work")
        work.argtypes = [ctypes.POINTER(LL)] * 4
        sz = [LL() for _ in range(4)]
        work(*[ctypes.byref(s) for s in sz])
        n_arg, n_res, n_iw, n_w = (s.value for s in sz)
        self.f = getattr(self.lib, name)
        self.f.restype = ctypes.c_int
        self.f.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int]
        self.outs = [np.zeros(F.size_out(i), order="F") for i in range(F.n_out())]
        self.arg = (ctypes.c_void_p * max(n_arg, 1))()
        self.res = (ctypes.c_void_p * max(n_res, 1))()
        for i, o in enumerate(self.outs):
            self.res[i] = o.ctypes.data
        self.iw = (LL * max(n_iw, 1))()
        self.w = (ctypes.c_double * max(n_w, 1))()
        self.keep = []

    def set_inputs(self, arrays):
        # CasADi is column-major: pass Fortran-ordered copies
        self.keep = [np.asfortranarray(a, dtype=np.float64) for a in arrays]
        for i, a in enumerate(self.keep):
            self.arg[i] = a.ctypes.data

    def __call__(self):
        if self.f(self.arg, self.res, self.iw, self.w, 0) != 0:
            raise RuntimeError("generated function failed")
        return self.outs


def to_np(dm, shape):
    a = np.array(dm, dtype=np.float64)
    return a.reshape(shape) if shape else a.reshape(())


def run_workloads(a):
    for w in a.only:
        if w not in ("mlp-small", "rosenbrock", "arm"):
            continue
        dt = "f64"
        inp = load_inputs(a.data, w, dt)
        shapes = [()] + [inp[WORKLOADS[w]["inputs"].index(n[1:])].shape for n in WORKLOADS[w]["outputs"][1:]]
        t0 = time.perf_counter()
        F, Ff = build_function(w, inp)
        build_s = time.perf_counter() - t0
        # --- VM
        outs = [to_np(o, s) for o, s in zip(F(*inp), shapes)]
        rec = {"workload": w, "system": "casadi_vm", "dtype": dt, "graph": "MX" if w.startswith("mlp") else "SX"}
        rec.update(time_fn(lambda: F(*inp), a.quick))
        rec["forward_median_s"] = time_fn(lambda: Ff(*inp), a.quick)["median_s"]
        rec["build_s"] = build_s
        rec.update(write_outputs(a.out, "casadi_vm", w, dt, outs))
        emit(rec)
        # --- generated C
        if a.quick and w in QUICK_SKIP_C:
            emit({"workload": w, "system": "casadi_c", "dtype": dt,
                  "skipped": f"skipped in --quick (codegen + gcc -O3 takes {QUICK_SKIP_C[w]})"})
            continue
        so, gen_s, cc_s = codegen_compile(F, Path(a.out) / "casadi_c" / "build")
        ext = ca.external(F.name(), str(so))
        ext_outs = [to_np(o, s) for o, s in zip(ext(*inp), shapes)]
        cf = CFunc(so, F)
        cf.set_inputs(inp)
        outs = [np.array(o).reshape(s) for o, s in zip(cf(), shapes)]
        for e, o in zip(ext_outs, outs):
            assert np.array_equal(e, o), "ctypes and casadi.external disagree"
        rec = {"workload": w, "system": "casadi_c", "dtype": dt, "graph": "MX" if w.startswith("mlp") else "SX"}
        rec.update(time_fn(cf, a.quick))
        rec["external_median_s"] = time_fn(lambda: ext(*inp), a.quick)["median_s"]
        rec["gen_s"], rec["cc_s"] = gen_s, cc_s
        rec.update(write_outputs(a.out, "casadi_c", w, dt, outs))
        emit(rec)


def scale(n):
    t0 = time.perf_counter()
    x, f = rosen_scalar_graph(n)
    t1 = time.perf_counter()
    g = ca.gradient(f, x)
    F = ca.Function("rosen_scale", [x], [f, g])
    t2 = time.perf_counter()
    xv = np.full(n, 0.5)
    r = F(xv)
    t3 = time.perf_counter()
    print(json.dumps({"n": n, "graph_s": t1 - t0, "grad_function_s": t2 - t1,
                      "first_eval_s": t3 - t2, "f": float(r[0])}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--scale":
        scale(int(sys.argv[2]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "--idle":
        pass  # baseline process for memory: just the casadi import
    else:
        run_workloads(peer_args(__doc__))
