#!/usr/bin/env bash
# Builds and runs the embed-c example: gradc writes model.c/model.h, then plain cc builds a C
# program against them — no gradc code is linked.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=Examples/embed-c/build
swift run -q gradc compile Examples/embed-c/rosenbrock.ir --backend c -o "$out"
cc -O2 -ffp-contract=off -I "$out" Examples/embed-c/main.c "$out/model.c" -lm -o "$out/rosenbrock-descent"
"$out/rosenbrock-descent"
