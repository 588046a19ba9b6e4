#!/usr/bin/env python3
"""Compare every system's outputs under <results>/<system>/ with the numpy reference.
Error per output = max|a - ref| / max(max|ref|, 1e-300) (normwise relative).
Tolerance: 1e-10 (f64), 1e-4 (f32). Prints one JSON line per (workload, dtype, system)
with "check": "agreement"; prints a WARNING line to stderr on disagreement (stdout
stays pure JSON lines).
Exit status 0 unless --strict and something disagrees."""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common import DEFAULT_RESULTS, WORKLOADS

TOL = {"f64": 1e-10, "f32": 1e-4}


def compare(results, ref_system="numpy"):
    results = Path(results)
    bad = 0
    rows = []
    for sysdir in sorted(p for p in results.iterdir() if p.is_dir() and p.name != ref_system):
        for w, spec in WORKLOADS.items():
            for dt in spec["dtypes"]:
                n = len(spec["outputs"])
                mine = [sysdir / f"{w}_{dt}_{k}.npy" for k in range(n)]
                ref = [results / ref_system / f"{w}_{dt}_{k}.npy" for k in range(n)]
                if not all(p.exists() for p in mine):
                    continue
                if not all(p.exists() for p in ref):
                    rows.append({"check": "agreement", "workload": w, "dtype": dt, "system": sysdir.name,
                                 "ok": None, "note": "no numpy reference"})
                    continue
                errs = []
                for a, r in zip(mine, ref):
                    A, R = np.load(a).astype(np.float64), np.load(r).astype(np.float64)
                    if A.shape != R.shape:
                        errs.append(float("inf"))
                        continue
                    errs.append(float(np.max(np.abs(A - R)) / max(float(np.max(np.abs(R))), 1e-300)))
                ok = max(errs) <= TOL[dt]
                rows.append({"check": "agreement", "workload": w, "dtype": dt, "system": sysdir.name,
                             "ok": ok, "max_rel_err": max(errs), "rel_err": errs, "tol": TOL[dt]})
                if not ok:
                    bad += 1
    return rows, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(DEFAULT_RESULTS))
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    rows, bad = compare(a.out)
    for r in rows:
        print(json.dumps(r), flush=True)
        if r["ok"] is False:
            msg = (f"WARNING: {r['system']} {r['workload']} {r['dtype']} disagrees with numpy: "
                   f"max rel err {r['max_rel_err']:.3g} > {r['tol']:g}")
            print(msg, file=sys.stderr, flush=True)
    sys.exit(1 if (a.strict and bad) else 0)


if __name__ == "__main__":
    main()
