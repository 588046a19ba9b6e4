#!/usr/bin/env bash
# Builds gradc, compiles Examples/python/mlp.ir to C and trains it from Python
# (NumPy and the gradc module: `pip install ./python`, or the source tree's copy).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -q --product gradc
out=out/python-example
.build/debug/gradc compile Examples/python/mlp.ir --backend c -o "$out"
python3 Examples/python/train.py "$out/model.so"
