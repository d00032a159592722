"""``metalearn eval``: one rule vs its hand-designed baseline, tuned at the same budget, task by task.

Both arms train on the same fresh seeds. The baseline's hyper-parameters come from a ``metalearn tune``
run at the same budget (its ``chosen.json``; refused when its seeds overlap the evaluation's) or from
successive halving run here on *tuning* seeds disjoint from the evaluation seeds, over a grid that always
holds the preset's own point (:func:`metalearn.evaluation.tune_baseline`). Each arm is summarised by
mean ± s.e. and the interquartile mean with a 95% percentile-bootstrap interval; the pair by the IQM
difference and P(rule > baseline), and the verdict word of :func:`metalearn.analysis.clustered.verdict`
(margin: ``RELATIVE_MARGIN`` of the baseline's |IQM|). For several rules, clustered meta-seeds, pooled
tasks and a results folder, use ``metalearn compare`` (:mod:`metalearn.evaluation`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from metalearn.inner import TrainConfig, Trainer, make_trainer, resolve_task
from metalearn.inner.tune import METRICS, format_point
from metalearn.overrides import apply_overrides
from metalearn.runs import to_jsonable

TUNING_SEED_OFFSET = 1_000_003  # tuning seeds derive from seed + this (checked disjoint from the evaluation's)
RELATIVE_MARGIN = 0.05  # equivalence margin: this fraction of the baseline's |IQM|, stated before running
TUNING_ROUNDS = 3  # successive-halving rounds when tuning here


class Arm(NamedTuple):
    """One arm's S agents."""

    label: str
    final_return: np.ndarray  # (S,)
    eval_return: np.ndarray  # (S,), NaN when evaluation rollouts are off
    diverged: np.ndarray  # (S,) bool


class Evaluation(NamedTuple):
    """One task's comparison: the rule's arm and the tuned baseline's, on the same fresh seeds."""

    preset: str
    env: str
    total_timesteps: int
    seed: int
    metric: str
    baseline_how: str
    baseline_config: TrainConfig
    rule_config: TrainConfig
    rule: Arm
    baseline: Arm


class Baseline(NamedTuple):
    """The hand-designed agent's config and how it was chosen."""

    config: TrainConfig
    how: str  # e.g. "tuned here on 8 seeds: lr=0.001" or "untuned preset"


def check_metric(metric: str) -> None:
    """Fails on a ``metric`` that is not one of :data:`METRICS` (the tuning's and the comparison's statistic)."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is invalid; allowed: {', '.join(METRICS)}")


def check_baseline_options(tuned: Any, tune: Sequence[str], tasks: int = 1) -> None:
    """Fails unless the baseline comes from at most one source, and a tune run (of one preset at one budget)
    serves one task."""
    if tuned and tune:
        raise ValueError("--tuned and --tune both given; allowed: one of them (a tune run, or a grid to tune here)")
    if tuned and tasks > 1:
        raise ValueError(
            f"--tuned with {tasks} tasks (presets x budgets); allowed: one --preset at one --budget (a tune run "
            "tunes one), or --tune"
        )


def _finite_pair(rule: Arm, baseline: Arm, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Both arms' ``metric`` (S,) each, or None when either has a non-finite value (nothing to compare)."""
    x, y = getattr(rule, metric), getattr(baseline, metric)
    return (x, y) if np.all(np.isfinite(x)) and np.all(np.isfinite(y)) else None


def evaluation_keys(seed: int, seeds: int) -> jax.Array:
    """(S, 2) the evaluation seeds' keys: the same for every arm."""
    return jax.random.split(jax.random.PRNGKey(seed), seeds)


def tuning_seed(seed: int) -> int:
    """The base seed of the tuning sweep for an evaluation with base ``seed``."""
    return seed + TUNING_SEED_OFFSET


def tuned_here(
    env: Any,
    config: TrainConfig,
    grid: Sequence[str],
    *,
    seeds: int,
    seed: int,
    eval_keys: jax.Array,
    metric: str = "final_return",
) -> Baseline:
    """Successive halving over ``grid`` (``FIELD=V1,V2,...`` items) plus ``config``'s own point, at its budget,
    ``seeds`` tuning seeds a round (:func:`metalearn.evaluation.tune_baseline`); the best point by IQM."""
    from metalearn.evaluation import check_disjoint, tune_baseline
    from metalearn.evaluation.spec import TuneSpec

    tune = TuneSpec(grid=tuple(grid), seeds=seeds, rounds=TUNING_ROUNDS)
    keys = jax.random.split(jax.random.PRNGKey(tuning_seed(seed)), seeds * TUNING_ROUNDS)
    check_disjoint(eval_keys, keys, f"tuning seed {tuning_seed(seed)}")
    record = tune_baseline(env, config, tune, keys, metric)
    used, point = record["tuning_keys_used"], format_point(record["chosen"])
    how = f"tuned here by successive halving on {used} tuning seeds: {point}"
    return Baseline(config.replace(**record["chosen"]), how)


def tuned_from_run(run_dir: str | Path, preset: str, config: TrainConfig, eval_keys: jax.Array) -> Baseline:
    """The baseline a ``metalearn tune`` run chose, refused unless it was tuned on ``preset`` at ``config``'s
    budget on seeds disjoint from ``eval_keys``."""
    from metalearn.evaluation.engine import tuned_from_run as from_run
    from metalearn.evaluation.spec import TaskSpec

    tuned = from_run(run_dir, TaskSpec(preset=preset), config, eval_keys)
    chosen = json.loads((Path(run_dir) / "chosen.json").read_text())
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
    pair = _finite_pair(rule, baseline, metric)
    if pair:
        p, (lo, hi) = probability_of_improvement([pair[0]], [pair[1]])
        lines += ["", f"P(rule > baseline) on {metric}: {p:.2f} [{lo:.2f}, {hi:.2f}] (0.5: neither is better)"]
    return "\n".join(lines)


def evaluate(
    rule: Any,
    meta_params: Any,
    label: str,
    preset: str,
    *,
    env: str | None = None,
    overrides: Sequence[str] = (),
    rule_overrides: Sequence[str] = (),
    baseline_overrides: Sequence[str] = (),
    rule_tuned: bool = False,
    tuned: str | Path | None = None,
    tune: Sequence[str] = (),
    tune_seeds: int = 16,
    seeds: int = 16,
    seed: int = 0,
    metric: str = "final_return",
) -> Evaluation:
    """``rule`` (a :class:`metalearn.rules.Rule`) vs the hand-designed baseline on ``preset`` at its budget
    (after ``overrides``): tuned by a ``metalearn tune`` run (``tuned``), here over ``tune`` grids, or else the
    preset's own settings; both arms on the same ``seeds`` fresh evaluation seeds.

    ``rule_overrides`` / ``baseline_overrides`` (``field=value``) change one arm only: e.g. an A2C baseline with a
    value loss next to an LPG agent that has none; the baseline's are applied before it is tuned. ``rule_tuned``:
    the rule's arm also takes every value tuning changed (a learned objective at PPO's tuned learning rate, say)."""
    from metalearn.envs import make_env

    check_metric(metric)
    check_baseline_options(tuned, tune)
    env_name, env_kwargs, config = resolve_task(preset, env=env, overrides=list(overrides))
    task_env = make_env(env_name, **env_kwargs)
    base_config = apply_overrides(config, list(baseline_overrides))
    keys = evaluation_keys(seed, seeds)
    if tuned:
        baseline = tuned_from_run(tuned, preset, base_config, keys)
    elif tune:
        baseline = tuned_here(task_env, base_config, tune, seeds=tune_seeds, seed=seed, eval_keys=keys, metric=metric)
    else:
        baseline = Baseline(base_config, "the preset's own settings, not tuned (pass --tune or --tuned)")
    b = baseline.config
    rule_config = apply_overrides(config, list(rule_overrides))
    if rule_tuned:
        changed = [f.name for f in dataclasses.fields(b) if getattr(b, f.name) != getattr(base_config, f.name)]
        rule_config = rule_config.replace(**{name: getattr(b, name) for name in changed})
    trainer = make_trainer(task_env, rule_config, optimizer=rule.optimizer, objective=rule.objective)
    return Evaluation(
        preset=preset,
        env=task_env.spec.name,
        total_timesteps=config.total_timesteps,
        seed=seed,
        metric=metric,
        baseline_how=baseline.how,
        baseline_config=b,
        rule_config=rule_config,
        rule=train_arm(label, trainer, meta_params, keys),
        baseline=train_arm(f"baseline ({b.algorithm}, {b.optimizer} lr {b.lr:g})", Trainer(task_env, b), None, keys),
    )


def contrast(evaluation: Evaluation) -> dict | None:
    """The rule vs the baseline on the evaluation's metric (:func:`contrast_values`); None when an arm has
    non-finite returns."""
    pair = _finite_pair(evaluation.rule, evaluation.baseline, evaluation.metric)
    return contrast_values(*pair) if pair else None


def contrast_values(rule: np.ndarray, baseline: np.ndarray) -> dict:
    """Per-seed scores (S,), (S',): the IQM difference and P(rule > baseline) with their 95% intervals, the margin
    (``RELATIVE_MARGIN`` of the baseline's |IQM|) and the verdict word. Also re-words a stored record's pair."""
    from metalearn.analysis import clustered

    c = clustered.contrast(rule, baseline)
    margin = max(RELATIVE_MARGIN * abs(c.y_iqm.value), 1e-12)
    return {
        "difference": list(c.difference),
        "p_improvement": list(c.p_improvement),
        "margin": margin,
        "verdict": clustered.verdict(c.difference, c.p_improvement, margin, int(np.size(rule))),
    }


def verdict(evaluation: Evaluation) -> str:
    """``better`` / ``worse`` / ``equivalent within ±m`` / ``not resolved (n seeds)`` (:func:`contrast`); ``n/a``
    when an arm has non-finite returns (diverged agents, or no evaluation rollouts)."""
    c = contrast(evaluation)
    return c["verdict"] if c else "n/a"


def to_json(evaluation: Evaluation) -> dict:
    """A JSON-ready record of ``evaluation``: per arm the per-seed values and their summary, P(rule > baseline)
    and the :func:`verdict` (from the same summaries)."""
    from metalearn.analysis import summarize

    def arm(a: Arm) -> dict:
        out = {"label": a.label, "diverged": a.diverged.astype(int).tolist()}
        for m in METRICS:
            values = getattr(a, m)
            finite = np.all(np.isfinite(values))
            out[m] = {
                "per_seed": [float(v) for v in values],
                **(to_jsonable(summarize(values)._asdict()) if finite else {}),
            }
        return out

    c = contrast(evaluation)
    p = {"p": c["p_improvement"][0], "ci": c["p_improvement"][1:]} if c else None
    return {
        "preset": evaluation.preset,
        "env": evaluation.env,
        "total_timesteps": evaluation.total_timesteps,
        "seeds": int(evaluation.rule.final_return.size),
        "seed": evaluation.seed,
        "metric": evaluation.metric,
        "baseline_how": evaluation.baseline_how,
        "baseline_config": evaluation.baseline_config.to_dict(),
        "rule_config": evaluation.rule_config.to_dict(),
        "rule": arm(evaluation.rule),
        "baseline": arm(evaluation.baseline),
        "p_improvement": p,
        "iqm_difference": c["difference"] if c else None,
        "margin": c["margin"] if c else None,
        "verdict": c["verdict"] if c else "n/a",
    }
