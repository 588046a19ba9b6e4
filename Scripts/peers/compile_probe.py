#!/usr/bin/env python3
"""Time 'model definition -> first result' for mlp-small f64 in a FRESH process.
Usage: compile_probe.py {pytensor|jax|casadi} DATA_DIR WORKDIR
Prints one JSON line: {"first_result_s": ..., "import_s": ..., ...}. Imports are timed
separately and NOT included in first_result_s. For pytensor set the compiledir via
PYTENSOR_FLAGS in the environment (the caller does)."""
import json
import os
import sys
import time

system, data, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
W = "mlp-small"

t0 = time.perf_counter()
if system == "pytensor":
    import peer_pytensor as peer
elif system == "jax":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import peer_jax as peer
    import jax
elif system == "casadi":
    import casadi as ca
    import peer_casadi as peer
else:
    raise SystemExit(f"unknown system {system}")
from common import load_inputs  # noqa: E402

inp = load_inputs(data, W, "f64")
t1 = time.perf_counter()
extra = {}
if system == "pytensor":
    vg, _ = peer.build(W, "f64", "CVM", forward=False)
    out = vg(*inp)
elif system == "jax":
    vg, _ = peer.build(W)
    out = jax.block_until_ready(vg(*inp))
else:
    F, _ = peer.build_function(W, inp)
    so, gen_s, cc_s = peer.codegen_compile(F, workdir)
    ext = ca.external(F.name(), str(so))
    out = ext(*inp)
    extra = {"gen_s": gen_s, "cc_s": cc_s}
t2 = time.perf_counter()
print(json.dumps({"first_result_s": t2 - t1, "import_s": t1 - t0, **extra}), flush=True)
