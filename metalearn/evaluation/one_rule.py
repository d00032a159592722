"""``metalearn eval``: the engine's shorthand for one rule vs its hand-designed baseline, task by task.

:func:`one_rule_spec` turns the command's options into a :class:`~metalearn.evaluation.spec.CompareSpec` (one
arm, one task per preset × budget, the baseline tuned by successive halving here, by a ``metalearn tune`` run,
or not at all), which :func:`metalearn.evaluation.compare` runs into a results folder like any spec;
:func:`evaluations` reads the verdict on each task back from its results (the records the zoo's cards keep).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metalearn.evaluation.spec import CompareSpec, parse_spec, slug
from metalearn.inner import resolve_task
from metalearn.overrides import apply_overrides


def check_baseline_options(tuned: Any, tune: Sequence[str], tasks: int) -> None:
    """Fails unless the baseline comes from at most one source, and a tune run (of one preset at one budget)
    serves one task."""
    if tuned and tune:
        raise ValueError("--tuned and --tune both given; allowed: one of them (a tune run, or a grid to tune here)")
    if tuned and tasks > 1:
        raise ValueError(
            f"--tuned with {tasks} tasks (presets x budgets); allowed: one --preset at one --budget (a tune run "
            "tunes one), or --tune"
        )


def _budget(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value.is_integer() and value >= 1):
        raise ValueError(f"--budget {text!r} is invalid; allowed: environment steps, a whole number >= 1 (e.g. 5e5)")
    return int(value)


def one_rule_spec(
    target: str,
    label: str,
    presets: Sequence[str],
    *,
    budgets: Sequence[str | None] = (None,),
    env: str | None = None,
    overrides: Sequence[str] = (),
    rule_overrides: Sequence[str] = (),
    baseline_overrides: Sequence[str] = (),
    rule_kwargs: Mapping[str, Any] | None = None,
    which: str = "mean",
    rule_tuned: bool = False,
    tuned: str | None = None,
    tune: Sequence[str] = (),
    tune_seeds: int = 16,
    seeds: int = 16,
    seed: int = 0,
    metric: str = "final_return",
) -> CompareSpec:
    """The spec of ``metalearn eval``: rule reference ``target`` (its arm named ``label``) on every preset ×
    budget (None: the preset's own), against the hand-designed baseline after ``baseline_overrides``, tuned by
    ``tune`` grids (``FIELD=V1,V2,...``, successive halving on ``tune_seeds`` seeds a round), by tune run
    ``tuned``, or not at all; it is labelled by its algorithm (PPO, A2C). ``rule_tuned``: the rule's arm takes
    every value tuning changed too."""
    check_baseline_options(tuned, tune, len(presets) * len(budgets))
    tasks = [
        {"preset": p, "budget": _budget(b), "set": list(overrides), **({"env": env} if env else {})}
        for p in presets
        for b in budgets
    ]
    arm = {"label": label, "rule": target, "which": which, "set": list(rule_overrides), "tuned": rule_tuned}
    if rule_kwargs:
        arm["kwargs"] = dict(rule_kwargs)
    config = apply_overrides(resolve_task(presets[0], env=env, overrides=list(overrides))[2], list(baseline_overrides))
    baseline: dict[str, Any] = {"label": config.algorithm.upper(), "set": list(baseline_overrides)}
    if tune:
        baseline["tune"] = {"grid": list(tune), "seeds": tune_seeds}
    if tuned:
        baseline["tuned"] = str(tuned)
    return parse_spec(
        {
            "name": slug(f"eval_{Path(target).stem if Path(target).suffix else target}"),
            "seeds": seeds,
            "seed": seed,
            "metric": metric,
            "tasks": tasks,
            "arms": [arm],
            "baseline": baseline,
        }
    )


def default_out(spec: CompareSpec) -> Path:
    """``results/NAME-HASH``: the same command resumes its folder; any other (more seeds, another grid) gets a new
    one, so a spec's folder never changes meaning."""
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path("results") / f"{spec.name}-{digest}"


def evaluations(spec: CompareSpec, results: dict, out: str | Path) -> list[dict]:
    """Per task: its preset, budget, seeds, the baseline it was compared with (tuned, where tuned, else the
    untuned preset) and how it was chosen, the contrast row and its verdict (``results``: :func:`analyse`'s)."""
    from metalearn.evaluation.report import PRESET, TUNED

    (arm,) = spec.arms
    b = spec.baseline
    vs = f"{b.label} (tuned)" if b.tunes else f"{b.label} (preset)"
    records = []
    for task in spec.tasks:
        folder = Path(out) / "per_seed" / task.name
        config = json.loads((folder / f"{TUNED if b.tunes else PRESET}.json").read_text())["config"]
        rule_config = json.loads((folder / f"{slug(arm.label)}.json").read_text())["config"]
        tuning = Path(out) / "tuning" / f"{task.name}.json"
        how = (
            f"tuned here: {json.loads(tuning.read_text())['chosen']}"
            if tuning.is_file()
            else (f"tuned by {b.tuned}" if b.tuned else "the preset's own settings, not tuned (--tune or --tuned)")
        )
        row = next(r for r in results["contrasts"] if r["task"] == task.name and r["x"] == arm.label and r["y"] == vs)
        records.append(
            {
                "task": task.name,
                "preset": task.preset,
                "env": task.env,
                "total_timesteps": config["total_timesteps"],
                "seeds": spec.seeds,
                "seed": spec.seed,
                "metric": spec.metric,
                "baseline": vs,
                "baseline_how": how,
                "baseline_config": config,
                "rule_config": rule_config,
                "contrast": row,
                "verdict": row["verdict"],
            }
        )
    return records
