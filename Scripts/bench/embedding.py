#!/usr/bin/env python3
"""Embedding lookup + gradient (issue 16): vocabulary 50 000 x 128, batch 256 x 64 token ids,
f32. The same function for every system (Scripts/bench/models/embedding_f32.ir):

    p = mean(E[ids], axis=1); z = p @ W; f = 0.5 * sum(z * z); value and gradient wrt E and W

gradc's bytecode VM and C backend run in `GradBench harness --only embedding` (the peers'
protocol: warm-up, then calls timed one at a time until >= 0.5 s; the C backend through the
raw ABI on preallocated buffers, the VM on its arena); JAX (`jit(value_and_grad)`) and
PyTorch CPU (eager, `backward()` into a fresh dense gradient) with the same protocol, in the
same run, on the same arrays. Every gradient is checked against gradc's VM output.

  Scripts/bench/embedding.py [--quick] [--gradbench PATH]
Build first: swift build -c release --product GradBench. JAX and PyTorch come from PyPI into
the venv .build/embed-venv, made on first use."""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".build", "embed-venv")
V, D, B, L, K = 50_000, 128, 256, 64, 16

PEERS = r"""
import json, sys, time
import numpy as np
data, quick = sys.argv[1], sys.argv[2] == "1"
E = np.load(f"{data}/embedding_f32_E.npy"); W = np.load(f"{data}/embedding_f32_W.npy")
ids = np.load(f"{data}/embedding_f32_ids.npy")

def measure(fn):
    min_total, warmup = (0.05, 2) if quick else (0.5, 5)
    for _ in range(warmup):
        fn()
    times = []
    while sum(times) < min_total or len(times) < 5:
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    times.sort()
    return float(np.median(times)), times[0], len(times)

import jax, jax.numpy as jnp
def f(E, W, ids):
    z = jnp.mean(E[ids], axis=1) @ W
    return 0.5 * jnp.sum(z * z)
vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
jE, jW, jids = jnp.asarray(E), jnp.asarray(W), jnp.asarray(ids)
out = vg(jE, jW, jids); jax.block_until_ready(out)
med, mn, runs = measure(lambda: jax.block_until_ready(vg(jE, jW, jids)))
np.save(f"{data}/jax_dE.npy", np.asarray(out[1][0])); np.save(f"{data}/jax_dW.npy", np.asarray(out[1][1]))
print(json.dumps({"system": "jax-jit", "median_s": med, "min_s": mn, "runs": runs, "value": float(out[0]),
                  "version": jax.__version__, "devices": str(jax.devices())}), flush=True)

import torch
tE = torch.from_numpy(E).requires_grad_(True); tW = torch.from_numpy(W).requires_grad_(True)
tids = torch.from_numpy(ids)
def step():
    tE.grad = None; tW.grad = None
    z = torch.nn.functional.embedding(tids, tE).mean(dim=1) @ tW
    loss = 0.5 * (z * z).sum()
    loss.backward()
    return loss
loss = step()
med, mn, runs = measure(step)
np.save(f"{data}/torch_dE.npy", tE.grad.numpy()); np.save(f"{data}/torch_dW.npy", tW.grad.numpy())
print(json.dumps({"system": "pytorch-cpu", "median_s": med, "min_s": mn, "runs": runs, "value": float(loss.detach()),
                  "version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
"""


def python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import numpy, jax, torch"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "jax", "torch"], check=True)
    return py


def main():
    argv = sys.argv[1:]
    quick = "--quick" in argv
    gradbench = os.path.join(ROOT, ".build", "release", "GradBench")
    if "--gradbench" in argv:
        gradbench = argv[argv.index("--gradbench") + 1]
    py = python()
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([py, "-c", f"""
import numpy as np
r = np.random.default_rng(16)
np.save("{d}/embedding_f32_E.npy", (0.1 * r.standard_normal(({V}, {D}))).astype(np.float32))
np.save("{d}/embedding_f32_W.npy", (0.1 * r.standard_normal(({D}, {K}))).astype(np.float32))
np.save("{d}/embedding_f32_ids.npy", r.integers(0, {V}, size=({B}, {L})).astype(np.int64))
"""], check=True)
        rows = []
        p = subprocess.run([gradbench, "harness", "--data", d, "--out", f"{d}/res", "--only", "embedding",
                            "--backends", "bytecode,c", "--models", os.path.join(ROOT, "Scripts", "bench", "models")]
                           + (["--quick"] if quick else []), stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if p.returncode != 0:
            sys.exit("GradBench harness failed")
        rows += [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        p = subprocess.run([py, "-c", PEERS, d, "1" if quick else "0"], stdout=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit("peers failed")
        rows += [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        # Agreement: every gradient against gradc's VM (f32; sums of 64 rows in different orders).
        check = subprocess.run([py, "-c", f"""
import numpy as np, sys
d = "{d}"
ref = [np.load(f"{{d}}/res/gradc-vm/embedding_f32_{{k}}.npy") for k in (1, 2)]
for name, files in [("gradc-c", [f"{{d}}/res/gradc-c/embedding_f32_{{k}}.npy" for k in (1, 2)]),
                    ("jax-jit", [f"{{d}}/jax_dE.npy", f"{{d}}/jax_dW.npy"]),
                    ("pytorch-cpu", [f"{{d}}/torch_dE.npy", f"{{d}}/torch_dW.npy"])]:
    errs = [float(np.max(np.abs(np.load(f) - r)) / max(float(np.max(np.abs(r))), 1e-30)) for f, r in zip(files, ref)]
    print(name, max(errs))
"""], stdout=subprocess.PIPE, text=True, check=True)
        agree = {line.split()[0]: float(line.split()[1]) for line in check.stdout.splitlines()}
    by = {r["system"]: r for r in rows}
    ours = [s for s in ("gradc-c", "gradc-vm") if s in by]
    peers = [s for s in ("jax-jit", "pytorch-cpu") if s in by]
    print(f"embedding lookup + gradient: V={V} D={D}, ids {B}x{L}, f32; value and gradient wrt E and W")
    print("| system | median | min | runs | max rel. diff vs gradc-vm (dE, dW) | "
          + " | ".join(f"median ÷ {p}" for p in peers) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(peers))
    for s in ours + peers:
        r = by[s]
        ratios = " | ".join(f"{r['median_s'] / by[p]['median_s']:.2f}" for p in peers)
        diff = "—" if s == "gradc-vm" else f"{agree.get(s, float('nan')):.1e}"
        print(f"| {s} | {r['median_s'] * 1e3:.2f} ms | {r['min_s'] * 1e3:.2f} ms | {r['runs']} | {diff} | {ratios} |")
    notes = [f"{s}: {by[s].get('version', '')} {by[s].get('devices', '')}{' threads=' + str(by[s]['threads']) if 'threads' in by[s] else ''}" for s in peers]
    print("; ".join(notes))


main()
