"""Trains a small classifier from Python with gradients computed by gradc.

    swift build --product gradc
    .build/debug/gradc compile Examples/python/mlp.ir --backend c -o out/python-example
    python3 Examples/python/train.py out/python-example/model.so

(Examples/python/run.sh does the three steps; the gradc Python module comes from
`pip install ./python`, or from the source tree when it is not installed.) The model file has
two functions, `loss` (the loss and its gradient for every parameter) and `predict`; this
program only holds NumPy arrays and runs plain gradient descent with momentum. Exits 1 if
the held-out accuracy stays below 90 %.
"""

import os
import sys

import numpy as np

try:
    import gradc
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import gradc


def two_rings(rng, n):
    """n points: class 0 inside radius 1, class 1 on a ring of radius 2 (one-hot labels)."""
    label = rng.integers(0, 2, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(label == 0, rng.uniform(0, 1, n), rng.uniform(1.6, 2.4, n))
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x, np.eye(2)[label]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "out/python-example/model.so"
    lib = gradc.load(path)
    loss, predict = lib.function("loss"), lib.function("predict")
    print(loss)
    print(predict)

    rng = np.random.default_rng(0)
    x, y = two_rings(rng, 128)
    x_test, y_test = two_rings(rng, 128)
    params = {
        "w1": rng.standard_normal((2, 16)) * 0.5, "b1": np.zeros(16),
        "w2": rng.standard_normal((16, 2)) * 0.5, "b2": np.zeros(2),
    }
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    names = ["w1", "b1", "w2", "b2"]
    for step in range(301):
        value, *grads = loss(x, y, **params)
        if step % 50 == 0:
            print("step %3d: loss %.4f" % (step, value))
        for name, g in zip(names, grads):
            velocity[name] = 0.9 * velocity[name] - 0.1 * g
            params[name] = params[name] + velocity[name]

    (logits,) = predict(x_test, **params)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == np.argmax(y_test, axis=1)))
    print("held-out accuracy: %.1f %%" % (100 * accuracy))
    return 0 if accuracy >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
