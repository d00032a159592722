"""Run directories: resolved config, per-row metrics, plots, results.

Layout of a run directory::

    config.json         everything needed to rerun (preset, env, TrainConfig, seeds, versions)
    metrics.jsonl       one JSON object per row (per update for inner runs)
    learning_curve.png  return over environment steps, mean and min–max over seeds
    result.json         final numbers

Everything is plain JSON or PNG; nothing is pickled.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Creates ``root/name-YYYYmmdd-HHMMSS[-k]`` and returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    path.mkdir(parents=True)
    return path


def to_jsonable(x: Any) -> Any:
    """Numpy scalars/arrays to Python; NaN/inf (not JSON) to null."""
    if isinstance(x, np.ndarray | np.generic):
        return to_jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    return x


def write_json(path: Path, obj: Any) -> None:
    """Atomic write (temp file + rename) so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a") as f:
        for row in rows:
            f.write(json.dumps(to_jsonable(row), allow_nan=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_learning_curve(path: Path, steps: np.ndarray, returns: np.ndarray, title: str) -> None:
    """``returns``: (seeds, updates) episodic return; saves a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    returns = np.atleast_2d(returns)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    mean = returns.mean(0)
    ax.plot(steps, mean, color="C0", label=f"mean over {returns.shape[0]} seed(s)")
    if returns.shape[0] > 1:
        ax.fill_between(steps, returns.min(0), returns.max(0), color="C0", alpha=0.25, label="min–max")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episodic return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
