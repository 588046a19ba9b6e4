#!/usr/bin/env python3
"""Every stage at scale (issue 21): for three graph shapes at about 10^4, 10^5 and 10^6 nodes
(the optimized graph's), each stage's wall time and the process's peak RSS after it, from
`gradc … --timings`, and the same sizes through CasADi's code generation, in one run, with
the growth ratio of each stage from 10^4 to 10^5 and from 10^5 to 10^6.

Shapes (each with its gradient):
  scalar    the Rosenbrock function on N scalar parameters (GradBench scale's rosenbrockText)
  vector    the same over x: f64[N], term by term with x[i] reads (rosenbrock_vector.py)
  pendulum  the damped pendulum unrolled for N explicit Euler steps (pendulum_scale.py)

Per cell, gradc runs as three processes (release build, fresh cache directory):
  gradc compile M.ir --backend bytecode -o M.gbc --timings   parse … lowering phases,
                                                             serialize, VM load phases
  gradc run M.gbc --timings --output-dir D                   the VM: `execute()` alone, best
                                                             of 5, and ns per instruction
  gradc compile M.ir --backend c -o D --timings              C emission (its size), cc, dlopen
CasADi (SX): build the expression in Python, `gradient` + `Function`, `generate` (its size),
then `cc -O1 -fPIC -shared` of the generated file (-O1: the level gradc picks for long
straight-line code, and CasADi's usual advice for big generated files).

  Scripts/bench/scale_stages.py [--gradc PATH] [--python PATH] [--timeout SECONDS]
                                [--shapes scalar,vector,pendulum] [--sizes 1e4,1e5,1e6]
                                [--no-casadi] [--no-c]
Build first: swift build -c release --product gradc. CasADi: Scripts/peers/setup.sh makes
Scripts/peers/.venv (or pass --python). A cell that takes longer than --timeout (default
120 s) per process prints "timeout"; a failure prints "fail"."""
import math
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Optimized-graph nodes per unit of N (measured: 17.0, 22.0, 20.0), to aim at a node count.
NODES_PER_N = {"scalar": 17, "vector": 22, "pendulum": 20}


def scalar_model(n):
    s = ["func rosenbrock(" + ", ".join(f"x{i}: f64" for i in range(n)) + ") {"]
    for i in range(n - 1):
        s.append(f"  t{i} = 100 * (x{i + 1} - x{i} ^ 2) ^ 2 + (1 - x{i}) ^ 2")
        s.append("  s0 = t0" if i == 0 else f"  s{i} = s{i - 1} + t{i}")
    s.append(f"  return s{n - 2}, grad(s{n - 2}, " + ", ".join(f"x{i}" for i in range(n)) + ")")
    return "\n".join(s) + "\n}\n"


def vector_model(n):
    terms = " + ".join(f"100 * (x[{i + 1}] - x[{i}]^2)^2 + (1 - x[{i}])^2" for i in range(n - 1))
    return f"func rosenbrock(x: f64[{n}]) {{\n  f = {terms}\n  return f, grad(f, x)\n}}\n"


def pendulum_model(n):
    lines = ["func pendulum(th0: f64, w0: f64, k: f64) {", "  th_0 = th0", "  w_0 = w0"]
    for i in range(n):
        lines.append(f"  th_{i + 1} = th_{i} + 0.001 * w_{i}")
        lines.append(f"  w_{i + 1} = w_{i} - 0.001 * (9.81 * sin(th_{i}) + k * w_{i})")
    lines += [f"  e = th_{n} * th_{n} + w_{n} * w_{n}", "  return e, grad(e, th0, w0, k)", "}"]
    return "\n".join(lines) + "\n"


MODELS = {"scalar": scalar_model, "vector": vector_model, "pendulum": pendulum_model}

# CasADi SX, the same three graphs. Prints "stage seconds" lines, then sizes.
CASADI = r"""
import resource, sys, time
import casadi as ca
shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
if shape == "pendulum":
    th0, w0, k = ca.SX.sym("th0"), ca.SX.sym("w0"), ca.SX.sym("k")
    th, w = th0, w0
    for i in range(n):
        th, w = th + 0.001 * w, w - 0.001 * (9.81 * ca.sin(th) + k * w)
    f = th * th + w * w
    inputs, wrt = [th0, w0, k], ca.vertcat(th0, w0, k)
else:
    if shape == "scalar":
        xs = [ca.SX.sym(f"x{i}") for i in range(n)]
        x = ca.vertcat(*xs)
        inputs = xs
    else:
        x = ca.SX.sym("x", n)
        xs = [x[i] for i in range(n)]
        inputs = [x]
    f = 0
    for i in range(n - 1):
        f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    wrt = x
t1 = time.perf_counter()
print("build", t1 - t0, rss(), flush=True)
F = ca.Function("F", inputs, [f, ca.gradient(f, wrt)])
t2 = time.perf_counter()
print("gradient+Function", t2 - t1, rss(), flush=True)
F.generate("casadi_model.c")
t3 = time.perf_counter()
print("generate", t3 - t2, rss(), flush=True)
import os, shutil
shutil.move("casadi_model.c", os.path.join(out, "casadi_model.c"))
print("instructions", F.n_instructions())
"""


def parse_timings(stderr):
    """[(stage, seconds, MB, note)] from --timings lines."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"timing: (.+?)\s+([0-9.]+) s\s+peak RSS\s+([0-9.]+) MB(.*)$", line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3)), m.group(4).strip()))
    return rows


def run(args, timeout, env=None, cwd=None):
    """(returncode, stdout, stderr, seconds); returncode None on timeout."""
    t = time.perf_counter()
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return None, "", "", time.perf_counter() - t
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t


def gradc_cell(gradc, shape, n, d, timeout, with_c):
    """{stage: (seconds | 'timeout' | 'fail', MB)} for one shape and size."""
    cell = {}
    path = os.path.join(d, f"{shape}{n}.ir")
    with open(path, "w") as f:
        f.write(MODELS[shape](n))
    env = dict(os.environ, GRADC_CACHE_DIR=os.path.join(d, f"cache-{shape}{n}"))
    gbc = os.path.join(d, f"{shape}{n}.gbc")

    def mark_all(prefix, what):
        cell[prefix] = (what, None)

    rc, out, err, _ = run([gradc, "compile", path, "--backend", "bytecode", "-o", gbc, "--timings"], timeout, env)
    if rc is None or rc != 0:
        mark_all("gradc compile (bytecode)", "timeout" if rc is None else "fail")
    else:
        for stage, s, mb, note in parse_timings(err):
            cell[stage] = (s, mb)
            if stage == "optimize":
                m = re.search(r"(\d+) nodes", note)
                if m:
                    cell["nodes (optimized)"] = (int(m.group(1)), None)
        cell["lowering total"] = (sum(v[0] for k, v in cell.items() if k.startswith("lower:")), None)
        cell[".gbc MB"] = (os.path.getsize(gbc) / 1e6, None)
        rc, out, err, _ = run([gradc, "run", gbc, "--timings", "--output-dir", os.path.join(d, "out")], timeout, env)
        if rc is None or rc != 0:
            mark_all("vm execute (best of 5)", "timeout" if rc is None else "fail")
        else:
            for stage, s, mb, note in parse_timings(err):
                if stage == "vm execute (best of 5)":
                    cell[stage] = (s, mb)
                    m = re.search(r"([0-9.]+) ns per instruction", note)
                    if m:
                        cell["vm ns per instruction"] = (float(m.group(1)), None)
                elif stage == "run":
                    cell["vm run (tensors in and out)"] = (s, mb)
    if with_c:
        cdir = os.path.join(d, f"c-{shape}{n}")
        rc, out, err, _ = run([gradc, "compile", path, "--backend", "c", "-o", cdir, "--timings"], timeout, env)
        if rc is None or rc != 0:
            mark_all("c: emit", "timeout" if rc is None else "fail")
        else:
            for stage, s, mb, note in parse_timings(err):
                if stage.startswith("c: "):
                    cell[stage] = (s, mb)
                    if stage == "c: cc" and note:
                        cell["c: cc flag"] = (note, None)
            cell["c: source MB"] = (os.path.getsize(os.path.join(cdir, "model.c")) / 1e6, None)
    return cell


def casadi_cell(python, shape, n, d, timeout):
    cell = {}
    out = os.path.join(d, f"casadi-{shape}{n}")
    os.makedirs(out, exist_ok=True)
    rc, stdout, err, _ = run([python, "-c", CASADI, shape, str(n), out], timeout, cwd=out)
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            cell["casadi: " + parts[0]] = (float(parts[1]), float(parts[2]))
        elif parts and parts[0] == "instructions":
            cell["casadi: instructions"] = (int(parts[1]), None)
    if rc != 0:
        for stage in ["build", "gradient+Function", "generate"]:
            cell.setdefault("casadi: " + stage, ("timeout" if rc is None else "fail", None))
        return cell
    c = os.path.join(out, "casadi_model.c")
    cell["casadi: source MB"] = (os.path.getsize(c) / 1e6, None)
    rc, _, _, s = run(["cc", "-O1", "-fPIC", "-shared", c, "-o", os.path.join(out, "casadi_model.so"), "-lm"], timeout)
    cell["casadi: cc -O1"] = (s if rc == 0 else ("timeout" if rc is None else "fail"), None)
    return cell


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return f"{v:.4f}" if v < 100 else f"{v:.0f}"


def main():
    argv = sys.argv[1:]

    def option(name, default):
        if name in argv:
            i = argv.index(name)
            value = argv[i + 1]
            del argv[i:i + 2]
            return value
        return default

    gradc = option("--gradc", os.path.join(ROOT, ".build", "release", "gradc"))
    python = option("--python", os.path.join(ROOT, "Scripts", "peers", ".venv", "bin", "python"))
    timeout = float(option("--timeout", "120"))
    shapes = option("--shapes", "scalar,vector,pendulum").split(",")
    sizes = [int(float(s)) for s in option("--sizes", "1e4,1e5,1e6").split(",")]
    with_casadi = "--no-casadi" not in argv
    with_c = "--no-c" not in argv
    if with_casadi and not os.path.exists(python):
        sys.exit(f"no CasADi Python at {python}: run Scripts/peers/setup.sh, pass --python PATH or --no-casadi")
    results = {}  # (shape, size) -> {stage: (value, MB)}
    with tempfile.TemporaryDirectory() as d:
        for shape in shapes:
            for size in sizes:
                n = max(4, size // NODES_PER_N[shape])
                print(f"{shape} N={n} (~{size} nodes): gradc", file=sys.stderr, flush=True)
                cell = gradc_cell(gradc, shape, n, d, timeout, with_c)
                cell["N"] = (n, None)
                if with_casadi:
                    print(f"{shape} N={n}: casadi", file=sys.stderr, flush=True)
                    cell.update(casadi_cell(python, shape, n, d, timeout))
                results[(shape, size)] = cell
    # One table: a row per shape and stage; per size the seconds (or the value), the peak RSS
    # at the largest size, and the growth ratios between consecutive sizes.
    ratio_heads = [f"x {sizes[i]:.0e}->{sizes[i + 1]:.0e}".replace("e+0", "e") for i in range(len(sizes) - 1)]
    nlogn = [(sizes[i + 1] * math.log(sizes[i + 1])) / (sizes[i] * math.log(sizes[i])) for i in range(len(sizes) - 1)]
    print(f"Seconds per stage (other rows: the unit in their name); peak RSS in MB at the largest size; "
          f"x: growth ratio (n log n gives {', '.join(f'{r:.1f}' for r in nlogn)}; linear {sizes[1] // sizes[0] if len(sizes) > 1 else 1})")
    head = ["shape", "stage"] + [f"{s:.0e}".replace("e+0", "e") for s in sizes] + ["MB"] + ratio_heads
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * 2 + "---:|" * (len(head) - 2))
    for shape in shapes:
        stages = []
        for size in sizes:
            for k in results[(shape, size)]:
                if k not in stages:
                    stages.append(k)
        first = ["N", "nodes (optimized)", "casadi: instructions"]
        stages = [s for s in first if s in stages] + [s for s in stages if s not in first]
        for stage in stages:
            values = [results[(shape, size)].get(stage, (None, None)) for size in sizes]
            row = [shape, stage] + [fmt(v[0]) for v in values]
            row.append(f"{values[-1][1]:.0f}" if values[-1][1] is not None else "-")
            for i in range(len(sizes) - 1):
                a, b = values[i][0], values[i + 1][0]
                ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                row.append(f"{b / a:.1f}" if ok and a > 0 and stage not in ("c: cc flag",) else "-")
            print("| " + " | ".join(row) + " |")


main()
