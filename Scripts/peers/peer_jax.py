#!/usr/bin/env python3
"""JAX peer: jax.jit(jax.value_and_grad(f)), CPU only, x64 enabled (f32 inputs stay f32).
Timed calls end in block_until_ready. System name: jax."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from common import WORKLOADS, emit, load_inputs, peer_args, time_fn, write_outputs  # noqa: E402

SYSTEM = "jax"


def mlp_loss(W1, b1, W2, b2, X, Y):
    H = jnp.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    m = jax.lax.stop_gradient(Z.max(axis=1, keepdims=True))
    lse = jnp.log(jnp.exp(Z - m).sum(axis=1)) + m[:, 0]
    return jnp.mean(lse - (Y * Z).sum(axis=1))


def rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def arm(q):
    n = q.shape[0]
    th = jnp.cumsum(q)
    return (jnp.sum(jnp.cos(th)) - n / 2) ** 2 + (jnp.sum(jnp.sin(th)) - n / 4) ** 2 + jnp.sum(jnp.sin(q) ** 2 * q)


def build(workload):
    """-> (value_and_grad(inputs) -> list, forward(inputs) -> scalar), both jitted."""
    if workload.startswith("mlp"):
        vg = jax.jit(jax.value_and_grad(mlp_loss, argnums=(0, 1, 2, 3)))
        fw = jax.jit(mlp_loss)

        def run_vg(X, Y, W1, b1, W2, b2):
            return vg(W1, b1, W2, b2, X, Y)

        def run_fw(X, Y, W1, b1, W2, b2):
            return fw(W1, b1, W2, b2, X, Y)
        return run_vg, run_fw
    f = {"rosenbrock": rosen, "arm": arm}[workload]
    return jax.jit(jax.value_and_grad(f)), jax.jit(f)


def flatten(res):
    v, g = res
    g = list(g) if isinstance(g, (tuple, list)) else [g]
    return [np.asarray(v)] + [np.asarray(x) for x in g]


def main():
    a = peer_args(__doc__)
    for w in a.only:
        if w not in WORKLOADS:
            continue
        vg, fw = build(w)
        for dt in WORKLOADS[w]["dtypes"]:
            inp = [jax.device_put(x) for x in load_inputs(a.data, w, dt)]
            outs = flatten(vg(*inp))
            rec = {"workload": w, "system": SYSTEM, "dtype": dt}
            rec.update(time_fn(lambda: jax.block_until_ready(vg(*inp)), a.quick))
            rec["forward_median_s"] = time_fn(lambda: jax.block_until_ready(fw(*inp)), a.quick)["median_s"]
            rec.update(write_outputs(a.out, SYSTEM, w, dt, outs))
            emit(rec)


if __name__ == "__main__":
    main()
