#!/usr/bin/env python3
"""Accuracy of gradc's lgamma, digamma, polygamma(1, x), polygamma(2, x) against mpmath (30
digits) at 6000 seeded points: 3000 log-uniform in (1e-8, 1e6), 2000 uniform in (0.5, 3)
(the roots of lgamma and digamma), 1000 negative log-uniform in (-1e3, -1e-3); every backend
must give the same bits. Needs numpy and mpmath.

    python3 Scripts/special-accuracy.py        # after swift build --product gradc
"""
import os, subprocess, sys, tempfile
import numpy as np, mpmath

mpmath.mp.dps = 30
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gradc = os.path.join(root, ".build", "debug", "gradc")
rng = np.random.default_rng(7)
x = np.concatenate([10 ** rng.uniform(-8, 6, 3000), rng.uniform(0.5, 3, 2000), -(10 ** rng.uniform(-3, 3, 1000))])
with tempfile.TemporaryDirectory() as d:
    np.save(os.path.join(d, "x.npy"), x)
    model = os.path.join(d, "m.ir")
    with open(model, "w") as f:
        f.write("func f(x: f64[%d]) {\n  return lgamma(x), digamma(x), polygamma(1, x), polygamma(2, x)\n}\n" % len(x))
    outs = {}
    for backend in ["reference", "bytecode", "c"]:
        od = os.path.join(d, backend)
        subprocess.run([gradc, "run", model, "--backend", backend, "--portable", "--input", "x=" + os.path.join(d, "x.npy"), "--output-dir", od],
                       check=True, stdout=subprocess.DEVNULL)
        outs[backend] = [np.load(os.path.join(od, "out%d.npy" % k)) for k in range(4)]
    same = all(np.array_equal(outs["reference"][k].view(np.uint64), outs[b][k].view(np.uint64)) for b in ["bytecode", "c"] for k in range(4))
    print("backends bit-identical:", same)
    fns = [lambda v: mpmath.loggamma(v).real if v > 0 else mpmath.log(abs(mpmath.gamma(v))), mpmath.digamma,
           lambda v: mpmath.polygamma(1, v), lambda v: mpmath.polygamma(2, v)]
    print("%-12s %-34s %-34s" % ("op", "max rel err, x > 0 (at x)", "max rel err, x < 0 (at x)"))
    for name, fn, out in zip(["lgamma", "digamma", "trigamma", "polygamma2"], fns, outs["reference"]):
        worst = {True: (0.0, 0.0), False: (0.0, 0.0)}
        for v, got in zip(x, out):
            ref = fn(mpmath.mpf(float(v)))
            if ref == 0:
                continue
            e = float(abs((mpmath.mpf(float(got)) - ref) / ref))
            if e > worst[v > 0][0]:
                worst[v > 0] = (e, float(v))
        print("%-12s %-34s %-34s" % (name, "%.2e (%.6g)" % worst[True], "%.2e (%.6g)" % worst[False]))
    sys.exit(0 if same else 1)
