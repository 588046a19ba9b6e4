#!/usr/bin/env python3
"""Write the deterministic benchmark inputs as .npy (format 1.0, little-endian, C order):
<out>/<workload>_<dtype>_<input>.npy. f32 files are the f64 values rounded to f32."""
import argparse
from pathlib import Path

import numpy as np

from common import DEFAULT_DATA

SEED = 20240611


def mlp(rng, B, D, H, C):
    X = rng.standard_normal((B, D))
    labels = rng.integers(0, C, size=B)
    Y = np.zeros((B, C))
    Y[np.arange(B), labels] = 1.0
    W1 = rng.standard_normal((D, H)) * 0.1
    b1 = rng.standard_normal(H) * 0.1
    W2 = rng.standard_normal((H, C)) * 0.1
    b2 = rng.standard_normal(C) * 0.1
    return dict(X=X, Y=Y, W1=W1, b1=b1, W2=W2, b2=b2)


def save(out, workload, dtype, arrays):
    for name, a in arrays.items():
        a = np.ascontiguousarray(a.astype("<f8" if dtype == "f64" else "<f4"))
        p = out / f"{workload}_{dtype}_{name}.npy"
        with open(p, "wb") as fh:
            np.lib.format.write_array(fh, a, version=(1, 0), allow_pickle=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(DEFAULT_DATA))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    small = mlp(rng, 32, 64, 32, 10)
    large = mlp(rng, 256, 784, 512, 10)
    x = rng.uniform(0.0, 1.0, 1000)          # 0.5 +- 0.5
    q = rng.uniform(-0.1, 0.1, 200)
    for dt in ("f64", "f32"):
        save(out, "mlp-small", dt, small)
        save(out, "mlp-large", dt, large)
    save(out, "rosenbrock", "f64", {"x": x})
    save(out, "arm", "f64", {"q": q})
    print(f"make_data: wrote inputs to {out}")


if __name__ == "__main__":
    main()
