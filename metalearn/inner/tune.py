"""Hyper-parameter sweeps of an inner trainer: every grid point × seed in one compiled program.

Grid fields in :data:`~metalearn.inner.trainer.TRACED_HYPERS` (``lr``, ``ent_coef``, …) are
traced numbers the agents carry (``RunnerState.hypers``), so all their combinations share one
compiled training, vmapped over points and seeds. Any other TrainConfig field in the grid
(``optimizer``, ``num_minibatches``, ``gamma``…) shapes the program: each of its values is a
group, compiled once. Every point trains on the same seeds (common random numbers), so points
differ only by their setting. Deterministic given ``seed``.
"""

from __future__ import annotations

import dataclasses
import itertools
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalearn.inner.config import TrainConfig
from metalearn.inner.trainer import TRACED_HYPERS, Trainer
from metalearn.overrides import parse_value
from metalearn.validation import check_type, unknown

METRICS = ("final_return", "eval_return")
SELECT = ("mean", "iqm")


def parse_grid(items: Sequence[str], config: TrainConfig) -> dict[str, tuple[Any, ...]]:
    """``["lr=1e-3,3e-3", "ent_coef=0,0.01"]`` -> ``{"lr": (0.001, 0.003), "ent_coef": (0.0, 0.01)}``.

    Each value is parsed as the field's type and validated by TrainConfig; unknown fields,
    values of the wrong type, empty value lists, repeated fields and an empty grid are errors.
    """
    if not items:
        raise ValueError("--grid is empty; give at least one FIELD=V1,V2,... (e.g. --grid lr=1e-3,3e-3,1e-2)")
    fields = {f.name: f for f in dataclasses.fields(config)}
    grid: dict[str, tuple[Any, ...]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--grid {item!r}: expected FIELD=V1,V2,...")
        if key not in fields:
            raise unknown("TrainConfig field", key, sorted(fields))
        if key in grid:
            raise ValueError(f"--grid {key} is given twice; allowed: each field once, with all its values")
        texts = [t.strip() for t in text.split(",") if t.strip()]
        if not texts:
            raise ValueError(f"--grid {key}= has no values; allowed: one or more comma-separated values")
        values = []
        for t in texts:
            value = parse_value(key, t, getattr(config, key))
            check_type(key, value, fields[key].type)
            config.replace(**{key: value})  # TrainConfig names a value out of its range
            values.append(value)
        if len(set(values)) < len(values):
            raise ValueError(f"--grid {key}={text}: repeated value; allowed: distinct values")
        grid[key] = tuple(values)
    return grid


def grid_points(grid: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The grid's points in row-major order (the last field varies fastest)."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


class Sweep(NamedTuple):
    """A sweep's outcome; P grid points (in :func:`grid_points` order), S seeds, U updates."""

    points: list[dict[str, Any]]
    final_return: np.ndarray  # (P, S)
    eval_return: np.ndarray  # (P, S), NaN when evaluation is disabled
    curve: np.ndarray  # (P, S, U) episodic return per update
    diverged: np.ndarray  # (P, S) bool


def sweep(
    env: Any,
    config: TrainConfig,
    grid: dict[str, tuple[Any, ...]],
    *,
    seeds: int,
    seed: int = 0,
    env_params: Any = None,
    per_seed_env_params: bool = False,
) -> Sweep:
    """Trains ``seeds`` agents at every grid point of ``config`` on ``env`` (one program per group).

    ``env_params`` (optional) is the level every agent trains on, or with ``per_seed_env_params``
    a batch of levels with a leading axis of size ``seeds`` (seed i trains on level i at every
    point: tuning over a family of levels).
    """
    if seeds < 1:
        raise ValueError(f"seeds={seeds} is invalid; allowed: an integer >= 1")
    if not grid:
        raise ValueError("the grid is empty; allowed: at least one field with one or more values")
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    return sweep_points(env, config, grid_points(grid), keys, env_params, per_seed_env_params)


def sweep_points(
    env: Any,
    config: TrainConfig,
    points: Sequence[dict[str, Any]],
    keys: jax.Array,
    env_params: Any = None,
    per_seed_env_params: bool = False,
) -> Sweep:
    """Trains one agent per key (``keys`` (S, 2)) at every point (any list of settings, e.g. the survivors of a
    round of successive halving); points that differ only in traced hyper-parameters share one program."""
    if not points:
        raise ValueError("no points to sweep; allowed: at least one setting")
    names = sorted({k for p in points for k in p})
    if any(set(p) != set(names) for p in points):
        raise ValueError(f"points {list(points)} set different fields; allowed: the same fields in every point")
    env_axis = 0 if per_seed_env_params else None
    traced = [k for k in names if k in TRACED_HYPERS]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for p in points:  # one program per value of the fields that shape it
        groups.setdefault(_key({k: v for k, v in p.items() if k not in TRACED_HYPERS}), []).append(p)

    by_point: dict[tuple, Any] = {}
    for group_key, members in groups.items():
        trainer = Trainer(env, config.replace(**dict(group_key)))

        def one(hypers, key, level, trainer=trainer):
            return trainer.train(None, key, level, hypers or None)

        over_seeds = jax.vmap(one, in_axes=(None, 0, env_axis))
        if traced:
            hypers = {k: jnp.asarray([p[k] for p in members], jnp.float32) for k in traced}
            result = jax.jit(jax.vmap(over_seeds, in_axes=(0, None, None)))(hypers, keys, env_params)
        else:
            result = jax.tree.map(lambda x: x[None], jax.jit(over_seeds)({}, keys, env_params))
        result = jax.tree.map(np.asarray, result._replace(params=None, metrics=None))
        for i, p in enumerate(members):
            by_point[_key(p)] = jax.tree.map(lambda x, i=i: x[i], result)

    rows = [by_point[_key(p)] for p in points]
    return Sweep(
        points=list(points),
        final_return=np.stack([r.final_return for r in rows]),
        eval_return=np.stack([r.eval_return for r in rows]),
        curve=np.stack([r.curve for r in rows]),
        diverged=np.stack([r.diverged for r in rows]),
    )


def _key(point: dict[str, Any]) -> tuple:
    return tuple(sorted(point.items()))


def _check_choice(metric: str, select: str) -> None:
    if metric not in METRICS:
        raise unknown("metric", metric, METRICS)
    if select not in SELECT:
        raise unknown("selection statistic", select, SELECT)


def choose(result: Sweep, metric: str = "final_return", select: str = "mean") -> int:
    """Index of the best grid point: highest ``select`` (mean | iqm) of ``metric`` over seeds; a point
    with a diverged seed ranks below every point without one."""
    from metalearn.analysis.stats import iqm

    _check_choice(metric, select)
    scores = getattr(result, metric)
    stat = scores.mean(axis=1) if select == "mean" else np.asarray([iqm(s) for s in scores])
    if np.all(np.isnan(stat)):
        raise ValueError(f"metric={metric!r} is NaN at every point (evaluation disabled?); allowed: final_return")
    stat = np.where(np.isnan(stat), -np.inf, stat)
    return int(np.lexsort((-stat, result.diverged.any(axis=1)))[0])


def format_point(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())


def table(result: Sweep, metric: str = "final_return", best: int | None = None) -> str:
    """A Markdown table: one row per point, mean ± s.e. and IQM with its 95% bootstrap interval."""
    from metalearn.analysis.stats import summarize

    lines = [
        f"| setting | {metric} mean ± s.e. | IQM [95% CI] | diverged |",
        "|---|---|---|---|",
    ]
    for i, (point, scores) in enumerate(zip(result.points, getattr(result, metric), strict=True)):
        s = summarize(scores)
        mark = " **(chosen)**" if i == best else ""
        lines.append(
            f"| {format_point(point)}{mark} | {s.mean:.2f} ± {s.stderr:.2f} | {s.iqm:.2f} "
            f"[{s.iqm_ci[0]:.2f}, {s.iqm_ci[1]:.2f}] | {int(result.diverged[i].sum())}/{scores.size} |"
        )
    return "\n".join(lines)


def plot_curves(path: Path, result: Sweep, batch_size: int, title: str, best: int) -> None:
    """Mean learning curve of every grid point (the chosen one bold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, result.curve.shape[-1] + 1) * batch_size
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, point in enumerate(result.points):
        bold = i == best
        ax.plot(
            steps,
            result.curve[i].mean(0),
            lw=2.4 if bold else 1.0,
            alpha=1.0 if bold else 0.7,
            label=format_point(point) + (" (chosen)" if bold else ""),
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"episodic return (mean of {result.curve.shape[1]} seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_tune(
    preset: str,
    grid: Sequence[str],
    *,
    overrides: Sequence[str] = (),
    env: str | None = None,
    seeds: int = 8,
    seed: int = 0,
    out: str | Path = "runs",
    metric: str = "final_return",
    select: str = "mean",
) -> Path:
    """``metalearn tune``: sweeps ``grid`` on a preset, writes a run directory, returns it.

    The directory holds ``config.json``, ``results.json`` (per point and seed), ``table.md``,
    ``chosen.json`` (the best point as ``--set`` overrides of the preset, and its full config)
    and ``learning_curves.png``.
    """
    from metalearn import __version__
    from metalearn.envs import make_env
    from metalearn.inner.presets import resolve_task
    from metalearn.runs import RunDir, new_run_dir, write_json

    _check_choice(metric, select)
    env_name, env_kwargs, config = resolve_task(preset, env=env, overrides=overrides)
    parsed = parse_grid(grid, config)
    base = make_env(env_name, **env_kwargs)
    start = time.time()
    result = sweep(base, config, parsed, seeds=seeds, seed=seed)
    seconds = time.time() - start
    best = choose(result, metric, select)

    run_dir = new_run_dir(out, f"tune-{preset}")
    chosen = result.points[best]
    write_json(
        RunDir(run_dir).config,
        {
            "kind": "tune",
            "preset": preset,
            "env": base.spec.name,
            "env_kwargs": env_kwargs,
            "overrides": list(overrides),
            "grid": parsed,
            "train": config.to_dict(),
            "seeds": seeds,
            "seed": seed,
            "metric": metric,
            "select": select,
            "versions": {"metalearn": __version__, "jax": jax.__version__, "python": platform.python_version()},
        },
    )
    write_json(
        RunDir(run_dir) / RunDir.TUNE_RESULTS,
        {
            "points": result.points,
            "final_return": result.final_return,
            "eval_return": np.where(np.isnan(result.eval_return), None, result.eval_return).tolist(),
            "diverged": result.diverged,
            "wall_seconds": seconds,
        },
    )
    text = table(result, metric, best)
    (RunDir(run_dir) / RunDir.TABLE).write_text(
        f"{preset} on {base.spec.name}, {config.total_timesteps:,} steps, {seeds} seeds; chosen by {select} "
        f"{metric}\n\n{text}\n"
    )
    write_json(
        RunDir(run_dir) / RunDir.CHOSEN,
        {
            "preset": preset,
            "set": list(overrides) + [f"{k}={v}" for k, v in chosen.items()],
            "point": chosen,
            "train": config.replace(**chosen).to_dict(),
        },
    )
    plot_curves(
        RunDir(run_dir) / RunDir.LEARNING_CURVES,
        result,
        config.batch_size,
        f"{config.algorithm.upper()} on {base.spec.name}: {len(result.points)} settings",
        best,
    )
    return run_dir
