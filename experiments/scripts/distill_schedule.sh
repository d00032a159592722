#!/usr/bin/env bash
# The zoo's learned LR schedule (cartpole_lr_schedule: 8 knots, meta-trained on CartPole 32k) distilled into a
# formula lr(p) = exp(e(p)), twice: Operon's chosen expression (node budget 20) and the shortest that fits
# (budget 5: an exponential decay). Then each student vs PPO tuned at the same budget under the evaluation
# protocol (as experiments/scripts/zoo_candidates.sh evaluated the teacher: same grid, tuning seeds and 16
# evaluation seeds), on CartPole (the teacher's task) and Acrobot (held out), for experiments/reports/distill.md.
#   bash experiments/scripts/distill_schedule.sh distill   # experiments/reports/distill/schedule_{symbolic,short}/
#   bash experiments/scripts/distill_schedule.sh compare   # experiments/reports/distill/schedule_*/protocol.json
# Pinned to one core with single-threaded XLA (CORE chooses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/distill
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
GRID=(--tune "lr=1e-3,3e-3,1e-2,3e-2" --tune "anneal_lr=false,true" --tune-seeds 8 --seeds 16)
case "${1:?step: distill | compare}" in
  distill)
    pin .venv/bin/metalearn distill discovered:cartpole_lr_schedule --into symbolic --preset cartpole \
      --budget 32768 --out "$OUT/schedule_symbolic"
    pin .venv/bin/metalearn distill discovered:cartpole_lr_schedule --into symbolic --preset cartpole \
      --budget 32768 --max-length 5 --out "$OUT/schedule_short" ;;
  compare)
    for student in schedule_symbolic schedule_short; do
      pin .venv/bin/metalearn eval "$OUT/$student/student.npz" "${GRID[@]}" --preset cartpole --preset acrobot \
        --budget 32768 --json "$OUT/$student/protocol.json"
    done ;;
  *) echo "unknown step $1; allowed: distill | compare" >&2; exit 2 ;;
esac
