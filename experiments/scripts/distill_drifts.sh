#!/usr/bin/env bash
# LPO and TA-LPO (meta-trained on CartPole at 32,768 steps, experiments/reports/lpo.md) distilled into a small
# MLP and a closed form, then teacher vs students vs PPO-clip/DPO side by side on CartPole (the meta-training
# task) and Acrobot (held out), for experiments/reports/distill.md.
#   bash experiments/scripts/distill_drifts.sh distill    # the four students (experiments/reports/distill/*/)
#   bash experiments/scripts/distill_drifts.sh compare    # the two comparisons (metalearn compare)
# Pinned to one core with single-threaded XLA (set CORE to choose it), as the report's timings assume.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/distill
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
case "${1:?step: distill | compare}" in
  distill)
    for teacher in lpo ta_lpo; do
      for into in mlp:8 symbolic; do
        pin .venv/bin/metalearn distill "experiments/reports/lpo_cpu/${teacher}_cartpole_mean.npz" --into "$into" \
          --preset cartpole --budget 32768 --seeds 2 --samples 20000 \
          $([ "$into" = symbolic ] && echo --generations 200 --population 1000 --max-length 20) \
          --out "$OUT/${teacher}_${into%%:*}"
      done
    done ;;
  compare)
    for env in cartpole acrobot; do
      pin .venv/bin/metalearn compare "experiments/specs/distill_${env}_32768.yaml" \
        --out "experiments/reports/compare/distill_${env}_32768"
    done ;;
  *) echo "unknown step $1; allowed: distill | compare" >&2; exit 2 ;;
esac
