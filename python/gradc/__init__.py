"""Call functions compiled by gradc from Python with NumPy arrays.

``gradc compile MODEL.ir --backend c -o DIR`` writes ``DIR/model.so``; every function of the
model is exported under its name (or ``--prefix NAME``) together with metadata that says its
inputs and outputs (names, dtypes, shapes) and its workspace size (docs/c-abi.md). This module
reads that metadata with ctypes and checks every array before the C code sees it::

    import numpy as np, gradc
    lib = gradc.load("DIR/model.so")
    rosenbrock = lib.function("rosenbrock")
    f, dfdx, dfdy = rosenbrock(np.float64(-1.2), np.float64(1.0))   # or x=..., y=...

Arrays must have exactly the declared dtype and shape and be C-contiguous: nothing is cast,
broadcast or copied behind the caller's back; anything else raises ``GradcError`` saying what
was expected. Python numbers are accepted for scalar inputs when they convert exactly.
"""

import ctypes
import re
import threading

import numpy as np

__version__ = "0.3.0"
__all__ = ["GradcError", "Library", "Function", "Tensor", "load", "ABI_VERSION"]

#: The version of the C ABI's metadata this module reads (``NAME_abi_version()``).
ABI_VERSION = 1

_DTYPES = {"f64": np.dtype(np.float64), "f32": np.dtype(np.float32), "i64": np.dtype(np.int64), "bool": np.dtype(np.bool_)}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class GradcError(Exception):
    """A model that cannot be loaded, or arguments that do not match its inputs."""


class _TensorInfo(ctypes.Structure):
    # gradc_tensor_info of model.h, field for field.
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_char_p),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("count", ctypes.c_int64),
    ]


class Tensor:
    """One input or output: ``name`` (None if the model has none), ``dtype`` (a NumPy
    dtype), ``shape`` (a tuple; () for a scalar)."""

    def __init__(self, name, dtype, shape):
        self.name = name
        self.dtype = dtype
        self.shape = shape

    def describe(self):
        """``f64[3,2]`` or ``f32`` (the .ir spelling)."""
        tag = next(k for k, v in _DTYPES.items() if v == self.dtype)
        return tag + ("[" + ",".join(str(n) for n in self.shape) + "]" if self.shape else "")

    def __repr__(self):
        return "Tensor(%r, %s)" % (self.name, self.describe())


class Library:
    """A shared object written by ``gradc compile --backend c`` (loaded with ``RTLD_LOCAL``,
    so several models with functions of the same name can be loaded at once)."""

    def __init__(self, path):
        self.path = str(path)
        try:
            self._dll = ctypes.CDLL(self.path, mode=getattr(ctypes, "RTLD_LOCAL", 0))
        except OSError as e:
            raise GradcError("cannot load %s: %s" % (self.path, e)) from None

    def function(self, name):
        """The exported function ``name`` (the .ir function's name, or ``--prefix``)."""
        return Function(self, name)

    def __getitem__(self, name):
        return self.function(name)

    def _symbol(self, name, restype, argtypes):
        try:
            f = getattr(self._dll, name)
        except AttributeError:
            raise GradcError("%s has no symbol %s" % (self.path, name)) from None
        f.restype = restype
        f.argtypes = argtypes
        return f


def load(path):
    """Loads ``path`` (a ``model.so``); ``load(path).function(name)`` gives a callable."""
    return Library(path)


class Function:
    """A compiled function, described by its own metadata. Call it with one array per
    input (positionally, by name, or both); it returns a tuple of new arrays, one per output
    (0-d arrays for scalars). Calls on one Function are serialized (they share its
    workspace); use one Function per thread to run in parallel."""

    def __init__(self, library, name):
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise GradcError("%r cannot name a gradc function: expected a C identifier of at most 64 characters" % (name,))
        self.library = library
        self.name = name
        try:
            version = library._symbol(name + "_abi_version", ctypes.c_int32, [])()
        except GradcError:
            raise GradcError("%s has no gradc function %r (no symbol %s_abi_version); functions are exported "
                             "under their .ir names or the name given with --prefix" % (library.path, name, name)) from None
        if version != ABI_VERSION:
            raise GradcError("%s: %s has C ABI version %d; this module reads version %d" % (library.path, name, version, ABI_VERSION))
        self.inputs = self._tensors("input")
        self.outputs = self._tensors("output")
        self.workspace_bytes = library._symbol(name + "_workspace_bytes", ctypes.c_int64, [])()
        if self.workspace_bytes < 0:
            raise GradcError("%s: %s reports a negative workspace" % (library.path, name))
        pointers = ctypes.POINTER(ctypes.c_void_p)
        self._entry = library._symbol(name, ctypes.c_int, [pointers, pointers, ctypes.c_void_p])
        # One workspace per Function, 64-byte aligned inside a slightly larger buffer.
        self._workspace = np.zeros(self.workspace_bytes + 64, dtype=np.uint8)
        self._workspace_address = (self._workspace.ctypes.data + 63) // 64 * 64
        self._lock = threading.Lock()

    def _tensors(self, word):
        count = self.library._symbol("%s_num_%ss" % (self.name, word), ctypes.c_int32, [])()
        info = self.library._symbol("%s_%s" % (self.name, word), ctypes.POINTER(_TensorInfo), [ctypes.c_int32])
        tensors = []
        for i in range(count):
            p = info(i)
            if not p:
                raise GradcError("%s: %s_%s(%d) is missing" % (self.library.path, self.name, word, i))
            t = p.contents
            dtype = _DTYPES.get((t.dtype or b"").decode("ascii", "replace"))
            if dtype is None or not 0 <= t.rank <= 64:
                raise GradcError("%s: %s_%s(%d) is malformed" % (self.library.path, self.name, word, i))
            shape = tuple(int(t.shape[a]) for a in range(t.rank))
            if int(np.prod(shape, dtype=np.int64)) != t.count:
                raise GradcError("%s: %s_%s(%d) has shape %s but %d elements" % (self.library.path, self.name, word, i, shape, t.count))
            name = t.name.decode("ascii") if t.name else None
            tensors.append(Tensor(name, dtype, shape))
        return tensors

    def __repr__(self):
        ins = ", ".join("%s: %s" % (t.name or "_", t.describe()) for t in self.inputs)
        outs = ", ".join("%s: %s" % (t.name or "_", t.describe()) for t in self.outputs)
        return "<gradc function %s(%s) -> (%s)>" % (self.name, ins, outs)

    # Calling

    def __call__(self, *args, **kwargs):
        arrays = self._bind(args, kwargs)
        outputs = [np.empty(t.shape, dtype=t.dtype) for t in self.outputs]
        ins = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        outs = (ctypes.c_void_p * max(len(outputs), 1))(*[o.ctypes.data for o in outputs])
        with self._lock:
            status = self._entry(ins, outs, self._workspace_address)
        if status != 0:
            raise GradcError("%s failed (status %d)" % (self.name, status))
        return tuple(outputs)

    def _bind(self, args, kwargs):
        """One checked array per input, from positional and keyword arguments."""
        if len(args) > len(self.inputs):
            raise GradcError("%s takes %d inputs (%s), got %d" % (self.name, len(self.inputs), self._signature(), len(args)))
        values = list(args) + [None] * (len(self.inputs) - len(args))
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        names = {t.name: i for i, t in enumerate(self.inputs) if t.name is not None}
        for key, value in kwargs.items():
            if key not in names:
                raise GradcError("%s has no input %r; its inputs are %s" % (self.name, key, self._signature()))
            i = names[key]
            if given[i]:
                raise GradcError("%s: input %r given twice" % (self.name, key))
            values[i] = value
            given[i] = True
        missing = [self._label(i) for i, g in enumerate(given) if not g]
        if missing:
            raise GradcError("%s: missing input%s %s (expected %s)" % (self.name, "s" if len(missing) > 1 else "",
                                                                    ", ".join(missing), self._signature()))
        return [self._check(i, v) for i, v in enumerate(values)]

    def _check(self, i, value):
        t = self.inputs[i]
        label = "%s: input %s" % (self.name, self._label(i))
        if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
            if t.shape != ():
                raise GradcError("%s expects a %s array, got a Python %s" % (label, t.describe(), type(value).__name__))
            return self._scalar(label, t, value)
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise GradcError("%s expects a NumPy array %s, got %s (convert it with np.asarray(value, dtype=np.%s))"
                             % (label, t.describe(), type(value).__name__, t.dtype.name))
        if value.dtype != t.dtype:
            raise GradcError("%s expects dtype %s (%s), got %s: convert explicitly, e.g. value.astype(np.%s)"
                             % (label, t.dtype.name, t.describe(), value.dtype, t.dtype.name))
        if value.shape != t.shape:
            raise GradcError("%s expects shape %s (%s), got %s" % (label, t.shape, t.describe(), value.shape))
        if not value.flags.c_contiguous or not value.flags.aligned:
            raise GradcError("%s is not a C-contiguous, aligned array (a slice with steps or a transpose?): "
                             "pass np.ascontiguousarray(value)" % label)
        return value

    def _scalar(self, label, t, value):
        """A Python number for a scalar input, only if it converts exactly."""
        if t.dtype == np.bool_:
            exact = isinstance(value, bool) or value in (0, 1)
        elif t.dtype == np.int64:
            exact = (not isinstance(value, float) or value.is_integer()) and -2**63 <= value < 2**63
        else:
            exact = True  # a float input takes any Python number (rounded as NumPy rounds)
        if not exact:
            raise GradcError("%s (%s) cannot hold %r exactly" % (label, t.describe(), value))
        return np.asarray(value, dtype=t.dtype)

    def _label(self, i):
        name = self.inputs[i].name
        return repr(name) if name is not None else str(i)

    def _signature(self):
        return "(" + ", ".join("%s: %s" % (t.name or "_", t.describe()) for t in self.inputs) + ")"
