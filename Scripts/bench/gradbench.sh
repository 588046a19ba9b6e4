#!/usr/bin/env bash
# gradc against the GradBench suite's hand-written C++ tool ("manual"), in the suite's own evals.
#
#   Scripts/bench/gradbench.sh SUITE [--quick] [--peers adolc,jax,pytorch] [EVAL ...]
#
# SUITE is a GradBench work tree (github.com/gradbench/gradbench; at least python/, cpp/,
# tools/manual/ and evals/EVAL/). EVAL: hello lse llsq kmeans gmm ode lstm det ba ht particle saddle
# (default: all but hello). ht runs the eval's default variant (complicated, big model; the
# simple one is `--variant simple` of the eval, not run here). particle and saddle have no manual
# tool in the suite (their evals check a hard-coded answer): gradc alone, no ratio. For each
# eval, ../shared/gradbench/run_eval.py (or $RUN_EVAL) connects the suite's eval program to
# manual and then to gradc-gradbench, each with --min-runs 3 --min-seconds 0.2 (a median that
# leaves out gradc's first, compiling run); summarize.py prints the times and gradc ÷ manual
# per workload and per eval (geometric mean).
#
# --quick: a subset of each eval's default workloads (the eval's own -n/-k/-d/-s options, listed
#          below), so that the whole run takes a few minutes; without it, the defaults.
#
# --peers LIST: also run the suite's own tools for these peers (comma-separated: adolc, jax,
#          pytorch), in the same run, on the same evals and workloads, each on the evals its
#          SUITE/tools/TOOL/evals.txt lists (others show "unsupported"). adolc is the suite's
#          tools/adol-c (cpp.py adol-c; built with its Makefile against Debian's libadolc-dev);
#          jax and pytorch are the suite's python/gradbench/gradbench/tools/{jax,pytorch}/run.py,
#          with jax and torch from PyPI (CPU) in the venv. All single-threaded: OMP_NUM_THREADS=1
#          (also torch's intra-op threads), MKL/OPENBLAS threads 1, XLA_FLAGS without Eigen's
#          thread pool (the jax tool also pins itself to CPU 0). The jax tool runs under
#          Scripts/bench/gradbench-jax-sync.py, which makes jitted calls wait for their result:
#          the suite's tool times an asynchronous dispatch otherwise (see that file).
#
# Sets up, the first time: a venv .build/gradbench-venv with the evals' Python dependencies
# (numpy, scipy, pydantic, dataclasses-json, from PyPI), the manual tool (g++; json.hpp from
# Debian's nlohmann-json3-dev, copied into SUITE/cpp/ if absent: the suite's Makefile would
# download it), and gradc-gradbench (swift build -c release). Nothing of the suite is copied
# into this repository. Logs: .build/gradbench-logs/EVAL-TOOL.jsonl (+ .meta.json, stderr).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SUITE="${1:?usage: Scripts/bench/gradbench.sh SUITE [--quick] [EVAL ...]}"
shift
SUITE="$(cd "$SUITE" && pwd)"
QUICK=no
EVALS=()
PEERS=()
want_peers=no
for a in "$@"; do
  if [ "$want_peers" = yes ]; then
    IFS=, read -r -a PEERS <<<"$a"
    want_peers=no
    continue
  fi
  case "$a" in
    --quick) QUICK=yes ;;
    --peers) want_peers=yes ;;
    --peers=*) IFS=, read -r -a PEERS <<<"${a#--peers=}" ;;
    hello|lse|llsq|kmeans|gmm|ode|lstm|det|ba|ht|particle|saddle) EVALS+=("$a") ;;
    *) echo "gradbench.sh: unknown argument '$a' (evals: hello lse llsq kmeans gmm ode lstm det ba ht particle saddle)" >&2; exit 2 ;;
  esac
done
[ "$want_peers" = no ] || { echo "gradbench.sh: --peers needs a list (adolc,jax,pytorch)" >&2; exit 2; }
[ ${#EVALS[@]} -gt 0 ] || EVALS=(lse llsq kmeans gmm ode lstm det ba ht particle saddle)
for p in ${PEERS[@]+"${PEERS[@]}"}; do
  case "$p" in
    adolc|jax|pytorch) ;;
    *) echo "gradbench.sh: unknown peer '$p' (peers: adolc jax pytorch)" >&2; exit 2 ;;
  esac
done
has_peer() { local p; for p in ${PEERS[@]+"${PEERS[@]}"}; do [ "$p" = "$1" ] && return 0; done; return 1; }
RUN_EVAL="${RUN_EVAL:-$ROOT/../shared/gradbench/run_eval.py}"
SUMMARIZE="$(dirname "$RUN_EVAL")/summarize.py"
[ -f "$RUN_EVAL" ] || { echo "gradbench.sh: no run_eval.py at $RUN_EVAL (set RUN_EVAL)" >&2; exit 2; }

# Workload options per eval for --quick (the eval's defaults otherwise).
quick_args() {
  case "$1" in
    lse) echo "-n 2500 20000 160000" ;;
    llsq) echo "-n 16 256 4096 16392" ;;
    kmeans) echo "-k 10 100 -n 1000 10000 -d 8 16" ;;
    gmm) echo "-d 2 10 32 -k 5 25" ;;
    ode) echo "-n 1000 10000 -s 1 10" ;;
    lstm) echo "-l 2 4 -c 1024 4096" ;;
    ba) echo "--min 1 --max 5" ;;
    ht) echo "--min 1 --max 4" ;;
    det) echo "-l 5 8 11" ;;
    *) echo "" ;;
  esac
}

VENV="$ROOT/.build/gradbench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import numpy, scipy, pydantic, dataclasses_json" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy scipy pydantic dataclasses-json
fi
if has_peer jax && ! "$VENV/bin/python" -c "import jax" 2>/dev/null; then
  "$VENV/bin/pip" install -q jax
fi
if has_peer pytorch && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/pip" install -q torch
fi
if has_peer adolc; then
  [ -f "$SUITE/tools/adol-c/Makefile" ] || { echo "gradbench.sh: no $SUITE/tools/adol-c (the suite's ADOL-C tool)" >&2; exit 2; }
  [ -f /usr/include/adolc/adolc.h ] || { echo "gradbench.sh: needs ADOL-C: apt-get install libadolc-dev" >&2; exit 2; }
fi
# Single-threaded peers (the variables are harmless to manual and gradc).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
# The evals a tool of the suite implements (its evals.txt); gradc: all; manual: all but
# particle and saddle.
tool_has_eval() {
  local dir
  case "$1/$2" in
    manual/particle|manual/saddle) return 1 ;;
  esac
  case "$1" in
    adolc) dir="$SUITE/tools/adol-c" ;;
    jax|pytorch) dir="$SUITE/tools/$1" ;;
    *) return 0 ;;
  esac
  [ -f "$dir/evals.txt" ] || return 0
  grep -qx "$2" "$dir/evals.txt"
}
if [ ! -f "$SUITE/cpp/json.hpp" ]; then
  [ -f /usr/include/nlohmann/json.hpp ] || { echo "gradbench.sh: needs json.hpp: apt-get install nlohmann-json3-dev" >&2; exit 2; }
  cp /usr/include/nlohmann/json.hpp "$SUITE/cpp/json.hpp"
fi
for e in "${EVALS[@]}"; do
  tool_has_eval manual "$e" || continue
  make -s -C "$SUITE/tools/manual" "bin/$e" >/dev/null
done
TOOLS=(manual gradc ${PEERS[@]+"${PEERS[@]}"})
(cd "$ROOT" && swift build -c release --product gradc-gradbench >/dev/null)
TOOL="$ROOT/.build/release/gradc-gradbench --models $ROOT/Examples/gradbench"

LOGS="$ROOT/.build/gradbench-logs"
mkdir -p "$LOGS"
ARGS=()
for e in "${EVALS[@]}"; do
  extra=""
  [ "$QUICK" = yes ] && extra="$(quick_args "$e")"
  eval_cmd="PYTHONPATH=python/gradbench $VENV/bin/python python/gradbench/gradbench/evals/$e/run.py --min-runs 3 --min-seconds 0.2 $extra"
  for tool in "${TOOLS[@]}"; do
    if ! tool_has_eval "$tool" "$e"; then
      echo "== $e: $tool (not in its evals.txt: unsupported)" >&2
      continue
    fi
    case "$tool" in
      manual) cmd="$VENV/bin/python python/gradbench/gradbench/cpp.py manual" ;;
      gradc) cmd="$TOOL" ;;
      adolc) cmd="$VENV/bin/python python/gradbench/gradbench/cpp.py adol-c" ;;
      jax) cmd="PYTHONPATH=python/gradbench $VENV/bin/python $ROOT/Scripts/bench/gradbench-jax-sync.py python/gradbench/gradbench/tools/jax/run.py" ;;
      pytorch) cmd="PYTHONPATH=python/gradbench $VENV/bin/python python/gradbench/gradbench/tools/pytorch/run.py" ;;
    esac
    echo "== $e: $tool" >&2
    python3 "$RUN_EVAL" --quiet --cwd "$SUITE" --log "$LOGS/$e-$tool.jsonl" --eval "$eval_cmd" --tool "$cmd" >&2 || true
    ARGS+=("$tool=$LOGS/$e-$tool.jsonl")
  done
done
echo "Load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'); cores: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")"
TOOLLIST="$(IFS=,; echo "${TOOLS[*]}")"
python3 "$SUMMARIZE" --base manual --tools "$TOOLLIST" --sessions "${ARGS[@]}"
