#!/usr/bin/env bash
# Regenerates docs/ops.md from the op table and docs/cli-reference.md from the verbs' --help.
# Tests fail when either file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
swift run -q gradc doc ops > docs/ops.md
swift run -q gradc doc cli > docs/cli-reference.md
echo "wrote docs/ops.md and docs/cli-reference.md"
