#!/usr/bin/env python3
"""NumPy peer: hand-written forward + backward (lecture formulas). Also the reference
values for the agreement check. System name: numpy."""
import numpy as np

from common import emit, load_inputs, peer_args, time_fn, write_outputs, mlp_loss_numpy

SYSTEM = "numpy"


def mlp_value_and_grad(X, Y, W1, b1, W2, b2):
    B = X.shape[0]
    Z1 = X @ W1 + b1
    H = np.maximum(Z1, 0)
    Z2 = H @ W2 + b2
    m = Z2.max(axis=1, keepdims=True)
    E = np.exp(Z2 - m)
    S = E.sum(axis=1, keepdims=True)
    lse = np.log(S) + m
    loss = np.mean(lse[:, 0] - (Y * Z2).sum(axis=1))
    P = E / S
    dZ2 = (P - Y) / X.dtype.type(B)      # rows of Y sum to 1
    dW2 = H.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dH = dZ2 @ W2.T
    dZ1 = dH * (Z1 > 0)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    return [np.asarray(loss, dtype=X.dtype), dW1, db1, dW2, db2]


def rosen_value(x):
    a = x[1:] - x[:-1] ** 2
    return np.sum(100.0 * a ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_value_and_grad(x):
    xm = x[:-1]
    a = x[1:] - xm ** 2
    f = np.sum(100.0 * a ** 2 + (1.0 - xm) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * xm * a - 2.0 * (1.0 - xm)
    g[1:] += 200.0 * a
    return [np.asarray(f), g]


def arm_value(q):
    n = q.shape[0]
    th = np.cumsum(q)
    return (np.cos(th).sum() - n / 2) ** 2 + (np.sin(th).sum() - n / 4) ** 2 + np.sum(np.sin(q) ** 2 * q)


def arm_value_and_grad(q):
    n = q.shape[0]
    th = np.cumsum(q)
    c, s = np.cos(th), np.sin(th)
    C = c.sum() - n / 2
    S = s.sum() - n / 4
    sq = np.sin(q)
    f = C ** 2 + S ** 2 + np.sum(sq ** 2 * q)
    dth = -2.0 * C * s + 2.0 * S * c
    g = np.cumsum(dth[::-1])[::-1] + 2.0 * sq * np.cos(q) * q + sq ** 2
    return [np.asarray(f), g]


IMPL = {
    "mlp-small": (mlp_value_and_grad, mlp_loss_numpy),
    "mlp-large": (mlp_value_and_grad, mlp_loss_numpy),
    "rosenbrock": (rosen_value_and_grad, rosen_value),
    "arm": (arm_value_and_grad, arm_value),
}


def main():
    a = peer_args(__doc__)
    from common import WORKLOADS
    for w in a.only:
        if w not in IMPL:
            continue
        vg, fwd = IMPL[w]
        for dt in WORKLOADS[w]["dtypes"]:
            inp = load_inputs(a.data, w, dt)
            outs = vg(*inp)
            rec = {"workload": w, "system": SYSTEM, "dtype": dt}
            rec.update(time_fn(lambda: vg(*inp), a.quick))
            rec["forward_median_s"] = time_fn(lambda: fwd(*inp), a.quick)["median_s"]
            rec.update(write_outputs(a.out, SYSTEM, w, dt, outs))
            emit(rec)


if __name__ == "__main__":
    main()
