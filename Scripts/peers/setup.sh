#!/usr/bin/env bash
# Create Scripts/peers/.venv and install the pinned peer systems (requirements.txt).
# Idempotent: if the venv already has exactly the pinned versions, nothing is done.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
PY="${PYTHON:-python3}"

# PyTensor's C backend links BLAS itself; pip wheels bring none it can link to.
# Install Debian's OpenBLAS once (root + apt only); otherwise warn and go on
# (PyTensor then falls back to slow non-BLAS dot, which the README must say).
if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so '; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup.sh: installing libopenblas-dev (Debian) for PyTensor's C BLAS" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null
  else
    echo "setup.sh: WARNING: libopenblas not found and cannot apt-get; PyTensor C backend will run without BLAS" >&2
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup.sh: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi

# Fast path: every pinned requirement already satisfied -> nothing to do.
if "$VENV/bin/python" - "$REQ" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    name, want = line.split('==')
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
then
  echo "setup.sh: all pinned packages already installed in $VENV" >&2
  exit 0
fi

echo "setup.sh: installing pinned packages from $REQ" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
"$VENV/bin/python" -c 'import numpy, jax, pytensor, casadi; print("setup.sh: numpy", numpy.__version__, "jax", jax.__version__, "pytensor", pytensor.__version__, "casadi", casadi.__version__)' >&2
