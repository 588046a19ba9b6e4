#!/usr/bin/env bash
# Regenerates docs/ops.md from the op table. A test fails when the file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
swift run -q gradc doc ops > docs/ops.md
echo "wrote docs/ops.md"
