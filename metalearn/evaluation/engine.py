"""The evaluation engine: a :class:`~metalearn.evaluation.spec.CompareSpec` -> one results folder.

``compare(spec, out)`` tunes the hand-designed baseline on each task (successive halving on tuning seeds that
are checked to be disjoint from the evaluation seeds), trains every arm and both baselines (tuned, and the
untuned preset) on the same evaluation seeds, and writes::

    out/spec.json                     the spec; a folder holds one spec (more seeds = a new named result)
    out/per_seed/TASK/ARM.json        every agent's scores, per rule instance (baseline_tuned, baseline_preset too)
    out/tuning/TASK.json, TASK.md     every grid point: its seeds, rounds survived, IQM [95% CI]; the choice
    out/results.json, table.md        contrasts (per task and pooled) with IQM differences, P(improvement), verdicts
    out/figure.png                    IQM [95% CI] of every arm and baseline per task
    out/curves.png                    mean learning curves per task (where the per-seed files hold them)

Training is resumable: a per-seed file that exists is not trained again. :func:`analyse` re-reads the per-seed
files and rewrites the analysis without training.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from metalearn.analysis import clustered
from metalearn.analysis.stats import iqm
from metalearn.evaluation.report import PRESET, TUNED, analyse
from metalearn.evaluation.spec import (
    TUNING_SEED_OFFSET,
    ArmSpec,
    CompareSpec,
    TaskSpec,
    load_spec,
    slug,
)
from metalearn.inner import TrainConfig, make_trainer, resolve_task
from metalearn.inner.registry import agent_name, unread_fields
from metalearn.inner.tune import format_point, grid_points, parse_grid, sweep_points
from metalearn.overrides import apply_overrides
from metalearn.runs import RunDir, write_json

# ---------------------------------------------------------------- seeds


def evaluation_keys(seed: int, seeds: int) -> jax.Array:
    """(S, 2) the evaluation seeds' keys, the same for every arm: ``split(PRNGKey(seed), seeds)``."""
    return jax.random.split(jax.random.PRNGKey(seed), seeds)


def key_overlap(a: jax.Array, b: jax.Array) -> list[tuple[int, int]]:
    """Index pairs (i, j) with ``a[i] == b[j]``: keys two seed sets share."""
    a, b = np.asarray(a), np.asarray(b)
    i, j = np.nonzero((a[:, None, :] == b[None, :, :]).all(-1))
    return list(zip(i.tolist(), j.tolist(), strict=True))


def check_disjoint(evaluation: jax.Array, tuning: jax.Array, what: str) -> None:
    """Refuses an evaluation whose seeds overlap the seeds that tuned its baseline, naming the overlap."""
    shared = key_overlap(evaluation, tuning)
    if shared:
        pairs = ", ".join(f"evaluation #{i} = tuning #{j}" for i, j in shared[:4])
        raise ValueError(
            f"{len(shared)} evaluation seed(s) are seeds that tuned the baseline ({what}): {pairs}"
            f"{' ...' if len(shared) > 4 else ''}; allowed: disjoint seeds (another spec seed or tuning seed)"
        )


# ---------------------------------------------------------------- tuning


def tune_baseline(env: Any, base: TrainConfig, tune: Any, keys: jax.Array, metric: str) -> dict:
    """Successive halving over ``tune.grid`` plus the preset's own point on ``keys`` (rounds × seeds, 2).

    Every point trains ``tune.seeds`` agents; after each round the better half by IQM (a point with a diverged
    agent ranks last) goes on to ``tune.seeds`` more, for up to ``tune.rounds`` rounds or until one is left; the
    chosen point has the best IQM over all its seeds among the last round's points."""
    grid = parse_grid(tune.grid, base)
    points = grid_points(grid)
    preset_point = {k: getattr(base, k) for k in grid}
    if preset_point not in points:
        points.append(preset_point)  # the preset's own point is always in the grid
    scores: list[list[float]] = [[] for _ in points]
    diverged = [0] * len(points)
    alive, rounds_run = list(range(len(points))), 0
    for r in range(tune.rounds):
        result = sweep_points(env, base, [points[i] for i in alive], keys[r * tune.seeds : (r + 1) * tune.seeds])
        values = getattr(result, metric)
        for row, i in enumerate(alive):
            scores[i] += values[row].tolist()
            diverged[i] += int(result.diverged[row].sum())
        rounds_run = r + 1
        alive = sorted(alive, key=lambda i: (diverged[i] > 0, -_iqm_or_inf(scores[i])))
        if r < tune.rounds - 1:
            alive = alive[: (len(alive) + 1) // 2]  # the better half goes on
        if len(alive) == 1:  # one left: it is chosen, no more seeds needed
            break
    chosen = alive[0]
    rows = []
    for i, p in enumerate(points):
        x = np.asarray(scores[i])
        iqm = clustered.arm_iqm(x) if np.all(np.isfinite(x)) else None
        rows.append(
            {
                "point": p,
                "preset": p == preset_point,
                "seeds": len(x),
                "rounds": len(x) // tune.seeds,
                "per_seed": x.tolist(),
                "diverged": diverged[i],
                "iqm": list(iqm) if iqm else None,
                "chosen": i == chosen,
            }
        )
    return {
        "grid": list(tune.grid),
        "seeds_per_round": tune.seeds,
        "rounds_run": rounds_run,
        "tuning_keys_used": rounds_run * tune.seeds,
        "metric": metric,
        "points": rows,
        "chosen": points[chosen],
    }


def _iqm_or_inf(values: list[float]) -> float:
    x = np.asarray(values, np.float64)
    return float(iqm(x)) if np.all(np.isfinite(x)) else -np.inf


def tuning_table(record: dict) -> str:
    """Markdown: every grid point, the seeds it got, its IQM [95% CI]; the preset's and the chosen one marked."""
    lines = [
        f"Successive halving on {record['seeds_per_round']} tuning seeds a round, {record['rounds_run']} round(s), "
        f"by IQM of {record['metric']}.",
        "",
        "| setting | seeds | IQM [95% CI] | diverged |",
        "| --- | --- | --- | --- |",
    ]
    for row in record["points"]:
        marks = [" (preset)" if row["preset"] else "", " **(chosen)**" if row["chosen"] else ""]
        iqm = clustered.Interval(*row["iqm"]).text() if row["iqm"] else "n/a"
        lines.append(f"| {format_point(row['point'])}{''.join(marks)} | {row['seeds']} | {iqm} | {row['diverged']} |")
    return "\n".join(lines)


def tuned_from_run(run_dir: str | Path, task: TaskSpec, config: TrainConfig, eval_keys: jax.Array) -> TrainConfig:
    """The config a ``metalearn tune`` run chose, refused unless it tuned ``task``'s preset at its budget on
    seeds disjoint from the evaluation's."""
    chosen = RunDir(run_dir).read_chosen()
    if chosen.get("preset") != task.preset:
        raise ValueError(
            f"{run_dir}: tuned on preset {chosen.get('preset')!r}, evaluating on {task.preset!r}; allowed: a tune "
            f"run of the same preset (metalearn tune {task.preset} ...)"
        )
    tuned = TrainConfig.from_dict(chosen["train"])
    if tuned.total_timesteps != config.total_timesteps:
        raise ValueError(
            f"{run_dir}: tuned at total_timesteps={tuned.total_timesteps:,}, evaluating at "
            f"{config.total_timesteps:,}; allowed: a tune run at the same budget "
            f"(metalearn tune {task.preset} --budget {config.total_timesteps} ...)"
        )
    run = RunDir(run_dir)
    if not run.config.is_file():
        raise ValueError(f"{run_dir}: no {RunDir.CONFIG}, so its tuning seeds are unknown; allowed: a full tune run")
    c = run.read_config()
    check_disjoint(eval_keys, evaluation_keys(c["seed"], c["seeds"]), f"{run_dir}: seed {c['seed']}, {c['seeds']}")
    return tuned


# ---------------------------------------------------------------- training


def _train(trainer: Any, meta_params: Any, keys: jax.Array, train: Callable | None = None) -> dict:
    train = train or jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))
    result = jax.device_get(train(meta_params, keys))
    curve = np.asarray(result.curve, np.float64)  # (S, U) episodic return per update
    return {
        "final_return": np.asarray(result.final_return, np.float64).tolist(),
        "eval_return": [None if not np.isfinite(v) else float(v) for v in np.asarray(result.eval_return)],
        "diverged": np.asarray(result.diverged, bool).astype(int).tolist(),
        "curve_mean": curve.mean(0).tolist(),  # (U,) over the instance's seeds, for the learning-curve figure
    }


def write_per_seed(out: str | Path, task: str, label: str, instances: list[dict], **info: Any) -> Path:
    """Stores one arm's agents on one task in a results folder: ``instances`` (one per rule instance) each with
    ``final_return`` and ``eval_return`` (lists, None for not evaluated) and ``diverged`` (0/1). For results
    trained elsewhere (a report script's own evaluation) that :func:`analyse` should read like the engine's own;
    ``label`` is an arm's label, or ``baseline_tuned`` / ``baseline_preset``."""
    for inst in instances:
        n = len(inst["final_return"])
        if any(len(inst[k]) != n for k in ("eval_return", "diverged")):
            raise ValueError(f"{task}/{label}: final_return, eval_return and diverged differ in length")
    path = Path(out) / "per_seed" / task / f"{label if label in (TUNED, PRESET) else slug(label)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"task": task, "arm": label, "instances": instances, **info})
    return path


def _write_per_seed(path: Path, task: TaskSpec, label: str, config: TrainConfig, instances: list, t0: float) -> None:
    info = {"config": config.to_dict(), "steps_per_update": config.batch_size, "wall_seconds": time.time() - t0}
    write_per_seed(path.parents[2], task.name, label, instances, **info)


def write_spec(out: str | Path, spec: CompareSpec) -> None:
    """Creates results folder ``out`` for ``spec``, or checks that it already holds this spec."""
    out = Path(out)
    stored = out / "spec.json"
    if stored.is_file():
        old, new = json.loads(stored.read_text()), json.loads(json.dumps(spec.to_dict()))
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ValueError(
                f"{out} already holds a different spec ({', '.join(changed)} differ); allowed: the same spec, or a "
                f"new results folder and name (more seeds is a new named result, shown beside the first)"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_json(stored, spec.to_dict())


def compare(spec: CompareSpec | str | Path | Mapping, out: str | Path, progress: Callable[[str], None] = print) -> dict:
    """Runs ``spec`` into ``out`` (resuming what is there) and returns :func:`analyse`'s results."""
    from metalearn.envs import make_env
    from metalearn.rules import resolve_rule

    spec = spec if isinstance(spec, CompareSpec) else load_spec(spec)
    out = Path(out)
    eval_keys = evaluation_keys(spec.seed, spec.seeds)
    todo = [  # the arms a per-seed file is missing for: their rules are resolved now, so a bad one fails early
        a
        for a in spec.arms
        if not all((out / "per_seed" / t.name / f"{slug(a.label)}.json").is_file() for t in spec.tasks)
    ]
    rules = {a.label: [resolve_rule(r, a.which, a.kwargs or None) for r in a.rules] for a in todo}
    baseline = spec.baseline
    tune = baseline.tune if baseline else None
    tuning_keys = None
    if tune is not None:
        tseed = spec.seed + TUNING_SEED_OFFSET if tune.seed is None else tune.seed
        tuning_keys = jax.random.split(jax.random.PRNGKey(tseed), tune.seeds * tune.rounds)
        check_disjoint(eval_keys, tuning_keys, f"tuning seed {tseed}, {tune.seeds} x {tune.rounds} rounds")
    resolved = []
    for task in spec.tasks:  # every task, override and grid checked before anything is written or trained
        env_name, env_kwargs, config = resolve_task(task.preset, task.env, task.env_kwargs, task.overrides)
        base = apply_overrides(config, list(baseline.set)) if baseline else config
        for arm in spec.arms:
            apply_overrides(config, list(arm.set))
        if tune is not None:
            grid = parse_grid(tune.grid, base)
            for arm in spec.arms:
                if arm.tuned:
                    _check_tuned_fields(arm.label, rules.get(arm.label, []), grid)
        resolved.append((task, make_env(env_name, **env_kwargs), config, base))
    write_spec(out, spec)
    for task, env, config, base in resolved:
        tuned = base
        if tune is not None:
            tpath = out / "tuning" / f"{task.name}.json"
            if not tpath.is_file():
                progress(f"{task.name}: tuning {baseline.label} over {list(tune.grid)}")
                tpath.parent.mkdir(parents=True, exist_ok=True)
                record = tune_baseline(env, base, tune, tuning_keys, spec.metric)
                write_json(tpath, record)
                (out / "tuning" / f"{task.name}.md").write_text(tuning_table(record) + "\n")
            tuned = base.replace(**json.loads(tpath.read_text())["chosen"])
        elif baseline and baseline.tuned:
            tuned = tuned_from_run(baseline.tuned, task, base, eval_keys)
        folder = out / "per_seed" / task.name
        baselines = [(PRESET, base)] if baseline else []
        baselines += [(TUNED, tuned)] if baseline and baseline.tunes else []
        for label, cfg in baselines:
            path = folder / f"{label}.json"
            if path.is_file():
                continue
            t0 = time.time()
            other = folder / f"{PRESET}.json"
            if label == TUNED and cfg == base and other.is_file():  # the preset's point won: the same agents
                instances = json.loads(other.read_text())["instances"]
            else:
                progress(f"{task.name}: {label} ({spec.seeds} seeds)")
                instances = [{"ref": None, **_train(make_trainer(env, cfg), None, eval_keys)}]
            _write_per_seed(path, task, label, cfg, instances, t0)
        for arm in spec.arms:
            path = folder / f"{slug(arm.label)}.json"
            if path.is_file():
                continue
            cfg = apply_overrides(config, list(arm.set))
            if arm.tuned:
                changed = {f.name for f in dataclasses.fields(tuned) if getattr(tuned, f.name) != getattr(base, f.name)}
                _check_tuned_fields(arm.label, rules[arm.label], changed)
                cfg = cfg.replace(**{name: getattr(tuned, name) for name in changed})
            progress(f"{task.name}: {arm.label} ({spec.seeds} seeds)")
            t0 = time.time()
            instances = _train_arm(env, cfg, arm, rules[arm.label], eval_keys, spec.instance_seeds == "shared")
            _write_per_seed(path, task, arm.label, cfg, instances, t0)
    return analyse(out)


def _check_tuned_fields(label: str, rules: list, fields: Any) -> None:
    """An arm that takes the baseline's tuned values (``tuned: true``) must train agents that read them: a rule that
    brings its own agent (DiscoRL's) reads only some TrainConfig fields."""
    for rule, _, name in rules:
        unread = unread_fields(rule.objective, fields)
        if unread:
            raise ValueError(
                f"arm {label!r}: tuned: true gives {name} the baseline's tuned {', '.join(unread)}, which its agent "
                f"({agent_name(rule.objective)!r}) does not read; allowed: tuned: false, or tuning fields it reads"
            )


def _train_arm(
    env: Any, config: TrainConfig, arm: ArmSpec, rules: list, keys: jax.Array, shared: bool = False
) -> list[dict]:
    """Each rule instance on its share of the evaluation keys (instance g: keys[g*k:(g+1)*k], k = S / G), so the
    arm's agents use the same S keys as every other arm's; ``shared``: every instance on all S keys."""
    if not rules:
        return [{"ref": None, **_train(make_trainer(env, config), None, keys)}]
    k = len(keys) if shared else len(keys) // len(rules)
    rule0 = rules[0][0]
    trainer = make_trainer(env, config, optimizer=rule0.optimizer, objective=rule0.objective)
    train = jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))  # one program for every instance of one rule
    out = []
    for g, ((rule, meta_params, label), ref) in enumerate(zip(rules, arm.rules, strict=True)):
        if (rule.name, dict(rule.kwargs)) != (rule0.name, dict(rule0.kwargs)):
            trainer = make_trainer(env, config, optimizer=rule.optimizer, objective=rule.objective)
            train = jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))
        out.append(
            {
                "ref": ref,
                "label": label,
                "keys": [0, k] if shared else [g * k, (g + 1) * k],
                **_train(None, meta_params, keys[0:k] if shared else keys[g * k : (g + 1) * k], train),
            }
        )
    return out
