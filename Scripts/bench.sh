#!/usr/bin/env bash
# gradc vs peers (JAX, PyTensor, CasADi; NumPy as the hand-written reference), in ONE run.
#
#   Scripts/bench.sh [--quick] [--rounds N] [--only W,...] [--backends bytecode,c[,reference]]
#
# 1. Scripts/peers/setup.sh (pinned venv, idempotent), make_data.py (inputs as .npy).
# 2. Builds GradBench (release) and, per workload, ALTERNATES gradc (GradBench harness) and the
#    peers (bench_peers.py): round 1 gradc first, round 2 peers first, ... (--quick: all
#    workloads as one gradc block and one peers block, alternated the same way).
# 3. Checks every system's outputs against numpy (check_agreement.py: f64 <= 1e-10,
#    f32 <= 1e-4 relative to the max magnitude); exits 1 if a gradc output disagrees.
# 4. Prints ONE table (Scripts/bench/table.py) and writes it to out/bench-table.md.
#
# Workloads: mlp-small mlp-large rosenbrock arm compile scale (default: all).
# --quick: a ~1-minute smoke run (~30 s here; plus the release build and venv setup the first time):
#          one GradBench harness process and one Python process per peer for ALL workloads
#          (not one per workload), short measurements (>= 0.05 s each), one compile repetition,
#          scale at N = 10k only. Every workload x system still runs and every output is still
#          checked, except these rows, listed as "skipped in --quick" in the table: CasADi's
#          generated C (codegen + gcc -O3) for mlp-small (~5 s) and rosenbrock (40-55 s) and
#          in compile (~5 s), and PyTensor's cold compile (30-60 s; its warm compile runs).
#          CasADi's arm C (~3 s of gcc) still runs, so the generated-C path is exercised.
# GRADBENCH=/path/to/GradBench: use that release build instead of running swift build.
# All JSON lines of the run: out/bench-run.jsonl. Outputs: out/bench-results/<system>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
ROUNDS=1
ONLY="mlp-small,mlp-large,rosenbrock,arm,compile,scale"
BACKENDS="bytecode,c"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=(--quick); shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --backends) BACKENDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
COMMAND="Scripts/bench.sh ${QUICK[*]:-}"
[[ "$ROUNDS" != 1 ]] && COMMAND+=" --rounds $ROUNDS"
[[ "$ONLY" != "mlp-small,mlp-large,rosenbrock,arm,compile,scale" ]] && COMMAND+=" --only $ONLY"
[[ "$BACKENDS" != "bytecode,c" ]] && COMMAND+=" --backends $BACKENDS"

DATA=out/bench-data
RES=out/bench-results
RUN=out/bench-run.jsonl
START=$(date +%s)

bash Scripts/peers/setup.sh
PY="$ROOT/Scripts/peers/.venv/bin/python"
"$PY" Scripts/peers/make_data.py --out "$DATA" >&2
rm -rf "$RES"
mkdir -p "$RES"
: > "$RUN"

if [[ -n "${GRADBENCH:-}" ]]; then      # a prebuilt release GradBench: skip the build
  BENCH="$GRADBENCH"
else
  echo "bench.sh: building GradBench (release)" >&2
  swift build -c release --product GradBench >&2
  BENCH="$(swift build -c release --show-bin-path)/GradBench"
fi

CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# JSON lines only, without the peers' own agreement records (checked once at the end).
keep() { grep '^{' | grep -v '"check": *"agreement"' >> "$RUN" || true; }

gradc() {  # workload
  case "$1" in
    scale)
      local sizes=(10000 100000)
      [[ ${#QUICK[@]} -gt 0 ]] && sizes=(10000)
      "$PY" Scripts/bench/scale_gradc.py "$BENCH" "${sizes[@]}" "${QUICK[@]}" | keep ;;
    *)
      "$BENCH" harness --data "$DATA" --out "$RES" --only "$1" --backends "$BACKENDS" "${QUICK[@]}" | keep ;;
  esac
}

peers() {  # workload (full mode; --quick uses peers_all below)
  local systems="numpy,jax,pytensor,casadi"
  (cd Scripts/peers && "$PY" bench_peers.py --only "$1" --systems "$systems" \
      --data "$ROOT/$DATA" --out "$ROOT/$RES" "${QUICK[@]}") | keep
}

IFS=',' read -r -a WORKLOADS <<< "$ONLY"
if [[ ${#QUICK[@]} -gt 0 ]]; then
  # --quick: ONE GradBench harness process for all kernel workloads + compile, and ONE
  # bench_peers.py run (each peer imported once, for all workloads); rounds alternate blocks.
  KERNELS=()
  for w in "${WORKLOADS[@]}"; do [[ "$w" != scale ]] && KERNELS+=("$w"); done
  gradc_all() {
    if [[ ${#KERNELS[@]} -gt 0 ]]; then
      "$BENCH" harness --data "$DATA" --out "$RES" --only "$(IFS=,; echo "${KERNELS[*]}")" \
          --backends "$BACKENDS" --quick | keep
    fi
    [[ ",$ONLY," == *,scale,* ]] && gradc scale
    return 0
  }
  peers_all() {
    (cd Scripts/peers && "$PY" bench_peers.py --only "$ONLY" --systems numpy,jax,pytensor,casadi \
        --data "$ROOT/$DATA" --out "$ROOT/$RES" --quick) | keep
  }
  for ((round = 0; round < ROUNDS; round++)); do
    if (( round % 2 == 0 )); then
      echo "bench.sh: round $((round + 1)) (quick, $ONLY): gradc, then peers" >&2
      gradc_all; peers_all
    else
      echo "bench.sh: round $((round + 1)) (quick, $ONLY): peers, then gradc" >&2
      peers_all; gradc_all
    fi
  done
  ROUNDS=0    # the per-workload loop below is the full mode's
fi
for ((round = 0; round < ROUNDS; round++)); do
  for w in "${WORKLOADS[@]}"; do
    if (( round % 2 == 0 )); then
      echo "bench.sh: round $((round + 1)) $w: gradc, then peers" >&2
      gradc "$w"; peers "$w"
    else
      echo "bench.sh: round $((round + 1)) $w: peers, then gradc" >&2
      peers "$w"; gradc "$w"
    fi
  done
done

# Agreement of every system's outputs (gradc-* included) with numpy.
(cd Scripts/peers && "$PY" check_agreement.py --out "$ROOT/$RES") | grep '^{' >> "$RUN" || true

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
ELAPSED=$(( $(date +%s) - START ))
MACHINE="nproc $(nproc), CPU \"$CPU\", $(uname -sr); load average $LOAD_START at start, $LOAD_END at end; $(date -u +%Y-%m-%dT%H:%MZ), ${ELAPSED} s wall"
"$PY" Scripts/bench/table.py "$RUN" --machine "$MACHINE" --command "$COMMAND" --out out/bench-table.md

if grep '"check": *"agreement"' "$RUN" | grep '"system": *"gradc' | grep -q '"ok": *false'; then
  echo "bench.sh: a gradc output DISAGREES with numpy (see the table)" >&2
  exit 1
fi
