#!/bin/sh
# Regenerates the golden bytecode disassembly in Tests/Fixtures/bytecode/ from the current
# compiler, and writes the frozen file of the current format version (every-op-vN.gbc and its
# listing) if it does not exist yet — an existing frozen file is never rewritten. Review the
# diff (git diff Tests/Fixtures/bytecode) before committing.
set -eu
cd "$(dirname "$0")/.."
GRADC_REFRESH_GOLDEN=1 swift test --filter 'GoldenDisassemblyTests.testGoldenDisassembly|OpIdentityTests.testFrozenFileOfThisVersion'
git status --short Tests/Fixtures/bytecode
