#!/bin/sh
# Regenerates the golden bytecode disassembly in Tests/Fixtures/bytecode/ from the current
# compiler. Review the diff (git diff Tests/Fixtures/bytecode) before committing.
set -eu
cd "$(dirname "$0")/.."
GRADC_REFRESH_GOLDEN=1 swift test --filter GoldenDisassemblyTests.testGoldenDisassembly
git status --short Tests/Fixtures/bytecode
