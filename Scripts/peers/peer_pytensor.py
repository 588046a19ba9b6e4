#!/usr/bin/env python3
"""PyTensor peer: pytensor.function(..., mode="CVM") = C implementations of the ops run
by the C VM loop with the fast_run rewrites (the classic C backend; PyTensor 3 itself
defaults to Numba). BLAS: Debian OpenBLAS via PYTENSOR_FLAGS blas__ldflags=-lopenblas.
System name: pytensor.  With --numba also system pytensor-numba (mode="NUMBA")."""
import os

from common import PYTENSOR_BASE_FLAGS

if "blas__ldflags" not in os.environ.get("PYTENSOR_FLAGS", ""):
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS", ""), PYTENSOR_BASE_FLAGS) if f)

import numpy as np  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from common import WORKLOADS, emit, load_inputs, peer_args, time_fn, write_outputs  # noqa: E402

PT_DTYPE = {"f64": "float64", "f32": "float32"}


def mlp_graph(dtype):
    d = PT_DTYPE[dtype]
    X, Y, W1, W2 = (pt.matrix(n, dtype=d) for n in ("X", "Y", "W1", "W2"))
    b1, b2 = (pt.vector(n, dtype=d) for n in ("b1", "b2"))
    H = pt.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    m = pytensor.gradient.disconnected_grad(Z.max(axis=1, keepdims=True))
    lse = pt.log(pt.exp(Z - m).sum(axis=1)) + m[:, 0]
    loss = pt.mean(lse - (Y * Z).sum(axis=1))
    return [X, Y, W1, b1, W2, b2], loss, [W1, b1, W2, b2]


def rosen_graph(dtype):
    x = pt.vector("x", dtype=PT_DTYPE[dtype])
    f = pt.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return [x], f, [x]


def arm_graph(dtype, n=200):
    q = pt.vector("q", dtype=PT_DTYPE[dtype])
    th = pt.cumsum(q)
    f = (pt.sum(pt.cos(th)) - n / 2) ** 2 + (pt.sum(pt.sin(th)) - n / 4) ** 2 + pt.sum(pt.sin(q) ** 2 * q)
    return [q], f, [q]


GRAPHS = {"mlp-small": mlp_graph, "mlp-large": mlp_graph, "rosenbrock": rosen_graph, "arm": arm_graph}


def build(workload, dtype, mode="CVM", forward=True):
    ins, f, wrt = GRAPHS[workload](dtype)
    grads = pytensor.grad(f, wrt)
    vg = pytensor.function(ins, [f] + grads, mode=mode)
    fw = pytensor.function(ins, f, mode=mode) if forward else None
    return vg, fw


def main():
    a = peer_args(__doc__, lambda ap: ap.add_argument("--numba", action="store_true"))
    modes = [("pytensor", "CVM")]
    if a.numba:
        modes.append(("pytensor-numba", "NUMBA"))
    for w in a.only:
        if w not in GRAPHS:
            continue
        for dt in WORKLOADS[w]["dtypes"]:
            inp = load_inputs(a.data, w, dt)
            for system, mode in modes:
                vg, fw = build(w, dt, mode)
                outs = [np.asarray(o) for o in vg(*inp)]
                rec = {"workload": w, "system": system, "dtype": dt}
                rec.update(time_fn(lambda: vg(*inp), a.quick))
                rec["forward_median_s"] = time_fn(lambda: fw(*inp), a.quick)["median_s"]
                rec.update(write_outputs(a.out, system, w, dt, outs))
                emit(rec)


if __name__ == "__main__":
    main()
