#!/usr/bin/env python3
"""Data-parallel scaling of Examples/mpi-train (issue 22): measured on this machine with 1
and 2 processes, then modelled for 8, 64 and 512 processes on a 10 Gb/s network.

  Scripts/bench/mpi_scaling.py [--micro M] [--steps S]      (defaults 8 and 400)

Measured (Examples/mpi-train/run.sh builds the program): the same global batch of M
micro-batches of 16 images split over 1 and 2 processes (strong scaling), steps per second,
the slowest process's time in the generated function and in MPI_Allreduce, best of 3 runs.

Modelled (weak scaling: each process keeps M/2 micro-batches, as in the 2-process run, and
the global batch grows with P): a step costs the measured per-process compute plus an
allreduce of the gradient (S bytes: the measured size) by recursive doubling for small
messages, log₂P · (α + S/β), or by Rabenseifner's reduce-scatter + allgather,
2 log₂P · α + 2 (P−1)/P · S/β, whichever is smaller, with α = 25 µs (a TCP message over
10 GbE) and β = 1.25 GB/s (10 Gb/s). Efficiency = compute / (compute + allreduce)."""
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALPHA, BETA = 25e-6, 1.25e9


def run(np_, micro, steps):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np_),
                          os.path.join(ROOT, "out", "mpi-train", "train"),
                          os.path.join(ROOT, "Examples", "data", "digits.csv"),
                          "--micro", str(micro), "--steps", str(steps), "--epochs", "1000"],
                         capture_output=True, text=True, env=env, check=True).stdout
    line = out.strip().splitlines()[-1]
    m = re.search(r"in ([\d.]+) s of training: ([\d.]+) steps/s; slowest process: function ([\d.]+) s, allreduce ([\d.]+) s \((\d+) bytes", line)
    return float(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])


def main():
    args = sys.argv[1:]
    micro = int(args[args.index("--micro") + 1]) if "--micro" in args else 8
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 400
    subprocess.run([os.path.join(ROOT, "Examples", "mpi-train", "run.sh"), "--steps", "1"],
                   check=True, capture_output=True)
    rows = {}
    for p in (1, 2):
        rows[p] = min((run(p, micro, steps) for _ in range(3)), key=lambda r: r[0])
    size = rows[1][4]
    print(f"global batch {micro} × 16 images, {steps} steps, gradient + loss {size} bytes, best of 3 runs")
    print()
    print("| processes | training time | steps/s | function (slowest) | allreduce (slowest) | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for p in (1, 2):
        t, sps, f, r, _ = rows[p]
        print(f"| {p} | {t:.3f} s | {sps:.1f} | {f:.3f} s | {r:.3f} s | {rows[1][0] / t:.2f} |")
    compute = rows[2][2] / steps  # per step, per process, with M/2 micro-batches
    print()
    print(f"Model: compute {compute * 1e3:.3f} ms per step per process (the 2-process run's), "
          f"α = {ALPHA * 1e6:.0f} µs, β = {BETA / 1e9:.2f} GB/s")
    print()
    print("| processes | global batch | allreduce | efficiency |")
    print("|---:|---:|---:|---:|")
    for p in (8, 64, 512):
        lg = math.log2(p)
        doubling = lg * (ALPHA + size / BETA)
        rabenseifner = 2 * lg * ALPHA + 2 * (p - 1) / p * size / BETA
        reduce = min(doubling, rabenseifner)
        print(f"| {p} | {p * micro // 2 * 16} | {reduce * 1e3:.3f} ms | {compute / (compute + reduce) * 100:.0f} % |")


main()
