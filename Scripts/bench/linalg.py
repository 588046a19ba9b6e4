#!/usr/bin/env python3
"""logdet + gradient of an N×N SPD matrix and solve + gradient (N×N, K right-hand sides),
f64 (issue 17): gradc (the VM and the C backend, `GradBench linalg`) against JAX (jit of
value_and_grad; LAPACK underneath) in the same run, with ratios. Times are the best of 5
batches of 3 calls, in milliseconds.

  Scripts/bench/linalg.py [--python PY] [N [K]]      (default 256 64)
Build first: swift build -c release --product GradBench. JAX comes from PyPI into the venv
.build/linalg-venv, made on first use (or pass --python of an interpreter that has jax)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".build", "linalg-venv")

JAX = r"""
import sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
n, k = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
x = rng.uniform(-1, 1, (n, n))
a = jnp.asarray(x @ x.T / n + np.eye(n))
b = jnp.asarray(rng.uniform(-1, 1, (n, k)))
w = jnp.asarray(rng.uniform(-1, 1, (n, k)))

def logdet(a):  # via Cholesky, as gradc's logdet
    return 2 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(a))))

def solve(a, b):
    return jnp.sum(jnp.linalg.solve(a, b) * w)

def best(f, *args):
    jax.block_until_ready(f(*args))
    t = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(3):
            jax.block_until_ready(f(*args))
        t = min(t, (time.perf_counter() - t0) / 3 * 1e3)
    return t

print("logdet", best(jax.jit(jax.value_and_grad(logdet)), a))
print("solve", best(jax.jit(jax.value_and_grad(solve, argnums=(0, 1))), a, b))
"""


def python(argv):
    if "--python" in argv:
        i = argv.index("--python")
        py = argv[i + 1]
        del argv[i:i + 2]
        return py
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import jax"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "jax"], check=True)
    return py


def main():
    argv = sys.argv[1:]
    py = python(argv)
    sizes = [int(a) for a in argv] or [256, 64]
    n, k = sizes[0], sizes[1] if len(sizes) > 1 else 64
    bench = os.path.join(ROOT, ".build", "release", "GradBench")
    ours = subprocess.run([bench, "linalg", str(n), str(k)], check=True, capture_output=True, text=True).stdout
    peer = subprocess.run([py, "-c", JAX, str(n), str(k)], check=True, capture_output=True, text=True).stdout
    times = {}
    for line in ours.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] == "ms":
            times[(parts[0], parts[1])] = float(parts[2])
    jax_times = {l.split()[0]: float(l.split()[1]) for l in peer.splitlines() if len(l.split()) == 2}
    print(f"f64, N = {n}, K = {k}; best of 5 batches of 3 calls (ms)\n")
    print("| workload | gradc VM | gradc C | JAX (jit) | VM ÷ JAX | C ÷ JAX |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in [("logdet", f"logdet + gradient, {n}×{n} SPD"), ("solve", f"solve + gradient, {n}×{n}, {k} right-hand sides")]:
        vm, c, j = times.get((name, "bytecode")), times.get((name, "c")), jax_times.get(name)
        fmt = lambda v: f"{v:.2f}" if v is not None else "—"
        ratio = lambda v: f"{v / j:.2f}" if v is not None and j else "—"
        print(f"| {label} | {fmt(vm)} | {fmt(c)} | {fmt(j)} | {ratio(vm)} | {ratio(c)} |")


if __name__ == "__main__":
    main()
