#!/usr/bin/env bash
# Published OPEN (Breakout weights) distilled into a 16-unit OPEN without its GRU, then teacher vs student vs
# Adam side by side on Breakout (the weights' meta-training game) and SpaceInvaders (held out), at CPU budgets,
# for experiments/reports/distill.md.
#   bash experiments/scripts/distill_open.sh distill    # the student (experiments/reports/distill/open_mlp/)
#   bash experiments/scripts/distill_open.sh compare    # the two comparisons (metalearn compare)
# and the same teacher distilled into a formula of OPEN's features (same recording settings), with Adam run
# again on the same seeds beside it:
#   bash experiments/scripts/distill_open.sh symbolic           # experiments/reports/distill/open_symbolic/
#   bash experiments/scripts/distill_open.sh compare-symbolic   # experiments/reports/compare/distill_open_symbolic_*/
# Pinned to one core with single-threaded XLA (set CORE to choose it), as the report's timings assume.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/distill
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
case "${1:?step: distill | compare | symbolic | compare-symbolic}" in
  distill)
    pin .venv/bin/metalearn distill published:breakout --into mlp:16 --preset breakout --budget 500000 \
      --seeds 2 --samples 50000 --out "$OUT/open_mlp" ;;
  compare)
    for env in breakout spaceinvaders; do
      pin .venv/bin/metalearn compare "experiments/specs/distill_open_${env}.yaml" \
        --out "experiments/reports/compare/distill_open_${env}"
    done ;;
  symbolic)
    pin .venv/bin/metalearn distill published:breakout --into symbolic --preset breakout --budget 500000 \
      --seeds 2 --samples 50000 --out "$OUT/open_symbolic" ;;
  compare-symbolic)
    for env in breakout spaceinvaders; do
      pin .venv/bin/metalearn compare "experiments/specs/distill_open_symbolic_${env}.yaml" \
        --out "experiments/reports/compare/distill_open_symbolic_${env}"
    done ;;
  *) echo "unknown step $1; allowed: distill | compare | symbolic | compare-symbolic" >&2; exit 2 ;;
esac
