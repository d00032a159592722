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

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Writes ``{"machine": ..., **payload}`` to ``bench/results/<name>.json``; returns the path.

    The load average is recorded because other work on the machine slows every
    column of a side-by-side alike, but still widens its noise.
    """
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "load_average_1_5_15min": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"machine": machine, **payload}, indent=2) + "\n")
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
