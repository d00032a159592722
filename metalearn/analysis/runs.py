"""Results of runs: fitness over generations, held-out evaluations, and comparisons with baselines.

Reads what :mod:`metalearn.meta.run` writes into a run directory
(``config.json``, ``metrics.jsonl``, ``eval.jsonl``), and summarises per-seed
scores of several methods with :mod:`metalearn.analysis.stats` (for notebooks;
verdicts come from the evaluation engine, :mod:`metalearn.evaluation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.analysis.stats import Summary, summarize
from metalearn.runs import RunDir, summary_value


class RunRecord(NamedTuple):
    """A meta-training run directory, read."""

    path: Path
    config: dict[str, Any]  # config.json: {"kind": "meta", "name", "config": MetaConfig dict, ...}
    metrics: list[dict[str, Any]]  # metrics.jsonl rows, one per generation
    evals: list[dict[str, Any]]  # eval.jsonl rows, every eval_every generations


def is_run_dir(path: str | Path) -> bool:
    """A directory with a meta-training ``config.json``."""
    return RunDir(path).is_run()


def read_run(run_dir: str | Path) -> RunRecord:
    """Reads a meta-training run directory; fails naming the file that is missing or wrong."""
    run = RunDir(run_dir)
    config = run.read_config()
    if config.get("kind") != "meta":
        raise ValueError(f"{run.config}: not a meta-training run (kind={config.get('kind')!r}, expected 'meta')")
    metrics = run.read_metrics()
    for row in metrics:
        missing = {"generation", "best_fitness", "mean_fitness", "median_fitness"} - set(row)
        if missing:
            raise ValueError(f"{run.metrics}: a row lacks {sorted(missing)}")
    return RunRecord(run.path, config, metrics, run.read_evals())


# ------------------------------------------------------------------- fitness
def fitness_curves(metrics: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """``{"generation", "best", "mean", "median"}``, each (G,); a missing value (diverged) is NaN."""
    get = lambda key: np.array([np.nan if r.get(key) is None else r[key] for r in metrics], np.float64)
    return {
        "generation": np.array([r["generation"] for r in metrics], np.int64),
        "best": get("best_fitness"),
        "mean": get("mean_fitness"),
        "median": get("median_fitness"),
    }


@styled
def fitness_figure(
    metrics: list[dict[str, Any]], title: str = "", ylabel: str = "fitness (return / reference return)"
) -> Figure:
    """Population best / mean / median fitness over generations."""
    c = fitness_curves(metrics)
    fig, axes = new_figure(1, 1, panel=(5.2, 3.3))
    ax = axes[0, 0]
    ax.plot(c["generation"], c["best"], color="C0", lw=1, alpha=0.6, marker=".", label="population best")
    ax.plot(c["generation"], c["mean"], color="C0", lw=2, marker=".", label="population mean")
    ax.plot(c["generation"], c["median"], color="C0", lw=1, ls="--", label="population median")
    ax.set_xlabel("generation")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: population fitness".lstrip(": "))
    if len(c["generation"]):
        ax.set_xticks(_integer_ticks(c["generation"]))
    ax.legend(loc="best")
    return fig


def _integer_ticks(x: np.ndarray, most: int = 10) -> np.ndarray:
    """The generations themselves when few, else evenly spaced integers."""
    if len(np.unique(x)) <= most:
        return np.unique(x)
    lo, hi = int(np.min(x)), int(np.max(x))
    step = max(1, int(np.ceil((hi - lo + 1) / most)))
    return np.arange(lo, hi + 1, step)


# ----------------------------------------------------------------- evaluations
def eval_curves(evals: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The mean rule on held-out seeds, per task.

    ``{task: {"held_out": bool, "generation": (E,), "return": (E,), "stderr": (E,)}}``.
    """
    tasks: dict[str, dict[str, Any]] = {}
    for row in evals:
        for name, t in row["tasks"].items():
            d = tasks.setdefault(name, {"held_out": bool(t["held_out"]), "generation": [], "return": [], "stderr": []})
            d["generation"].append(row["generation"])
            d["return"].append(summary_value(t["return"]))  # NaN: diverged (or not finite)
            d["stderr"].append(np.nan_to_num(summary_value(t["return"], "stderr")))
    return {k: {**v, **{f: np.asarray(v[f]) for f in ("generation", "return", "stderr")}} for k, v in tasks.items()}


@styled
def eval_figure(evals: list[dict[str, Any]], title: str = "") -> Figure:
    """The mean rule's return on held-out seeds over generations, one panel per task (± s.e.)."""
    curves = eval_curves(evals)
    if not curves:
        raise ValueError("no held-out evaluations to plot (eval.jsonl is empty or missing)")
    fig, axes = new_figure(1, len(curves), panel=(3.6, 3.0))
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        color = "C3" if c["held_out"] else "C1"
        ax.fill_between(c["generation"], c["return"] - c["stderr"], c["return"] + c["stderr"], color=color, alpha=0.25)
        ax.plot(c["generation"], c["return"], color=color, marker="o", ms=4, lw=1.5, label="mean ± s.e. over seeds")
        ax.set_xlabel("generation")
        ax.set_ylabel("episodic return")
        ax.set_title(f"{name} ({'held-out task' if c['held_out'] else 'training task'})")
        ax.set_xticks(_integer_ticks(c["generation"]))
        ax.legend(loc="best")
    fig.suptitle(f"{title}: the mean rule on held-out seeds".lstrip(": "))
    return fig


# ----------------------------------------------------------------- comparisons
def compare(
    per_seed: Mapping[str, np.ndarray], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Summary]:
    """:func:`~metalearn.analysis.stats.summarize` for each method's per-seed scores."""
    return {k: summarize(v, confidence, n_resamples, seed) for k, v in per_seed.items()}


def comparison_table(summaries: Mapping[str, Summary], unit: str = "final return") -> str:
    """A Markdown table: n, mean ± s.e., the mean's and the IQM's 95% bootstrap CIs."""
    lines = [
        f"| method | seeds | {unit}, mean ± s.e. | mean, 95% CI | IQM | IQM, 95% CI |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, s in summaries.items():
        lines.append(
            f"| {label} | {s.n} | {s.mean:.2f} ± {s.stderr:.2f} | [{s.mean_ci[0]:.2f}, {s.mean_ci[1]:.2f}] "
            f"| {s.iqm:.2f} | [{s.iqm_ci[0]:.2f}, {s.iqm_ci[1]:.2f}] |"
        )
    return "\n".join(lines)


@styled
def comparison_figure(
    per_seed: Mapping[str, np.ndarray], unit: str = "final return", title: str = "", seed: int = 0
) -> Figure:
    """Per method: the seeds (dots), the mean and the IQM with 95% bootstrap CIs (bars).

    One row per method, methods in the given order (put baselines last or first).
    """
    summaries = compare(per_seed, seed=seed)
    labels = list(summaries)
    fig, axes = new_figure(1, 1, panel=(6.0, 0.55 * len(labels) + 1.4))
    ax = axes[0, 0]
    y = np.arange(len(labels))[::-1].astype(float)
    jitter = np.random.default_rng(seed)
    for yi, label in zip(y, labels, strict=True):
        s, x = summaries[label], np.asarray(per_seed[label], np.float64)
        ax.scatter(x, yi + jitter.uniform(-0.12, 0.12, x.size), s=10, color="0.55", zorder=1, lw=0)
        ax.errorbar(
            s.mean,
            yi + 0.2,
            xerr=[[s.mean - s.mean_ci[0]], [s.mean_ci[1] - s.mean]],
            fmt="o",
            color="C0",
            capsize=3,
            ms=5,
            zorder=3,
        )
        ax.errorbar(
            s.iqm,
            yi - 0.2,
            xerr=[[s.iqm - s.iqm_ci[0]], [s.iqm_ci[1] - s.iqm]],
            fmt="D",
            color="C3",
            capsize=3,
            ms=5,
            zorder=3,
        )
    ax.set_yticks(y, [f"{label} (n={summaries[label].n})" for label in labels])
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.set_xlabel(unit)
    ax.grid(axis="y", alpha=0)
    from matplotlib.lines import Line2D

    fig.legend(
        handles=[
            Line2D([], [], marker="o", color="C0", label="mean, 95% bootstrap CI"),
            Line2D([], [], marker="D", color="C3", label="IQM, 95% bootstrap CI"),
            Line2D([], [], marker="o", color="0.55", lw=0, ms=4, label="seeds"),
        ],
        loc="outside lower center",
        ncols=3,
    )
    ax.set_title(f"{title}: per-seed results".lstrip(": "))
    return fig
