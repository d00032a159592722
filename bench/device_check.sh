#!/usr/bin/env bash
# The accelerator check (issue 21): on a machine with an NVIDIA GPU, in at most 8 minutes, measures
#   1. bench_open.py    (OPEN vs Adam inside PPO; the OPEN step <= 1.3x Adam's target),
#   2. bench_eggroll.py (EGGROLL vs full-rank ES; the >= 100x target), at its full sizes,
#   3. bench_inner.py   (the inner PPO benchmark),
#   4. `metalearn plan open_breakout` (compiled at full population, its memory read; timed with --time-small,
#      at the same batch shapes for 1/9,760 of the env steps: a full generation takes ~990 s on an H200),
# and writes bench/results/gpu/*.json with the device's name and the versions it ran with (and copies them
# to $OUT when that is set). Each step has its own time limit, so the whole stays within 8 minutes; a step
# that runs out is recorded as such, keeps the rows it measured (the benchmarks write after every row), and
# the others still run. `bash bench/device_check.sh STEP...` runs only the steps named (a rerun of those that
# ran out, say): bench_open, bench_eggroll, bench_inner, plan_open_breakout.
#
# Such a machine has its own CUDA jax, a different Python and no package index: run
# `bash bench/device_wheels.sh` beforehand where pip works; it puts the wheels our package needs and that
# machine lacks in .whl/, which travels with the run. Usage there: `bash bench/device_check.sh`.
# On a machine without a GPU it refuses (exit 2): CPU numbers come from `make bench`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ALL="bench_open bench_eggroll bench_inner plan_open_breakout"
for s in "$@"; do
    case " $ALL " in *" $s "*) ;; *) echo "device_check: unknown step '$s'; allowed: $ALL" >&2; exit 2 ;; esac
done
SELECTED=" ${*:-$ALL} "

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
    [[ $SELECTED == *" $name "* ]] || return 0
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
# Limits from the first run on an H200 (2026-11-28), where every step at CPU sizes ran out: the trainings
# there are latency-bound (4 seeds of a small network), so one timed run each; EGGROLL's rows take ~2 s each.
step bench_open 140 "$PY" bench/bench_open.py --repeats 1
step bench_eggroll 130 "$PY" bench/bench_eggroll.py --max-gib 120 --min-seconds 0.2
step bench_inner 60 "$PY" bench/bench_inner.py --quick
step plan_open_breakout 130 "$PY" -m metalearn.cli plan open_breakout --repeats 0 --time-small \
    --json "$BENCH_RESULTS/plan_open_breakout.json"
if [ -n "${OUT:-}" ]; then
    cp "$BENCH_RESULTS"/*.json* "$OUT"/ 2>/dev/null || true
fi
exit $status
