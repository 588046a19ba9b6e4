#!/usr/bin/env python3
"""Run the peer benchmarks (each peer in its own subprocess) and print ONE JSON object per
line on stdout (also appended to <out>/peers.jsonl). Ends with the agreement check
(JSON lines with "check": "agreement"; WARNING lines on stderr on disagreement).

  bench_peers.py [--only W[,W..]] [--systems S[,S..]] [--quick] [--out DIR] [--data DIR]

workloads: mlp-small mlp-large rosenbrock arm compile scale
systems:   numpy jax pytensor casadi  (+ pytensor-numba, off by default)
Run with Scripts/peers/.venv/bin/python (see setup.sh)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DATA, DEFAULT_RESULTS, HERE, PYTENSOR_BASE_FLAGS, REPO, WORKLOADS

PY = sys.executable
ALL_WORKLOADS = list(WORKLOADS) + ["compile", "scale"]
ALL_SYSTEMS = ["numpy", "jax", "pytensor", "casadi"]
SINK = None


def out(rec):
    line = json.dumps(rec)
    print(line, flush=True)
    SINK.write(line + "\n")
    SINK.flush()


def run_json(cmd, env=None, cwd=HERE):
    """Run cmd; forward its stderr; return the JSON objects it printed on stdout."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        print(f"WARNING: {' '.join(map(str, cmd))} exited {p.returncode}", file=sys.stderr, flush=True)
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def env_with(**kv):
    e = dict(os.environ)
    e.update(kv)
    return e


def pytensor_env(compiledir):
    return env_with(PYTENSOR_FLAGS=f"compiledir={compiledir},{PYTENSOR_BASE_FLAGS}")


def measured(cmd, env=None):
    """Run cmd under a fresh launcher process; return (json records, child's ru_maxrss in KB)."""
    launcher = ("import resource,subprocess,sys,json;"
                "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,text=True);"
                "sys.stdout.write(p.stdout);"
                "print(json.dumps({'maxrss_kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    recs = run_json([PY, "-c", launcher] + cmd, env=env)
    rss = [r["maxrss_kb"] for r in recs if "maxrss_kb" in r]
    return [r for r in recs if "maxrss_kb" not in r], (rss[0] if rss else None)


def main():
    global SINK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(ALL_WORKLOADS))
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    ap.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    ap.add_argument("--out", default=str(DEFAULT_RESULTS), help="results dir (.npy outputs, peers.jsonl)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="input .npy dir (made if missing)")
    a = ap.parse_args()
    only = [w for w in a.only.split(",") if w]
    systems = [s for s in a.systems.split(",") if s]
    for w in only:
        if w not in ALL_WORKLOADS:
            ap.error(f"unknown workload {w}")
    outdir = Path(a.out).resolve()
    data = Path(a.data).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    SINK = open(outdir / "peers.jsonl", "a")
    if not (data / "arm_f64_q.npy").exists():
        subprocess.run([PY, str(HERE / "make_data.py"), "--out", str(data)], check=True, stdout=sys.stderr)
    q = ["--quick"] if a.quick else []
    common_args = ["--data", str(data), "--out", str(outdir)] + q
    stamp = {"quick": a.quick, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    kernel = [w for w in only if w in WORKLOADS]
    if kernel:
        only_arg = ["--only", ",".join(kernel)]
        warm_dir = REPO / "out" / "pytensor-compiledir"     # persistent: steady-state timings
        peers = {
            "numpy": ([PY, "peer_numpy.py"], None),
            "jax": ([PY, "peer_jax.py"], None),
            "pytensor": ([PY, "peer_pytensor.py"], pytensor_env(warm_dir)),
            "pytensor-numba": ([PY, "peer_pytensor.py", "--numba"], pytensor_env(warm_dir)),
            "casadi": ([PY, "peer_casadi.py"], None),
        }
        for s in systems:
            if s not in peers:
                print(f"WARNING: unknown system {s}", file=sys.stderr)
                continue
            cmd, env = peers[s]
            for rec in run_json(cmd + common_args + only_arg, env=env):
                if s == "pytensor-numba" or rec["system"] != "pytensor-numba":
                    out({**rec, **stamp})

    if "compile" in only:
        reps = 1 if a.quick else 3
        work = Path(tempfile.mkdtemp(prefix="peers-compile-", dir=outdir))
        probe = [PY, "compile_probe.py"]
        data_arg = [str(data)]

        def emit_compile(name, recs):
            if not recs:
                return
            ts = [r["first_result_s"] for r in recs]
            rec = {"workload": "compile", "system": name, "dtype": "f64",
                   "median_s": sorted(ts)[len(ts) // 2], "min_s": min(ts), "runs": len(ts),
                   "import_s": recs[0].get("import_s")}
            for k in ("gen_s", "cc_s"):
                if k in recs[0]:
                    rec[k] = sorted(r[k] for r in recs)[len(recs) // 2]
            out({**rec, **stamp})

        def skip_compile(name, why):
            out({"workload": "compile", "system": name, "dtype": "f64", "skipped": why, **stamp})

        if "pytensor" in systems and a.quick:
            # quick: no cold compile (30-60 s); warm = the persistent compiledir the kernel
            # rows above just filled (or a fresh one compiled once, if pytensor did not run).
            skip_compile("pytensor-cold", "skipped in --quick (30-60 s)")
            emit_compile("pytensor-warm", run_json(probe + ["pytensor"] + data_arg + [str(work)],
                                                   env=pytensor_env(REPO / "out" / "pytensor-compiledir")))
        elif "pytensor" in systems:
            cold, warm = [], []
            for i in range(reps):
                cdir = work / f"pytensor-{i}"           # fresh, empty compiledir
                cold += run_json(probe + ["pytensor"] + data_arg + [str(work)], env=pytensor_env(cdir))
                warm += run_json(probe + ["pytensor"] + data_arg + [str(work)], env=pytensor_env(cdir))
            emit_compile("pytensor-cold", cold)
            emit_compile("pytensor-warm", warm)
        if "jax" in systems:
            emit_compile("jax-first-call", sum((run_json(probe + ["jax"] + data_arg + [str(work / f"jax-{i}")])
                                                for i in range(reps)), []))
        if "casadi" in systems and a.quick:
            skip_compile("casadi-codegen-cc", "skipped in --quick (codegen + gcc -O3 ~5 s)")
        elif "casadi" in systems:
            emit_compile("casadi-codegen-cc", sum((run_json(probe + ["casadi"] + data_arg + [str(work / f"cas-{i}")])
                                                   for i in range(reps)), []))
        shutil.rmtree(work, ignore_errors=True)

    if "scale" in only and "casadi" in systems:
        _, base_kb = measured([PY, "peer_casadi.py", "--idle"])
        for n, name in ((10_000, "scale-10k"), (100_000, "scale-100k")):
            if a.quick and n > 10_000:
                continue                                # quick mode: 10k only
            recs, kb = measured([PY, "peer_casadi.py", "--scale", str(n)])
            if not recs:
                continue
            r = recs[0]
            out({"workload": name, "system": "casadi-sx", "dtype": "f64", "n": n,
                 "median_s": r["grad_function_s"], "min_s": r["grad_function_s"], "runs": 1,
                 "graph_s": r["graph_s"], "first_eval_s": r["first_eval_s"],
                 "peak_mb": (kb - base_kb) / 1024.0, "maxrss_mb": kb / 1024.0,
                 "baseline_mb": base_kb / 1024.0, **stamp})

    for rec in run_json([PY, "check_agreement.py", "--out", str(outdir)]):
        out({**rec, **stamp})
    SINK.close()


if __name__ == "__main__":
    main()
