#!/usr/bin/env bash
# Disco103 vs hand-designed baselines tuned at the same budget (the `metalearn eval` protocol), for
# experiments/reports/disco.md. Each row writes its printed table to experiments/reports/disco/ROW.txt.
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
  { echo "\$ metalearn eval $*"; /usr/bin/time -f "wall %e s" taskset -c "$CORE" .venv/bin/metalearn eval "$@"; } \
    2>&1 | grep -v -e Warning -e warn | tee "$OUT/$row.txt"
}
case "${1:?row: catch-a2c | catch-ppo}" in
  # The reference colab's Catch setting (torso 512x512, 2 streams x 29 steps per update, lr 0.01), 500 updates;
  # the A2C baseline on the same preset, its learning rate tuned on 4 seeds apart from the 8 evaluation seeds.
  catch-a2c) run catch-a2c published:disco103 --preset catch --budget 29000 --seeds 8 \
    --tune lr=3e-4,1e-3,3e-3,1e-2 --tune-seeds 4 --metric eval_return ;;
  # The same Disco103 arm against PPO at its usual epochs and minibatches (4 x 2 per update of 2 x 29 steps;
  # one epoch of one minibatch would be A2C with an inactive clip), its learning rate tuned the same way.
  catch-ppo) run catch-ppo published:disco103 --preset catch --budget 29000 --seeds 8 \
    --baseline-set algorithm=ppo --baseline-set update_epochs=4 --baseline-set num_minibatches=2 \
    --tune lr=3e-4,1e-3,3e-3,1e-2 --tune-seeds 4 --metric eval_return ;;
  *) echo "unknown row $1; allowed: catch-a2c, catch-ppo" >&2; exit 2 ;;
esac
