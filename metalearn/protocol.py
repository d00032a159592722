"""The evaluation protocol: a discovered rule vs its hand-designed baseline, tuned at the same budget.

Both arms train on the same fresh seeds. The baseline's hyper-parameters come from a ``metalearn tune``
run at the same budget (its ``chosen.json``) or from a sweep run here on *tuning* seeds, which are never
evaluation seeds, so the seeds that score the baseline did not also pick it. Each arm is summarised by
mean ± s.e. and the interquartile mean with a 95% percentile-bootstrap interval, and the pair by the
probability that the rule's agent beats the baseline's (:func:`metalearn.analysis.probability_of_improvement`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from metalearn.inner import TrainConfig, Trainer
from metalearn.inner.tune import METRICS, choose, format_point, parse_grid, sweep

TUNING_SEED_OFFSET = 1_000_003  # tuning seeds derive from seed + this: never an evaluation seed's key


class Arm(NamedTuple):
    """One arm's S agents."""

    label: str
    final_return: np.ndarray  # (S,)
    eval_return: np.ndarray  # (S,), NaN when evaluation rollouts are off
    diverged: np.ndarray  # (S,) bool


class Baseline(NamedTuple):
    """The hand-designed agent's config and how it was chosen."""

    config: TrainConfig
    how: str  # e.g. "tuned here on 8 seeds: lr=0.001" or "untuned preset"


def check_metric(metric: str) -> None:
    """Fails on a ``metric`` that is not one of :data:`METRICS` (the tuning's and the comparison's statistic)."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is invalid; allowed: {', '.join(METRICS)}")


def evaluation_keys(seed: int, seeds: int) -> jax.Array:
    """(S, 2) the evaluation seeds' keys: the same for every arm."""
    return jax.random.split(jax.random.PRNGKey(seed), seeds)


def tuning_seed(seed: int) -> int:
    """The base seed of the tuning sweep for an evaluation with base ``seed``."""
    return seed + TUNING_SEED_OFFSET


def tuned_here(
    env: Any, config: TrainConfig, grid: Sequence[str], *, seeds: int, seed: int, metric: str = "final_return"
) -> Baseline:
    """Sweeps ``grid`` (``FIELD=V1,V2,...`` items) over ``config`` at its own budget on tuning seeds; the best
    point by mean ``metric``."""
    result = sweep(env, config, parse_grid(grid, config), seeds=seeds, seed=tuning_seed(seed))
    point = result.points[choose(result, metric)]
    return Baseline(config.replace(**point), f"tuned here on {seeds} tuning seeds: {format_point(point)}")


def tuned_from_run(run_dir: str | Path, preset: str, config: TrainConfig) -> Baseline:
    """The baseline a ``metalearn tune`` run chose, refused unless it was tuned on ``preset`` at ``config``'s
    budget (``total_timesteps``)."""
    path = Path(run_dir) / "chosen.json"
    if not path.is_file():
        raise ValueError(f"{run_dir}: no chosen.json; allowed: a run directory written by `metalearn tune`")
    chosen = json.loads(path.read_text())
    if chosen.get("preset") != preset:
        raise ValueError(
            f"{run_dir}: tuned on preset {chosen.get('preset')!r}, evaluating on {preset!r}; allowed: a tune run "
            f"of the same preset (metalearn tune {preset} ...)"
        )
    tuned = TrainConfig.from_dict(chosen["train"])
    if tuned.total_timesteps != config.total_timesteps:
        raise ValueError(
            f"{run_dir}: tuned at total_timesteps={tuned.total_timesteps:,}, evaluating at "
            f"{config.total_timesteps:,}; allowed: a tune run at the same budget "
            f"(metalearn tune {preset} --budget {config.total_timesteps} ...)"
        )
    return Baseline(tuned, f"tuned by {run_dir}: {' '.join(chosen.get('set', []))}")


def train_arm(label: str, trainer: Trainer, meta_params: Any, keys: jax.Array) -> Arm:
    """``trainer`` on every key (vmapped, one program)."""
    result = jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))(meta_params, keys)
    return Arm(
        label,
        np.asarray(result.final_return, np.float64),
        np.asarray(result.eval_return, np.float64),
        np.asarray(result.diverged, bool),
    )


def table(rule: Arm, baseline: Arm, metric: str = "final_return") -> str:
    """Markdown: per arm mean ± s.e. and IQM [95% CI] of both returns, diverged seeds; then P(rule > baseline)
    on ``metric``."""
    from metalearn.analysis import probability_of_improvement, summarize

    check_metric(metric)
    lines = [
        "| arm | final_return mean ± s.e. | IQM [95% CI] | eval_return mean ± s.e. | IQM [95% CI] | diverged |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm in (rule, baseline):
        cells = [arm.label]
        for values in (arm.final_return, arm.eval_return):
            if np.all(np.isfinite(values)):
                s = summarize(values)
                cells += [f"{s.mean:.2f} ± {s.stderr:.2f}", f"{s.iqm:.2f} [{s.iqm_ci[0]:.2f}, {s.iqm_ci[1]:.2f}]"]
            else:
                cells += ["n/a", "n/a"]
        n, bad = arm.diverged.size, np.flatnonzero(arm.diverged)
        cells.append(f"DIVERGED on {bad.size}/{n} seeds {bad.tolist()}" if bad.size else f"0/{n}")
        lines.append("| " + " | ".join(cells) + " |")
    x, y = getattr(rule, metric), getattr(baseline, metric)
    if np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
        p, (lo, hi) = probability_of_improvement([x], [y])
        lines += ["", f"P(rule > baseline) on {metric}: {p:.2f} [{lo:.2f}, {hi:.2f}] (0.5: neither is better)"]
    return "\n".join(lines)
