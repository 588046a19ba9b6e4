#!/usr/bin/env python3
"""Render one Scripts/bench.sh run (JSON lines from GradBench harness, bench_peers.py and
check_agreement.py) as ONE Markdown table: workload x system, median/min time, gradc's ratio
to the best peer, the cheap-gradient ratio (value+gradient / forward) and the agreement check.

  table.py RUN.jsonl [--machine TEXT] [--command TEXT] [--out out/bench-table.md]

Best peer = the fastest (by median; by min for the min ratio) of the automatic-differentiation
peers jax, pytensor, casadi_vm, casadi_c on the same workload and dtype. numpy (hand-written
backprop, the agreement reference) is listed but not counted as a peer.
Ratio = gradc time / best peer time: below 1 gradc is faster."""
import argparse
import json
from collections import defaultdict

AD_PEERS = {"jax", "pytensor", "pytensor-numba", "casadi_vm", "casadi_c"}
KERNEL_WORKLOADS = ["mlp-small", "mlp-large", "rosenbrock", "arm"]
SYSTEM_ORDER = ["gradc-c", "gradc-vm", "gradc-ref", "gradc-c-scalar", "gradc-vm-scalar", "gradc-ref-scalar",
                "jax", "pytensor", "pytensor-numba", "casadi_c", "casadi_vm", "numpy"]


def fmt(x):
    if x is None:
        return ""
    if x < 1e-3:
        return f"{x * 1e6:,.1f} µs"
    if x < 1:
        return f"{x * 1e3:,.2f} ms"
    return f"{x:,.2f} s"


def ratio(a, b):
    if a is None or not b:
        return ""
    r = a / b
    return f"{r:.2g}×" if r < 0.1 else f"{r:.2f}×"


def is_gradc(system):
    return system.startswith("gradc")


def load(path):
    timings, checks, skipped = [], {}, []
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("check") == "agreement":
            checks[(r["workload"], r["dtype"], r["system"])] = r
        elif "skipped" in r:
            if not any((s["workload"], s["dtype"], s["system"]) == (r["workload"], r["dtype"], r["system"])
                       for s in skipped):       # once, however many rounds
                skipped.append(r)
        elif "median_s" in r:
            timings.append(r)
    return timings, checks, skipped


def merge_rounds(timings):
    """Several rounds may measure the same (workload, system, dtype): keep the median of the
    rounds' medians and the min of their mins."""
    groups = defaultdict(list)
    for r in timings:
        groups[(r["workload"], r["system"], r["dtype"])].append(r)
    merged = {}
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["median_s"])
        m = dict(rs[len(rs) // 2])
        m["min_s"] = min(r["min_s"] for r in rs)
        m["rounds"] = len(rs)
        merged[key] = m
    return merged


def order(system):
    return SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else len(SYSTEM_ORDER)


def agreement_cell(check):
    if check is None:
        return ""
    if check.get("ok") is None:
        return "no reference"
    mark = "ok" if check["ok"] else "**DIFFERS**"
    return f"{mark} ({check['max_rel_err']:.0e})"


def render(timings, checks, skipped, machine, command):
    rows = merge_rounds(timings)
    out = []
    if machine:
        out.append(f"Machine: {machine}")
    if command:
        out.append(f"Command: `{command}`")
    if out:
        out.append("")
    out.append("| workload | dtype | system | median | min | gradc / best peer (median) | gradc / best peer (min) "
               "| grad / forward (median) | agrees with numpy |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for w in KERNEL_WORKLOADS:
        for dt in ("f64", "f32"):
            here = {s: r for (ww, s, d), r in rows.items() if ww == w and d == dt}
            if not here:
                continue
            peers = [r for s, r in here.items() if s in AD_PEERS]
            best_med = min(peers, key=lambda r: r["median_s"]) if peers else None
            best_min = min(peers, key=lambda r: r["min_s"]) if peers else None
            for s in sorted(here, key=order):
                r = here[s]
                label = s if not r.get("form") or r["form"] == "tensor" else f"{s} ({r['form']})"
                if s == "numpy":
                    label += " (hand-written; reference)"
                vs_med = vs_min = ""
                if is_gradc(s) and best_med:
                    vs_med = f"{ratio(r['median_s'], best_med['median_s'])} vs {best_med['system']}"
                    vs_min = f"{ratio(r['min_s'], best_min['min_s'])} vs {best_min['system']}"
                elif r is best_med:
                    vs_med = "best peer"
                cheap = ratio(r["median_s"], r.get("forward_median_s"))
                if is_gradc(s) and r.get("forward_min_s"):
                    cheap += f" (min: {ratio(r['min_s'], r['forward_min_s'])})"
                out.append(f"| {w} | {dt} | {label} | {fmt(r['median_s'])} | {fmt(r['min_s'])} | {vs_med} | {vs_min} "
                           f"| {cheap} | {agreement_cell(checks.get((w, dt, s)))} |")
            for r in skipped:
                if r["workload"] == w and r["dtype"] == dt:
                    out.append(f"| {w} | {dt} | {r['system']} | — | — | {r['skipped']} | | | |")
    compile_rows = sorted(((s, r) for (w, s, d), r in rows.items() if w == "compile"), key=lambda x: x[0])
    if compile_rows:
        best = min((r for s, r in compile_rows if not is_gradc(s)), key=lambda r: r["median_s"], default=None)
        for s, r in compile_rows:
            vs = f"{ratio(r['median_s'], best['median_s'])} vs {best['system']}" if (is_gradc(s) and best) else ""
            out.append(f"| compile (mlp-small, text → first result) | f64 | {s} | {fmt(r['median_s'])} | {fmt(r['min_s'])} "
                       f"| {vs} | | | |")
    for r in skipped:
        if r["workload"] == "compile":
            out.append(f"| compile (mlp-small, text → first result) | f64 | {r['system']} | — | — | {r['skipped']} | | | |")
    for w in ("scale-10k", "scale-100k"):
        scale_rows = sorted(((s, r) for (ww, s, d), r in rows.items() if ww == w), key=lambda x: x[0])
        peer = next((r for s, r in scale_rows if not is_gradc(s)), None)
        for s, r in scale_rows:
            mem = f"peak {r['peak_mb']:.1f} MB" if r.get("peak_mb") is not None else ""
            vs = f"{ratio(r['median_s'], peer['median_s'])} vs {peer['system']}" if (is_gradc(s) and peer) else ""
            out.append(f"| {w} (differentiate + optimize/Function; {mem}) | f64 | {s} | {fmt(r['median_s'])} "
                       f"| {fmt(r['min_s'])} | {vs} | | | |")
    missing = [w for w in ("scale-10k",) if not any(ww == w and is_gradc(s) for (ww, s, d) in rows)]
    if missing and any(ww.startswith("scale") for (ww, s, d) in rows):
        out.append("")
        out.append("gradc scale: not measured in this run (`GradBench scale` is not in this build).")
    bad = [k for k, c in checks.items() if c.get("ok") is False]
    out.append("")
    out.append(f"Agreement: {sum(1 for c in checks.values() if c.get('ok'))} of {len(checks)} (workload, dtype, system) "
               f"outputs agree with numpy (f64 ≤ 1e-10, f32 ≤ 1e-4, max|a−ref|/max|ref| per output)"
               + (f"; DISAGREE: {', '.join('/'.join(k) for k in bad)}" if bad else "."))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--machine", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    timings, checks, skipped = load(a.run)
    text = render(timings, checks, skipped, a.machine, a.command)
    print(text, end="")
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
