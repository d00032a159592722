#!/usr/bin/env bash
# Runs comparison specs through the evaluation engine, each into its stored results folder:
#   bash experiments/scripts/compare_specs.sh NAME...   (experiments/specs/NAME.yaml -> experiments/reports/compare/NAME/)
# Resumable: a killed run continues where it stopped (the engine skips stored per-seed results). Pinned to one core
# with single-threaded XLA (CORE chooses it) so two can run side by side on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=${CORE:-1}
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
for name in "${@:?names of specs in experiments/specs/}"; do
  /usr/bin/time -f "$name: wall %e s" taskset -c "$CORE" .venv/bin/metalearn compare "experiments/specs/$name.yaml" \
    --out "experiments/reports/compare/$name"
done
