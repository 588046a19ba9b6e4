#!/usr/bin/env bash
# Data-parallel training of the digits classifier with Open MPI (docs/scaling-out.md).
#
#   Examples/mpi-train/run.sh [-np P] [train options…]    train with P processes (default 2)
#   Examples/mpi-train/run.sh --check [STEPS]              1, 2 and 4 processes, STEPS updates
#                                                          each (default 40): same parameters?
#
# Installs Debian's openmpi-bin and libopenmpi-dev when mpicc or mpirun is missing (as root;
# otherwise it exits 3 saying so),
# compiles model.ir with `gradc compile --backend c`, builds train.c with mpicc against the
# generated model.c, and runs it with mpirun (--oversubscribe: more processes than cores is
# fine for the check). Training options: --epochs E, --steps S, --micro M, --dump FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing Open MPI (Debian: openmpi-bin libopenmpi-dev)" >&2
    (apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; })
  else
    echo "run.sh: Open MPI is missing (mpicc, mpirun): install openmpi-bin and libopenmpi-dev" >&2
    exit 3
  fi
fi
out=out/mpi-train
gradc=.build/debug/gradc
[ -x "$gradc" ] || swift build --product gradc
"$gradc" compile Examples/mpi-train/model.ir --backend c -o "$out" >/dev/null
mpicc -O2 -ffp-contract=off -I "$out" Examples/mpi-train/train.c "$out/model.c" -lm -o "$out/train"
# mpirun refuses to run as root unless told; processes beyond the core count are fine here.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() { mpirun --oversubscribe --bind-to none -np "$1" "$out/train" Examples/data/digits.csv "${@:2}"; }

if [ "${1:-}" = --check ]; then
  steps="${2:-40}"
  for p in 1 2 4; do mpi "$p" --steps "$steps" --dump "$out/params-$p.bin" | tail -1; done
  python3 - "$out" <<'PY'
import struct, sys
out = sys.argv[1]
def params(p):
    data = open(f"{out}/params-{p}.bin", "rb").read()
    return struct.unpack(f"<{len(data) // 8}d", data)
one = params(1)
scale = max(abs(v) for v in one)
# Tolerance: the allreduce sums in another order than one process does (relative rounding
# of about 1e-16 per step, grown by the momentum over the steps); 1e-10 of the largest
# parameter leaves a wide margin and still catches a wrong shard, batch or update.
tolerance = 1e-10 * scale
worst = 0.0
for p in (2, 4):
    other = params(p)
    assert len(other) == len(one), "parameter counts differ"
    diff = max(abs(a - b) for a, b in zip(one, other))
    worst = max(worst, diff)
    print(f"{p} processes vs 1: {len(one)} parameters, max |difference| {diff:.3e} (largest parameter {scale:.3f}, tolerance {tolerance:.1e})")
sys.exit(0 if worst <= tolerance else 1)
PY
  exit $?
fi
np=2
if [ "${1:-}" = -np ]; then np="$2"; shift 2; fi
mpi "$np" "$@"
