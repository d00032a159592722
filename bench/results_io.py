"""Where benchmark numbers go (``bench/results/<name>.json``, with the machine they came from), and how one is timed."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import jax

# bench/results/, or $BENCH_RESULTS (bench/device_check.sh writes an accelerator's numbers to bench/results/gpu/)
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).parent / "results")
PACKAGES = ("jax", "jaxlib", "flax", "optax", "chex", "evosax", "gymnax", "brax", "numpy")


def machine() -> dict[str, Any]:
    """The machine, the device JAX runs on and the versions of what a benchmark ran with."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    device = jax.devices()[0]
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": device.device_kind,
        "device_count": jax.device_count(),
        "versions": {name: installed(name) for name in PACKAGES},
        "load_average_1_5_15min": os.getloadavg(),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Writes ``{"machine": machine(), **payload}`` to ``RESULTS/<name>.json``; returns the path.

    The load average is recorded because other work on the machine slows every
    column of a side-by-side alike, but still widens its noise.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return out


def median_time(fn, args, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` over ``repeats`` calls, after one call to compile it."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":  # bench/device_check.sh records what it ran with
    print(json.dumps(machine(), indent=2))
