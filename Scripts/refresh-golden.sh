#!/usr/bin/env bash
# Regenerates every golden file the tests compare against, in one go: the generated docs
# (docs/ops.md, docs/cli-reference.md), the bytecode disassemblies (Tests/Fixtures/bytecode)
# and the generated C (Tests/Fixtures/c). Review the diff: it shows what a change did to
# generated code. (FileCheck fixtures are hand-written and not regenerated.)
set -euo pipefail
cd "$(dirname "$0")"
./refresh-docs.sh
./refresh-golden-bytecode.sh
./refresh-golden-c.sh
