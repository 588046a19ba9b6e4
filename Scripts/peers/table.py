#!/usr/bin/env python3
"""Render bench_peers JSON lines (stdin or files) as a Markdown table."""
import fileinput
import json

rows = []
for line in fileinput.input():
    if line.startswith("{"):
        r = json.loads(line)
        if "check" not in r:
            rows.append(r)


def us(x):
    return "" if x is None else (f"{x * 1e6:,.1f} µs" if x < 1e-3 else f"{x * 1e3:,.2f} ms" if x < 1 else f"{x:,.2f} s")


print("| workload | system | dtype | median | min | runs | forward median | extra |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    extra = []
    for k in ("graph", "cc_s", "gen_s", "external_median_s", "import_s", "graph_s", "peak_mb"):
        if k in r and r[k] is not None:
            v = r[k]
            extra.append(f"{k}={v:.1f}" if k == "peak_mb" else f"{k}={us(v)}" if isinstance(v, float) else f"{k}={v}")
    print(f"| {r['workload']} | {r['system']} | {r['dtype']} | {us(r['median_s'])} | {us(r['min_s'])} | {r['runs']} "
          f"| {us(r.get('forward_median_s'))} | {', '.join(extra)} |")
