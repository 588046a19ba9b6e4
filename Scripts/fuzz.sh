#!/usr/bin/env bash
# Runs the libFuzzer targets for a set time each, from a seed corpus of every fixture.
#
#   Scripts/fuzz.sh [SECONDS] [ir|gbc|gbcrun|npy]...      (default: 600 seconds, every target)
#
# - GradFuzzIR  (.ir parser + type checker, print/parse round trip, differentiate, optimize,
#   reference and VM evaluation of small functions): seeds are Tests/Fixtures/*.ir,
#   Examples/*.ir and Tests/Fixtures/regressions/*.ir; dictionary Tests/Fuzz/ir.dict.
# - GradFuzzGBC (.gbc decoder + VM linker/validator + run): seeds are every function of every
#   .ir seed compiled with `gradc compile --backend bytecode`, plus regressions/*.gbc.
# - GradFuzzGBCRun (`gradc run MODEL.gbc` as the command runs it: Pipeline.linkBytecode, then
#   Pipeline.runBytecode with inputs made from the file's declared bindings): the same seeds.
# - GradFuzzNPY (.npy reader, and write/read round trip of what it accepts): seeds are
#   Tests/Fixtures/npy/*.npy and regressions/*.npy.
#
# Built with -sanitize=fuzzer,address into .build/fuzz (the normal build is untouched).
# Corpora, logs and crash files go to out/fuzz/. A crash file is replayed with the normal
# build: `swift run GradFuzzIR out/fuzz/ir-crash-…`; once fixed, copy it to
# Tests/Fixtures/regressions/ (RegressionFixtureTests replays every file there).
# One job per target (-jobs is not used: the machine's cores are shared).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(ir gbc gbcrun npy)

out=out/fuzz
mkdir -p "$out"
flags=(--scratch-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING)

# The fuzz build is rebuilt from clean whenever the sources changed since the last one:
# SwiftPM's incremental build does not always recompile a module's clients when a struct's
# stored layout changes in the module they import. When `VMLimits` gained two stored fields,
# FuzzGBC.swift kept the old one-field layout, so it and `VirtualMachine.init` disagreed on
# where the arguments and the typed-error slot were; the `Diagnostic` thrown by the VM was
# then read from uninitialized stack memory and crashed when destroyed (RELIABILITY.md).
stamp=$({ git rev-parse HEAD; git diff HEAD -- Sources Tests/Fuzz Package.swift; git status --porcelain -- Sources Tests/Fuzz Package.swift; } | cksum)
if [ "$(cat .build/fuzz/sources.stamp 2>/dev/null)" != "$stamp" ]; then rm -rf .build/fuzz; fi

seed_ir() {
  local dir="$out/ir-seeds"
  rm -rf "$dir" && mkdir -p "$dir"
  cp Tests/Fixtures/*.ir Examples/*.ir "$dir"/
  cp Tests/Fixtures/regressions/*.ir "$dir"/ 2>/dev/null || true
}

seed_gbc() {  # seed_gbc TARGET: into $out/TARGET-seeds
  local dir="$out/$1-seeds"
  rm -rf "$dir" && mkdir -p "$dir"
  swift build --product gradc >/dev/null
  for model in Tests/Fixtures/*.ir Examples/*.ir; do
    for name in $(sed -n 's/^func \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$model"); do
      .build/debug/gradc compile "$model" --backend bytecode --func "$name" \
        -o "$dir/$(basename "$model" .ir)-$name.gbc" >/dev/null 2>&1 || true
    done
  done
  cp Tests/Fixtures/regressions/*.gbc "$dir"/ 2>/dev/null || true
}

seed_npy() {
  local dir="$out/npy-seeds"
  rm -rf "$dir" && mkdir -p "$dir"
  cp Tests/Fixtures/npy/*.npy "$dir"/
  cp Tests/Fixtures/regressions/*.npy "$dir"/ 2>/dev/null || true
}

for target in "${targets[@]}"; do
  case "$target" in
    ir) product=GradFuzzIR; seed_ir; extra=(-dict=Tests/Fuzz/ir.dict -max_len=4096) ;;
    gbc) product=GradFuzzGBC; seed_gbc gbc; extra=(-max_len=65536) ;;
    gbcrun) product=GradFuzzGBCRun; seed_gbc gbcrun; extra=(-max_len=65536) ;;
    npy) product=GradFuzzNPY; seed_npy; extra=(-max_len=65536) ;;
    *) echo "unknown target '$target' (ir, gbc, gbcrun or npy)" >&2; exit 2 ;;
  esac
  swift build "${flags[@]}" --product "$product"
  echo "$stamp" > .build/fuzz/sources.stamp
  binary=".build/fuzz/debug/$product"
  mkdir -p "$out/$target-corpus"
  echo "fuzzing $product for $seconds s (log: $out/$target.log)"
  # The Swift runtime's backtracer would catch the trap before libFuzzer records the input.
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$binary" "$out/$target-corpus" "$out/$target-seeds" \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$out/$target-" "${extra[@]}" >"$out/$target.log" 2>&1 || true
  grep -E "^(stat::|#[0-9]+ *(DONE|INITED))|SUMMARY|Test unit written" "$out/$target.log" || true
  found=$(find "$out" -maxdepth 1 \( -name "$target-crash-*" -o -name "$target-timeout-*" -o -name "$target-oom-*" \) | sort)
  if [ -n "$found" ]; then echo "$found"; else echo "no crash, timeout or oom files"; fi
done
