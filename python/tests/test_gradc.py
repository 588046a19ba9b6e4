"""Tests of the gradc Python module against models compiled by the gradc CLI.

Run: GRADC=.build/debug/gradc python -m unittest discover -s python/tests -v
(GRADC defaults to the repository's .build/debug/gradc, then gradc on PATH; without one the
tests are skipped with that reason). Needs NumPy and a C compiler (gradc compile uses cc).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
try:
    import gradc
except ImportError:  # not installed: the source tree's copy
    sys.path.insert(0, os.path.join(REPO, "python"))
    import gradc


def find_gradc():
    for candidate in [os.environ.get("GRADC"), os.path.join(REPO, ".build", "debug", "gradc"), shutil.which("gradc")]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


MIXED = """
func mixed(x: f64[4,3], w: f64[3,2], s: f32, n: i64[5], m: bool[2,2]) {
  h = tanh(x @ w)
  loss = mean(h * h)
  return loss, grad(loss, w), s * 2, n + 1, m
}

func rosenbrock(x: f64, y: f64) {
  f = (1 - x)^2 + 100 * (y - x^2)^2
  dfdx, dfdy = grad(f, x, y)
  return f, dfdx, dfdy
}
"""


class GradcModuleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tool = find_gradc()
        if tool is None:
            raise unittest.SkipTest("no gradc executable: build it (swift build --product gradc) or set GRADC")
        cls.tmp = tempfile.TemporaryDirectory(prefix="gradc-python-")
        model = os.path.join(cls.tmp.name, "mixed.ir")
        with open(model, "w") as f:
            f.write(MIXED)
        out = os.path.join(cls.tmp.name, "out")
        r = subprocess.run([tool, "compile", model, "--backend", "c", "-o", out], capture_output=True, text=True)
        if r.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError("gradc compile failed:\n" + r.stdout + r.stderr)
        cls.lib = gradc.load(os.path.join(out, "model.so"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_metadata_describes_the_model(self):
        f = self.lib.function("mixed")
        self.assertEqual([t.name for t in f.inputs], ["x", "w", "s", "n", "m"])
        self.assertEqual([t.dtype for t in f.inputs], [np.float64, np.float64, np.float32, np.int64, np.bool_])
        self.assertEqual([t.shape for t in f.inputs], [(4, 3), (3, 2), (), (5,), (2, 2)])
        self.assertEqual([t.shape for t in f.outputs], [(), (3, 2), (), (5,), (2, 2)])
        self.assertEqual([t.dtype for t in f.outputs], [np.float64, np.float64, np.float32, np.int64, np.bool_])
        self.assertGreater(f.workspace_bytes, 0)
        self.assertIn("mixed(x: f64[4,3], w: f64[3,2], s: f32, n: i64[5], m: bool[2,2])", repr(f))

    def test_calls_compute_the_model(self):
        rosenbrock = self.lib["rosenbrock"]
        f, dfdx, dfdy = rosenbrock(np.float64(-1.2), y=1.0)
        self.assertEqual(f.shape, ())
        self.assertAlmostEqual(float(f), (1 + 1.2) ** 2 + 100 * (1 - 1.44) ** 2, places=12)
        self.assertAlmostEqual(float(dfdx), -2 * (1 + 1.2) - 400 * -1.2 * (1 - 1.44), places=10)
        self.assertAlmostEqual(float(dfdy), 200 * (1 - 1.44), places=10)

        mixed = self.lib.function("mixed")
        rng = np.random.default_rng(3)
        x = rng.standard_normal((4, 3))
        w = rng.standard_normal((3, 2))
        loss, gw, s2, n1, m1 = mixed(x, w, np.float32(1.5), np.arange(5, dtype=np.int64), m=np.eye(2, dtype=bool))
        h = np.tanh(x @ w)
        self.assertAlmostEqual(float(loss), float(np.mean(h * h)), places=12)
        np.testing.assert_allclose(gw, x.T @ (2 * h * (1 - h * h) / h.size), rtol=1e-10)
        self.assertEqual(s2.dtype, np.float32)
        self.assertEqual(float(s2), 3.0)
        np.testing.assert_array_equal(n1, np.arange(1, 6))
        np.testing.assert_array_equal(m1, np.eye(2, dtype=bool))

    def test_wrong_dtype_is_refused(self):
        mixed = self.lib.function("mixed")
        w = np.zeros((3, 2))
        rest = (np.float32(0), np.zeros(5, dtype=np.int64), np.zeros((2, 2), dtype=bool))
        with self.assertRaisesRegex(gradc.GradcError, r"mixed: input 'x' expects dtype float64 \(f64\[4,3\]\), got float32"):
            mixed(np.zeros((4, 3), dtype=np.float32), w, *rest)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'n' expects dtype int64 \(i64\[5\]\), got int32"):
            mixed(np.zeros((4, 3)), w, rest[0], np.zeros(5, dtype=np.int32), rest[2])
        with self.assertRaisesRegex(gradc.GradcError, r"input 's' expects dtype float32 \(f32\), got float64"):
            mixed(np.zeros((4, 3)), w, np.float64(0), *rest[1:])
        with self.assertRaisesRegex(gradc.GradcError, r"input 'x' expects a NumPy array f64\[4,3\], got list"):
            mixed([[0.0] * 3] * 4, w, *rest)

    def test_wrong_shape_and_layout_are_refused(self):
        mixed = self.lib.function("mixed")
        rest = (np.float32(0), np.zeros(5, dtype=np.int64), np.zeros((2, 2), dtype=bool))
        with self.assertRaisesRegex(gradc.GradcError, r"input 'w' expects shape \(3, 2\) \(f64\[3,2\]\), got \(2, 3\)"):
            mixed(np.zeros((4, 3)), np.zeros((2, 3)), *rest)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'x' expects a f64\[4,3\] array, got a Python float"):
            mixed(1.0, np.zeros((3, 2)), *rest)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'w' is not a C-contiguous, aligned array .*np.ascontiguousarray"):
            mixed(np.zeros((4, 3)), np.zeros((2, 3)).T, *rest)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'x' is not a C-contiguous"):
            mixed(np.zeros((4, 6))[:, ::2], np.zeros((3, 2)), *rest)

    def test_argument_binding_errors(self):
        rosenbrock = self.lib.function("rosenbrock")
        with self.assertRaisesRegex(gradc.GradcError, r"rosenbrock has no input 'z'; its inputs are \(x: f64, y: f64\)"):
            rosenbrock(1.0, z=2.0)
        with self.assertRaisesRegex(gradc.GradcError, r"rosenbrock: missing input 'y'"):
            rosenbrock(1.0)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'x' given twice"):
            rosenbrock(1.0, x=2.0)
        with self.assertRaisesRegex(gradc.GradcError, r"rosenbrock takes 2 inputs"):
            rosenbrock(1.0, 2.0, 3.0)
        with self.assertRaisesRegex(gradc.GradcError, r"gradc function 'nosuch'"):
            self.lib.function("nosuch")
        with self.assertRaisesRegex(gradc.GradcError, r"cannot name a gradc function"):
            self.lib.function("x; rm")

    def test_python_numbers_for_scalars_convert_exactly_or_are_refused(self):
        tmp = tempfile.TemporaryDirectory(prefix="gradc-python-")
        self.addCleanup(tmp.cleanup)
        model = os.path.join(tmp.name, "scalars.ir")
        with open(model, "w") as f:
            f.write("func scalars(k: i64, b: bool, s: f32) {\n  return k + 1, b, s\n}\n")
        out = os.path.join(tmp.name, "out")
        r = subprocess.run([find_gradc(), "compile", model, "--backend", "c", "-o", out, "--prefix", "sc"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        sc = gradc.load(os.path.join(out, "model.so")).function("sc")
        k1, b, s = sc(41, True, 0.5)
        self.assertEqual((int(k1), bool(b), float(s)), (42, True, 0.5))
        self.assertEqual(int(sc(2.0, 0, 1)[0]), 3)
        with self.assertRaisesRegex(gradc.GradcError, r"sc: input 'k' \(i64\) cannot hold 1.5 exactly"):
            sc(1.5, True, 0.0)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'k' \(i64\) cannot hold 9223372036854775808 exactly"):
            sc(2**63, True, 0.0)
        with self.assertRaisesRegex(gradc.GradcError, r"input 'b' \(bool\) cannot hold 2 exactly"):
            sc(1, 2, 0.0)


if __name__ == "__main__":
    unittest.main()
