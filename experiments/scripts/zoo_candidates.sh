#!/usr/bin/env bash
# The zoo's candidates under the evaluation protocol (issue 19; experiments/reports/zoo.md): each rule the
# project meta-trained on CartPole vs the baseline tuned at the same budget (lr x annealing, successive halving),
# on 16 fresh seeds, on CartPole (its meta-training task) and Acrobot (held out).
#   bash experiments/scripts/zoo_candidates.sh STEP...   steps: demo lpo ta_lpo lpg tuned_schedule horizons catch zoo
# Writes experiments/reports/zoo/candidates/STEP*.json and the results folder STEP*/ (its table.md); `zoo`
# adds the candidates that earn it to metalearn/zoo/ (`metalearn zoo-add`). Pinned to one core with
# single-threaded XLA (CORE chooses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/zoo/candidates
mkdir -p "$OUT"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
pin() { taskset -c "$CORE" "$@"; }
LPG_A2C="--baseline-set algorithm=a2c --baseline-set vf_coef=0.5 --baseline-set aux_head_dim=0"
GRID=(--tune "lr=1e-3,3e-3,1e-2,3e-2" --tune "anneal_lr=false,true" --tune-seeds 8 --seeds 16)
protocol() {  # NAME TARGET ARGS...: one `metalearn eval` on the protocol, its table and its JSON
  local name=$1 target=$2; shift 2
  pin .venv/bin/metalearn eval "$target" "${GRID[@]}" "$@" --out "$OUT/$name" --json "$OUT/$name.json"
}
train() {  # EXPERIMENT RUN_DIR: meta-train unless the run is there (resume it if it stopped)
  if [ -f "$2/result.json" ]; then return; fi
  if [ -d "$2" ]; then pin .venv/bin/metalearn resume "$2" --quiet; else
    pin .venv/bin/metalearn train "$1" --run-dir "$2" --quiet; fi
}
add() {  # NAME RUN_DIR_OR_RULE EXPERIMENT SUMMARY EVAL_ARGS SMOKE_ARGS: into the zoo if the protocol lets it in
  pin .venv/bin/metalearn zoo-add "$1" "$2" --experiment "$3" --summary "$4" \
    --eval "${GRID[*]} $5" --smoke "$6" --evaluations experiments/reports/zoo/evaluations
}
for step in "${@:?steps: demo lpo ta_lpo lpg tuned_schedule horizons catch zoo}"; do
  case "$step" in
    demo)  # make demo's learned LR schedule (30 generations from a too-small 1e-4)
      train cartpole_lr_schedule experiments/reports/zoo/runs/demo
      protocol demo experiments/reports/zoo/runs/demo --preset cartpole --preset acrobot --budget 32768 ;;
    lpo | ta_lpo)  # experiments/reports/lpo.md's rules; as meta-trained (lr 2.5e-4), and at PPO's tuned values
      protocol "$step" "experiments/reports/lpo_cpu/${step}_cartpole_mean.npz" --preset cartpole --preset acrobot \
        --budget 32768
      protocol "${step}_at_tuned" "experiments/reports/lpo_cpu/${step}_cartpole_mean.npz" --preset cartpole \
        --preset acrobot --budget 32768 --rule-tuned ;;
    lpg)  # experiments/reports/lpg.md's rule vs A2C (with a value loss) in the same 20-step, one-update agent
      protocol lpg experiments/reports/lpg_cpu/lpg_cartpole_mean.npz --preset cartpole-lpg --budget 32000 $LPG_A2C ;;
    tuned_schedule)  # an LR schedule started at the tuned constant 1e-2, 60 generations x 16 x 4 seeds
      train metalearn/experiments/cartpole_lr_schedule_tuned.yaml experiments/reports/zoo/runs/tuned_schedule
      protocol tuned_schedule experiments/reports/zoo/runs/tuned_schedule --preset cartpole --preset acrobot \
        --budget 32768 ;;
    horizons)  # the tuned schedule at half and twice the horizon it was meta-trained at (its knots are in progress)
      for budget in 16384 65536; do
        protocol "tuned_schedule_$budget" experiments/reports/zoo/runs/tuned_schedule --preset cartpole \
          --preset acrobot --budget "$budget"
      done ;;
    catch)  # a third environment, held out too: bsuite's Catch with CartPole's PPO settings
      protocol tuned_schedule_catch experiments/reports/zoo/runs/tuned_schedule --preset cartpole \
        --env Catch-bsuite --budget 32768 ;;
    zoo)  # what matched or beat its tuned baseline on its meta-training task (experiments/reports/zoo.md)
      SMOKE="--preset cartpole --budget 2048 --tune lr=1e-3,1e-2 --tune-seeds 2 --seeds 2"
      add cartpole_lr_schedule experiments/reports/zoo/runs/tuned_schedule \
        metalearn/experiments/cartpole_lr_schedule_tuned.yaml \
        "Adam's 8-knot learning-rate schedule for PPO, meta-trained on CartPole (32k steps) from the tuned 1e-2" \
        "--preset cartpole --preset acrobot --budget 32768" "$SMOKE"
      add cartpole_lr_schedule_demo experiments/reports/zoo/runs/demo metalearn/experiments/cartpole_lr_schedule.yaml \
        "make demo's learning-rate schedule for PPO (CartPole, 32k steps, 30 generations from 1e-4)" \
        "--preset cartpole --preset acrobot --budget 32768" "$SMOKE"
      add cartpole_ta_lpo experiments/reports/lpo_cpu/ta_lpo_cartpole_mean.npz metalearn/experiments/ta_lpo_cartpole_cpu.yaml \
        "TA-LPO drift meta-trained on CartPole (32k steps); use it at PPO's tuned lr (--rule-tuned)" \
        "--preset cartpole --preset acrobot --budget 32768 --rule-tuned" "$SMOKE --rule-tuned"
      add cartpole_lpg experiments/reports/lpg_cpu/lpg_cartpole_mean.npz metalearn/experiments/lpg_cartpole_cpu.yaml \
        "LPG meta-trained from scratch on CartPole (32k-step agents, 20-step rollouts)" \
        "--preset cartpole-lpg --budget 32000 $LPG_A2C" "--preset cartpole-lpg --budget 1920 $LPG_A2C \
        --tune lr=1e-3,3e-3 --tune-seeds 2 --seeds 2" ;;
    *) echo "unknown step $step; allowed: demo lpo ta_lpo lpg tuned_schedule horizons catch zoo" >&2; exit 2 ;;
  esac
done
