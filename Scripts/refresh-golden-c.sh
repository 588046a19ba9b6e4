#!/usr/bin/env bash
# Regenerates the golden C of a few small fixtures (Tests/Fixtures/c/*.c), checked by
# GradCTests/CGoldenTests. Review the diff: it shows what a change did to generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product gradc >/dev/null
for name in derivatives unary reductions; do
  .build/debug/gradc emit "Tests/Fixtures/$name.ir" --format c > "Tests/Fixtures/c/$name.c"
  echo "wrote Tests/Fixtures/c/$name.c"
done
