#!/usr/bin/env bash
# The accelerator check (issue 21): on a machine with an NVIDIA GPU, in at most 8 minutes, measures
#   1. bench_open.py    (OPEN vs Adam inside PPO; the OPEN step <= 1.3x Adam's target),
#   2. bench_eggroll.py (EGGROLL vs full-rank ES; the >= 100x target), at its full sizes,
#   3. bench_inner.py   (the inner PPO benchmark),
#   4. `metalearn plan open_breakout` (one generation at full population, timed after a warm-up),
# and writes bench/results/gpu/*.json with the device's name and the versions it ran with (and copies them
# to $OUT when that is set). Each step has its own time limit, so the whole stays within 8 minutes; a step
# that runs out is recorded as such and the others still run.
#
# Such a machine has its own CUDA jax, a different Python and no package index: run
# `bash bench/device_wheels.sh` beforehand where pip works; it puts the wheels our package needs and that
# machine lacks in .whl/, which travels with the run. Usage there: `bash bench/device_check.sh`.
# On a machine without a GPU it refuses (exit 2): CPU numbers come from `make bench`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "device_check: no NVIDIA GPU here (nvidia-smi finds none); this check measures accelerator speed." \
        "On CPU, run 'make bench' instead." >&2
    exit 2
fi
if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/metalearn-site \
        .whl/*.whl || exit 1
    export PYTHONPATH="$PWD:/tmp/metalearn-site${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')"; then
    echo "device_check: jax here does not see the GPU (backend: $("$PY" -c 'import jax; print(jax.default_backend())'))" \
        "; install a CUDA jax (pip install -e '.[cuda]' where there is a package index)." >&2
    exit 2
fi

export BENCH_RESULTS="$PWD/bench/results/gpu"
mkdir -p "$BENCH_RESULTS"
status=0
step() {  # step NAME SECONDS COMMAND...: runs COMMAND within SECONDS, records how it ended
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name (limit ${limit}s)"
    timeout --signal=INT --kill-after=10 "$limit" "$@"
    local rc=$?
    echo "{\"step\": \"$name\", \"exit_code\": $rc, \"seconds\": $((SECONDS - start)), \"limit_s\": $limit}" \
        >>"$BENCH_RESULTS/steps.jsonl"
    [ $rc -eq 0 ] || status=1
}
rm -f "$BENCH_RESULTS/steps.jsonl"
"$PY" bench/results_io.py >"$BENCH_RESULTS/versions.json"  # the device and every package's version
step bench_open 100 "$PY" bench/bench_open.py
step bench_eggroll 130 "$PY" bench/bench_eggroll.py --max-gib 64 --min-seconds 0.5
step bench_inner 45 "$PY" bench/bench_inner.py
step plan_open_breakout 150 "$PY" -m metalearn.cli plan open_breakout --repeats 0 --json "$BENCH_RESULTS/plan_open_breakout.json"
if [ -n "${OUT:-}" ]; then
    cp "$BENCH_RESULTS"/*.json* "$OUT"/ 2>/dev/null || true
fi
exit $status
