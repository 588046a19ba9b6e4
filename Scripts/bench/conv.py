#!/usr/bin/env python3
"""conv2d forward + backward (issue 17): f32, batch 64, 3 -> 32 channels, 32x32 images, 3x3
kernels, padding 1; the loss sum(conv2d(x, w) * g) and its gradients in x and w. Prints
gradc's times (GradBench conv: the VM and the C backend, called through the library) and
PyTorch's on the CPU (torch.nn.functional.conv2d + backward, torch's default threads), in
the same run, with ratios.

  Scripts/bench/conv.py [--gradbench PATH] [--threads N]
Build first: swift build -c release --product GradBench. PyTorch comes from PyPI into the
venv .build/conv-venv, made on first use."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".build", "conv-venv")

TORCH = r"""
import sys, time, statistics
import torch
threads = int(sys.argv[1])
if threads > 0:
    torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.rand(64, 3, 32, 32) * 2 - 1
w = torch.rand(32, 3, 3, 3) * 2 - 1
g = torch.rand(64, 32, 32, 32) * 2 - 1
def step():
    xr = x.clone().requires_grad_(True)
    wr = w.clone().requires_grad_(True)
    loss = (torch.nn.functional.conv2d(xr, wr, padding=1) * g).sum()
    loss.backward()
    return xr.grad, wr.grad
for _ in range(3):
    step()
times = []
for _ in range(15):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1e3)
times.sort()
print(torch.__version__, torch.get_num_threads(), times[0], times[len(times) // 2])
"""


def venv_python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import torch"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "torch"], check=True)
    return py


def main():
    args = sys.argv[1:]
    bench = os.path.join(ROOT, ".build", "release", "GradBench")
    threads = 0
    if "--gradbench" in args:
        bench = args[args.index("--gradbench") + 1]
    if "--threads" in args:
        threads = int(args[args.index("--threads") + 1])
    out = subprocess.run([bench, "conv"], capture_output=True, text=True, check=True).stdout
    ours = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "conv":
            ours[parts[1]] = (float(parts[2]), float(parts[3]))
    version, used, best, median = subprocess.run([venv_python(), "-c", TORCH, str(threads)], capture_output=True,
                                                 text=True, check=True).stdout.split()
    torch = (float(best), float(median))
    print(f"conv2d f32 x[64,3,32,32] w[32,3,3,3] padding 1, forward + dx + dw (best / median of 15, ms)")
    print(f"{'system':<22} {'best':>9} {'median':>9} {'median / torch':>15}")
    print(f"{'torch ' + version + ' (' + used + ' thr)':<22} {torch[0]:9.2f} {torch[1]:9.2f} {1.0:15.2f}")
    for name, (b, m) in ours.items():
        print(f"{name:<22} {b:9.2f} {m:9.2f} {m / torch[1]:15.2f}")


if __name__ == "__main__":
    main()
