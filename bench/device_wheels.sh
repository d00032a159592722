#!/usr/bin/env bash
# Prepares .whl/ for bench/device_check.sh, on a machine with a package index: the wheels (Python 3.12, x86-64)
# of what our package needs and an accelerator machine's image lacks. That image already holds a CUDA jax,
# flax, optax, chex, numpy, matplotlib, seaborn, scipy, PyYAML, tqdm and six (the device tool's KINDS.md lists
# them); our own code travels as source on PYTHONPATH. All of these are pure-Python wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p .whl
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >>.git/info/exclude
pin() { grep -i "^$1==" constraints.txt; }  # the versions verified together on CPU
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
    "$(pin evosax)" "$(pin dotmap)" "$(pin gymnax)" "$(pin gymnasium)" "$(pin farama-notifications)"
ls .whl
