#!/usr/bin/env python3
# gradc-gradbench on lstm workloads, against the suite's manual tool run on the same inputs.
#
#   Scripts/bench/gradbench_lstm.py TOOL MANUAL [C ...]
#
# TOOL: .build/release/gradc-gradbench; MANUAL: the suite's tools/manual/lstm binary (built
# with its Makefile in a GradBench work tree), called as `MANUAL FILE FUNCTION`. Workloads: the
# first recorded case (../shared/gradbench/lstm.jsonl, l=2, c=1024), then random inputs of the
# eval's shapes (b = 14) at l=4,c=1024; l=2,c=4096; l=4,c=4096, and l=2 at each extra C (gradc
# only when C > 4096). 5 runs and ≥ 0.3 s per call, median of the runs after the first; the
# compile timing is cold (an empty GRADC_CACHE_DIR). "worst" is the suite's relative error of
# gradc's output against manual's. Plain Python 3, no third-party imports.
import json, subprocess, sys, random, tempfile, os
tool, manual = sys.argv[1], sys.argv[2]
cache = tempfile.mkdtemp(prefix="gradc-cache-")
env = dict(os.environ, GRADC_CACHE_DIR=cache)
def gen(l, c, b=14, seed=0):
    r = random.Random(seed)
    m = lambda rows, n: [[r.random() for _ in range(n)] for _ in range(rows)]
    return {"main_params": m(2*l, 4*b), "extra_params": m(3, b), "state": m(2*l, b),
            "sequence": [[float(r.random() < 0.5) for _ in range(b)] for _ in range(c)]}
work = [("l=2,c=1024 (recorded)", json.loads(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/gradbench/lstm.jsonl')).readline())["input"])]
for l, c in [(4, 1024), (2, 4096), (4, 4096)] + [(2, int(x)) for x in sys.argv[3:]]:
    work.append((f"l={l},c={c}", gen(l, c)))
p = subprocess.Popen([tool], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
def send(m):
    p.stdin.write(json.dumps(m) + "\n"); p.stdin.flush()
    return json.loads(p.stdout.readline())
send({"id": 0, "kind": "start", "eval": "lstm"}); send({"id": 1, "kind": "define", "module": "lstm"})
med = lambda ns: sorted(ns)[len(ns)//2] / 1e3
for desc, inp in work:
    for fn in ["objective", "jacobian"]:
        runs = dict(inp, min_runs=5, min_seconds=0.3)
        r = send({"id": 2, "kind": "evaluate", "module": "lstm", "function": fn, "input": runs})
        assert r["success"], r
        ns = [t["nanoseconds"] for t in r["timings"] if t["name"] == "evaluate"][1:]
        comp = [t["nanoseconds"]/1e9 for t in r["timings"] if t["name"] == "compile"]
        line = f"{desc:24s} {fn:9s} gradc {med(ns):10.0f} us  compile {comp[0] if comp else 0:.2f} s"
        if len(inp["sequence"]) <= 4096:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(runs, f)
            out = subprocess.run([manual, f.name, fn], capture_output=True, text=True).stdout.splitlines()
            mns = [json.loads(x.rstrip(","))["nanoseconds"] for x in out if '"evaluate"' in x]
            o = json.loads(out[0]); a = r["output"]
            if not isinstance(o, list): o, a = [o], [a]
            worst = max(abs(x - y) / max(1, abs(x) + abs(y)) for x, y in zip(o, a))
            line += f"  manual {med(mns):10.0f} us  ratio {med(ns)/med(mns):.2f}  worst {worst:.1e}"
        print(line, flush=True)
p.stdin.close(); p.wait()
