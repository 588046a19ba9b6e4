#!/usr/bin/env python3
"""gradc's side of workload 6 (scale): runs the optimizer engineer's `GradBench scale`
(branch opt) once per N in a fresh process and prints one JSON line per N in the peers'
format: system gradc, median_s = differentiate + optimize (-O2) of the builder graph,
peak_mb = the process's peak RSS minus that of the same benchmark at N = 2.

  scale_gradc.py GRADBENCH_EXECUTABLE N [N ...] [--quick]
Prints nothing (and exits 0) when the executable has no `scale` command."""
import json
import subprocess
import sys
import time


def run(exe, n):
    p = subprocess.run([exe, "scale", "--n", str(n), "--repeat", "1"], stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return None
    for line in p.stdout.splitlines():
        t = line.split()
        if t and t[0] == str(n) and t[-1] == "MB":
            return {"parse": float(t[1]), "build": float(t[2]), "diff": float(t[3]), "opt": float(t[4]),
                    "nodes_diff": int(t[8]), "nodes_opt": int(t[9]), "rss_mb": float(t[10])}
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    exe, sizes = args[0], [int(n) for n in args[1:]]
    usage = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    if "scale" not in usage:
        print("scale_gradc: this GradBench has no `scale` command (branch opt not merged)", file=sys.stderr)
        return
    base = run(exe, 2)
    for n in sizes:
        r = run(exe, n)
        if r is None:
            print(f"WARNING: GradBench scale --n {n} failed", file=sys.stderr)
            continue
        name = {10_000: "scale-10k", 100_000: "scale-100k"}.get(n, f"scale-{n}")
        s = r["diff"] + r["opt"]
        print(json.dumps({"workload": name, "system": "gradc", "dtype": "f64", "n": n, "median_s": s, "min_s": s,
                          "runs": 1, "differentiate_s": r["diff"], "optimize_s": r["opt"], "parse_s": r["parse"],
                          "build_s": r["build"], "nodes_differentiated": r["nodes_diff"], "nodes_optimized": r["nodes_opt"],
                          "peak_mb": r["rss_mb"] - (base["rss_mb"] if base else 0.0), "maxrss_mb": r["rss_mb"],
                          "baseline_mb": base["rss_mb"] if base else None, "quick": quick,
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S")}), flush=True)


if __name__ == "__main__":
    main()
