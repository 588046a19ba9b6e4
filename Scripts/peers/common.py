"""Shared helpers for the peer benchmarks: workload table, .npy I/O, timing, JSON lines."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_DATA = REPO / "out" / "bench-data"
DEFAULT_RESULTS = REPO / "out" / "bench-results"

# name -> dtypes, ordered input names, ordered output names (output k = OUTPUTS[k])
WORKLOADS = {
    "mlp-small": dict(dtypes=["f64", "f32"], inputs=["X", "Y", "W1", "b1", "W2", "b2"],
                      outputs=["loss", "dW1", "db1", "dW2", "db2"]),
    "mlp-large": dict(dtypes=["f64", "f32"], inputs=["X", "Y", "W1", "b1", "W2", "b2"],
                      outputs=["loss", "dW1", "db1", "dW2", "db2"]),
    "rosenbrock": dict(dtypes=["f64"], inputs=["x"], outputs=["f", "dx"]),
    "arm": dict(dtypes=["f64"], inputs=["q"], outputs=["f", "dq"]),
}
NP_DTYPE = {"f64": np.float64, "f32": np.float32}

# OpenBLAS is what setup.sh installs; PyTensor does not detect it by itself.
PYTENSOR_BASE_FLAGS = "blas__ldflags=-lopenblas"


def data_path(data_dir, workload, dtype, name) -> Path:
    return Path(data_dir) / f"{workload}_{dtype}_{name}.npy"


def load_inputs(data_dir, workload, dtype):
    """Ordered list of input arrays (as in WORKLOADS[workload]['inputs'])."""
    return [np.load(data_path(data_dir, workload, dtype, n)) for n in WORKLOADS[workload]["inputs"]]


def result_path(results_dir, system, workload, dtype, k) -> Path:
    return Path(results_dir) / system / f"{workload}_{dtype}_{k}.npy"


def write_outputs(results_dir, system, workload, dtype, arrays):
    """Write output k (0 = value, 1.. = gradients in input order) as .npy; return record fields."""
    want = NP_DTYPE[dtype]
    files = []
    for k, a in enumerate(arrays):
        p = result_path(results_dir, system, workload, dtype, k)
        p.parent.mkdir(parents=True, exist_ok=True)
        a = np.ascontiguousarray(np.asarray(a, dtype=want)).astype(np.dtype(want).newbyteorder("<"), copy=False)
        np.save(p, a, allow_pickle=False)
        files.append(str(p))
    return {
        "outputs": str(result_path(results_dir, system, workload, dtype, "{k}")),
        "output_files": files,
        "output_names": WORKLOADS[workload]["outputs"][: len(arrays)],
    }


def time_fn(fn, quick=False, min_total=None, warmup=None, min_runs=5, max_runs=100000):
    """Warm up, then call fn repeatedly (each call timed with perf_counter) until the
    measured total reaches min_total seconds (0.5 s normal, 0.05 s quick) and at
    least min_runs calls were made. fn must block until its result is ready."""
    if min_total is None:
        min_total = 0.05 if quick else 0.5
    if warmup is None:
        warmup = 2 if quick else 5
    for _ in range(warmup):
        fn()
    times = []
    total = 0.0
    while (total < min_total or len(times) < min_runs) and len(times) < max_runs:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}


def emit(rec):
    print(json.dumps(rec), flush=True)


def peer_args(description, extra=None):
    ap = argparse.ArgumentParser(description=description)
    if extra:
        extra(ap)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(DEFAULT_RESULTS))
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    a.only = [w for w in a.only.split(",") if w]
    return a


def warn(msg):
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


def mlp_loss_numpy(X, Y, W1, b1, W2, b2):
    """Reference forward: mean softmax cross-entropy of relu(X W1 + b1) W2 + b2."""
    H = np.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    m = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - m).sum(axis=1)) + m[:, 0]
    return np.mean(lse - (Y * Z).sum(axis=1))
