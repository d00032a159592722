#!/usr/bin/env bash
# The zoo's learned LR schedule (cartpole_lr_schedule: 8 knots, meta-trained on CartPole 32k) distilled into a
# formula lr(p) = exp(e(p)), twice: Operon's chosen expression (node budget 20) and the shortest that fits
# (budget 5: an exponential decay). Then each student vs PPO tuned at the same budget through the evaluation
# engine, on CartPole (the teacher's task) and Acrobot (held out), for experiments/reports/distill.md.
#   bash experiments/scripts/distill_schedule.sh distill   # experiments/reports/distill/schedule_{symbolic,short}/
#   bash experiments/scripts/distill_schedule.sh compare   # spec experiments/specs/distill_schedule.yaml: teacher
#       and students vs PPO tuned at each budget, at 1/2x, 1x and 2x the horizon, students vs teacher
#       (experiments/reports/compare/distill_schedule/). The first results (PPO tuned on 8 seeds by mean), in
#       experiments/reports/distill/schedule_*/protocol.json and schedule_horizons/, came from this script's
#       compare / horizons / report steps at commit 78fd5ba.
# Pinned to one core with single-threaded XLA (CORE chooses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/distill
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
case "${1:?step: distill | compare}" in
  distill)
    pin .venv/bin/metalearn distill experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz --into symbolic --preset cartpole \
      --budget 32768 --out "$OUT/schedule_symbolic"
    pin .venv/bin/metalearn distill experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz --into symbolic --preset cartpole \
      --budget 32768 --max-length 5 --out "$OUT/schedule_short" ;;
  compare)  # students and teacher vs PPO tuned at each budget, at 1/2x, 1x and 2x the horizon, through the engine
    CORE=$CORE bash experiments/scripts/compare_specs.sh distill_schedule ;;
  *) echo "unknown step $1; allowed: distill | compare" >&2; exit 2 ;;
esac
