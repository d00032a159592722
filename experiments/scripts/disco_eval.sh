#!/usr/bin/env bash
# Disco103 vs hand-designed baselines tuned at the same budget (the `metalearn eval` protocol), for
# experiments/reports/disco.md. Each row writes its printed table to experiments/reports/disco/ROW.txt (and its
# per-seed results to ROW.json).
#   bash experiments/scripts/disco_eval.sh catch-a2c     # one row; rows are listed below
# Pinned to one core with single-threaded XLA (set CORE to choose it), as the report's timings assume.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
OUT=experiments/reports/disco
mkdir -p "$OUT"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
run() {  # run ROW ARGS...: one `metalearn eval` call, its output kept
  local row=$1; shift
  { echo "\$ metalearn eval $* --json $OUT/$row.json"
    /usr/bin/time -f "wall %e s" taskset -c "$CORE" .venv/bin/metalearn eval "$@" --out "$OUT/$row" \
      --json "$OUT/$row.json"; } \
    2>&1 | grep -v -e Warning -e warn -e SIGILL | tee "$OUT/$row.txt"
}
# The baseline's learning rate, tuned on 4 seeds apart from the 8 evaluation seeds; scored by evaluation episodes.
TUNE=(--tune lr=3e-4,1e-3,3e-3,1e-2 --tune-seeds 4 --metric eval_return)
# MinAtar at a CPU budget: the colab's agent (torso 512x512, 29-step trajectories, lr 0.01) with 16 streams an
# update and no replay (each update learns from its fresh 16 x 29 rollout; the colab replays 64 of 1024 stored
# trajectories, which costs 3.5x as much per step here); 16 evaluation episodes per agent; 8 seeds.
MINATAR=(--set num_envs=16 --set eval_envs=16 --rule-kwarg replay_capacity=0 --rule-kwarg batch_size=16 --seeds 8)
case "${1:?row: catch-a2c | catch-ppo | breakout-a2c | spaceinvaders-a2c | breakout-a2c-rule-tuned | minatar-start}" in
  # The reference colab's Catch setting (torso 512x512, 2 streams x 29 steps per update, lr 0.01), 500 updates;
  # the A2C baseline on the same preset.
  catch-a2c) run catch-a2c published:disco103 --preset catch --budget 29000 --seeds 8 "${TUNE[@]}" ;;
  # The same Disco103 arm against PPO at its usual epochs and minibatches (4 x 2 per update of 2 x 29 steps;
  # one epoch of one minibatch would be A2C with an inactive clip), its learning rate tuned the same way.
  catch-ppo) run catch-ppo published:disco103 --preset catch --budget 29000 --seeds 8 \
    --baseline-set algorithm=ppo --baseline-set update_epochs=4 --baseline-set num_minibatches=2 "${TUNE[@]}" ;;
  # Two MinAtar games at 5e5 steps, A2C on the same agent and rollouts as the baseline.
  breakout-a2c) run "$1" published:disco103 --preset catch --env Breakout-MinAtar --budget 500000 "${MINATAR[@]}" \
    "${TUNE[@]}" ;;
  spaceinvaders-a2c) run "$1" published:disco103 --preset catch --env SpaceInvaders-MinAtar --budget 500000 \
    "${MINATAR[@]}" "${TUNE[@]}" ;;
  # Disco103's agent also at the learning rate tuning chose for A2C.
  breakout-a2c-rule-tuned) run "$1" published:disco103 --preset catch --env Breakout-MinAtar --rule-tuned \
    --budget 500000 "${MINATAR[@]}" "${TUNE[@]}" ;;
  # Where the MinAtar agents start: both arms after one update (16 x 29 steps), a near-uniform policy.
  minatar-start)
    for game in Breakout-MinAtar SpaceInvaders-MinAtar; do
      run "minatar-start-$game" published:disco103 --preset catch --env "$game" --budget 464 "${MINATAR[@]}" \
        --metric eval_return
    done ;;
  *) echo "unknown row $1; allowed: catch-a2c, catch-ppo, breakout-a2c, spaceinvaders-a2c, breakout-a2c-rule-tuned," \
    "minatar-start" >&2
    exit 2 ;;
esac
