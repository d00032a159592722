#!/usr/bin/env bash
# The zoo's learned LR schedule (cartpole_lr_schedule: 8 knots, meta-trained on CartPole 32k) distilled into a
# formula lr(p) = exp(e(p)), twice: Operon's chosen expression (node budget 20) and the shortest that fits
# (budget 5: an exponential decay). Then each student vs PPO tuned at the same budget under the evaluation
# protocol (as experiments/scripts/zoo_candidates.sh evaluated the teacher: same grid, tuning seeds and 16
# evaluation seeds), on CartPole (the teacher's task) and Acrobot (held out), for experiments/reports/distill.md.
#   bash experiments/scripts/distill_schedule.sh distill   # experiments/reports/distill/schedule_{symbolic,short}/
#   bash experiments/scripts/distill_schedule.sh compare   # experiments/reports/distill/schedule_*/protocol.json
#   bash experiments/scripts/distill_schedule.sh horizons  # teacher and students at 1/2x and 2x the horizon
#   bash experiments/scripts/distill_schedule.sh report    # the tables of distill.md (students vs PPO, vs teacher)
# Pinned to one core with single-threaded XLA (CORE chooses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/distill
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
GRID=(--tune "lr=1e-3,3e-3,1e-2,3e-2" --tune "anneal_lr=false,true" --tune-seeds 8 --seeds 16)
case "${1:?step: distill | compare | horizons | report}" in
  distill)
    pin .venv/bin/metalearn distill experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz --into symbolic --preset cartpole \
      --budget 32768 --out "$OUT/schedule_symbolic"
    pin .venv/bin/metalearn distill experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz --into symbolic --preset cartpole \
      --budget 32768 --max-length 5 --out "$OUT/schedule_short" ;;
  compare)
    for student in schedule_symbolic schedule_short; do
      pin .venv/bin/metalearn eval "$OUT/$student/student.npz" "${GRID[@]}" --preset cartpole --preset acrobot \
        --budget 32768 --json "$OUT/$student/protocol.json"
    done ;;
  horizons)  # held-out horizons: the knots and the formulas are in progress, so they stretch with N
    mkdir -p "$OUT/schedule_horizons"
    for name in teacher schedule_symbolic schedule_short; do
      target="$OUT/$name/student.npz"
      [ "$name" = teacher ] && target=experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz
      pin .venv/bin/metalearn eval "$target" "${GRID[@]}" --preset cartpole --preset acrobot --budget 16384,65536 \
        --json "$OUT/schedule_horizons/$name.json"
    done ;;
  report)
    TEACHER=experiments/reports/zoo/candidates/tuned_schedule.json  # zoo_candidates.sh's, on the same seeds
    .venv/bin/python experiments/scripts/zoo_report.py "$TEACHER" "$OUT"/schedule_{symbolic,short}/protocol.json
    .venv/bin/python experiments/scripts/zoo_report.py --versus "$TEACHER" \
      "$OUT"/schedule_{symbolic,short}/protocol.json
    H="$OUT/schedule_horizons"
    if [ -f "$H/schedule_short.json" ]; then
      .venv/bin/python experiments/scripts/zoo_report.py "$H"/{teacher,schedule_symbolic,schedule_short}.json
      .venv/bin/python experiments/scripts/zoo_report.py --versus "$H/teacher.json" "$H"/schedule_{symbolic,short}.json
    fi ;;
  *) echo "unknown step $1; allowed: distill | compare | horizons | report" >&2; exit 2 ;;
esac
