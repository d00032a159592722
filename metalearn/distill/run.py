"""Distil a learned rule into a small MLP or a closed form, and write what came out.

``distill(rule, meta_params, "mlp:16" | "symbolic", env, config)`` records where
the teacher operates while it trains on ``env``, holds out a fifth of those inputs,
fits the student and scores it against the teacher on the held-out part:

* a drift objective (``distill_drift``): ``mlp`` (a small LPO network) or ``symbolic``
  (a formula), on recorded (r, A, progress) plus a grid;
* OPEN (``distill_open``): ``mlp`` (a smaller OPEN without the GRU) or ``symbolic`` (a formula of
  OPEN's features), on recorded per-element features (``metalearn.distill.optimizer``);
* a learned LR schedule (``distill_schedule``): ``symbolic`` only, a formula lr(p) = exp(e(p)),
  on the progress values of the training's updates plus a grid (``metalearn.distill.schedule``).

``write_report`` saves the student as a rule file — usable by ``metalearn eval``,
``analyze``, ``load_rule``/``load_objective`` like any other — plus ``distill.json``,
``distill.md`` and a teacher-vs-student figure.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from learned_optimizers import symbolic_open
from metalearn.analysis.drifts import reads_progress
from metalearn.distill import optimizer as opt_distill
from metalearn.distill import samples as sampling
from metalearn.distill import schedule as sched
from metalearn.distill.mlp import fit_mlp
from metalearn.distill.samples import DriftSamples
from metalearn.inner import TrainConfig
from metalearn.rules import Rule, make_rule, save_rule
from objectives.expression import variables

METHODS = ("mlp", "symbolic")
VAL_FRACTION = 0.2


def parse_into(spec: str) -> tuple[str, int]:
    """``"mlp"``, ``"mlp:H"`` or ``"symbolic"`` -> (method, hidden units; 16 by default, 0 for symbolic)."""
    method, _, arg = str(spec).partition(":")
    if method not in METHODS or (method == "symbolic" and arg):
        raise ValueError(f"--into {spec!r} is invalid; allowed: mlp, mlp:HIDDEN (e.g. mlp:16) or symbolic")
    if method == "symbolic":
        return method, 0
    try:
        hidden = int(arg) if arg else 16
    except ValueError:
        raise ValueError(f"--into {spec!r}: hidden size {arg!r} is not an integer") from None
    if hidden < 1:
        raise ValueError(f"--into {spec!r}: hidden size must be >= 1")
    return method, hidden


def holdout(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, fitting) indices of n samples: a seeded random ``VAL_FRACTION`` held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(VAL_FRACTION * n))
    return order[:n_val], order[n_val:]


class Distilled(NamedTuple):
    """A fitted student and how well it matches its teacher.

    rmse: student vs teacher on the fitting (``train``) and held-out (``val``) inputs, of a drift's f(r, A)
    or of OPEN's step d; ``teacher_std`` is the spread of the teacher's on the held-out inputs
    (rmse / teacher_std is a relative error).
    ``env_steps``: environment steps of the recorded trainings (the distillation's sample cost);
    ``seconds``: its wall time, recording and fitting. ``front``: the symbolic Pareto front
    (``symbolic.Candidate``s, shortest first) and ``chosen`` its index, for ``symbolic``; else empty / −1.
    """

    teacher: str
    into: str
    student: Rule
    meta_params: Any
    train_rmse: float
    val_rmse: float
    teacher_std: float
    temporal: bool
    num_recorded: int
    num_grid: int
    env_steps: int
    seconds: float
    front: tuple = ()
    chosen: int = -1


def distill(rule: Rule, meta_params: Any, into: str, env: Any, config: TrainConfig, **options: Any) -> Distilled:
    """The student of ``rule`` (a drift objective or OPEN): :func:`distill_drift` or :func:`distill_open`."""
    if rule.objective is not None and rule.objective.kind == "drift":
        return distill_drift(rule, meta_params, into, env, config, **options)
    if opt_distill.is_open_rule(rule):
        return distill_open(rule, meta_params, into, env, config, **options)
    if rule.name in sched.TEACHERS:
        return distill_schedule(rule, meta_params, into, env, config, **options)
    kind = "an optimizer" if rule.objective is None else f"a {rule.objective.kind!r} objective"
    raise ValueError(
        f"rule {rule.name!r} is {kind}; distill takes drift objectives (KIND 'drift'), OPEN and learning-rate "
        f"schedules ({', '.join(sched.TEACHERS)})"
    )


def distill_schedule(
    rule: Rule,
    meta_params: Any,
    into: str,
    env: Any,
    config: TrainConfig,
    seed: int = 0,
    grid: int = sched.GRID,
    seeds: int | None = None,
    max_samples: int | None = None,
    **symbolic_options: Any,
) -> Distilled:
    """The LR schedule ``rule`` as a formula (``into`` = ``symbolic``), fitted to its log step size at the progress
    of ``config``'s updates plus a ``grid``-point grid over [0, 1]; deterministic given ``seed``.

    No training is run (``env`` is unused, ``env_steps`` is 0): the schedule's only input, progress, takes
    known values (:func:`metalearn.distill.schedule.operating_progress`); ``seeds`` and ``max_samples``, the
    other kinds' recording options, are unused. ``symbolic_options``: ``max_length``, ``generations``,
    ``population``.
    """
    del env, seeds, max_samples  # accepted so one call distils any rule kind; nothing to record here
    method, _ = parse_into(into)
    sched.check_schedule_rule(rule)
    if method != "symbolic":
        raise ValueError(
            f"--into {into!r} for a learning-rate schedule; allowed: symbolic (the teacher is "
            f"{np.size(jax.tree.leaves(meta_params)[0])} numbers: a network student would be larger than it)"
        )
    start = time.perf_counter()
    progress, num_recorded = sched.inputs(config, grid)
    target = sched.log_lr(rule, meta_params, progress)
    val, train = holdout(len(progress), seed)
    front, chosen = sched.fit(progress[train], target[train], progress[val], target[val], seed=seed,
                              **symbolic_options)  # fmt: skip
    student = make_rule("symbolic_lr_schedule", expression=front[chosen].expression)
    return Distilled(
        teacher=rule.name,
        into="symbolic",
        student=student,
        meta_params=jax.device_get(student.init(None)),
        train_rmse=front[chosen].train_rmse,
        val_rmse=front[chosen].val_rmse,
        teacher_std=float(np.std(target[val])),
        temporal=True,  # a schedule is a function of progress
        num_recorded=num_recorded,
        num_grid=len(progress) - num_recorded,
        env_steps=0,
        seconds=time.perf_counter() - start,
        front=front,
        chosen=chosen,
    )


def distill_open(
    rule: Rule,
    meta_params: Any,
    into: str,
    env: Any,
    config: TrainConfig,
    seeds: int = 2,
    seed: int = 0,
    max_samples: int = 50_000,
    **symbolic_options: Any,
) -> Distilled:
    """OPEN into a smaller feed-forward OPEN (``into`` = ``mlp[:H]``) or a formula of its features (``symbolic``,
    ``learned_optimizers.symbolic_open``), on per-element features recorded while it trains ``config`` on
    ``env`` for ``seeds`` seeds; RMSE is that of the deterministic step d = o0·exp(0.001·o1)
    (``metalearn.distill.optimizer``). Deterministic given ``seed``. ``symbolic_options``: ``max_length``,
    ``generations``, ``population`` of the search."""
    method, hidden = parse_into(into)
    opt_distill.check_open_rule(rule)
    if method == "mlp" and symbolic_options:
        raise ValueError(f"options {sorted(symbolic_options)} are for --into symbolic only")
    start = time.perf_counter()
    samples = opt_distill.record_open_io(rule, meta_params, env, config, seeds, seed, max_samples=max_samples)
    val, train = holdout(len(samples.features), seed)
    part = lambda idx: opt_distill.OpenSamples(samples.features[idx], samples.outputs[idx])
    front, chosen = (), -1
    if method == "mlp":
        student, student_params = opt_distill.fit_open_mlp(rule, part(train), hidden, seed=seed)
    else:
        front, chosen = opt_distill.fit_open_symbolic(part(train), part(val), seed=seed, **symbolic_options)
        student = make_rule("symbolic_open", expression=front[chosen].expression)
        student_params = student.init(None)
    d_t, _ = opt_distill.step_and_noise(jnp.asarray(samples.outputs))
    err = np.asarray(opt_distill.student_step(student, student_params, samples.features) - d_t)
    return Distilled(
        teacher=rule.name,
        into=f"mlp:{hidden}" if method == "mlp" else method,
        student=student,
        meta_params=jax.device_get(student_params),
        train_rmse=float(np.sqrt(np.mean(err[train] ** 2))),
        val_rmse=float(np.sqrt(np.mean(err[val] ** 2))),
        teacher_std=float(np.std(np.asarray(d_t)[val])),
        # OPEN reads training progress; a formula only if it names it
        temporal=method == "mlp" or "tprop" in variables(symbolic_open.parse(student.kwargs["expression"])),
        num_recorded=len(samples.features),
        num_grid=0,
        env_steps=seeds * config.total_timesteps,
        seconds=time.perf_counter() - start,
        front=front,
        chosen=chosen,
    )


def distill_drift(
    rule: Rule,
    meta_params: Any,
    into: str,
    env: Any,
    config: TrainConfig,
    seeds: int = 2,
    seed: int = 0,
    max_samples: int = 20_000,
    grid: int = 41,
    **symbolic_options: Any,
) -> Distilled:
    """Distil the drift ``rule`` into ``into`` (see :func:`parse_into`), on inputs recorded while it trains
    ``config`` on ``env`` for ``seeds`` seeds plus a ``grid`` × ``grid`` grid; deterministic given ``seed``.

    ``symbolic_options``: ``max_length``, ``generations``, ``population`` of
    :func:`metalearn.distill.symbolic.fit_symbolic`.
    """
    method, hidden = parse_into(into)
    sampling.check_drift_rule(rule)
    if method == "mlp" and symbolic_options:
        raise ValueError(f"options {sorted(symbolic_options)} are for --into symbolic only")
    start = time.perf_counter()
    recorded = sampling.record_drift_inputs(rule, meta_params, env, config, seeds, seed, max_samples)
    temporal = reads_progress(rule, meta_params)
    progresses = sampling.GRID_PROGRESS if temporal else (0.0,)
    grid_part = sampling.grid_drift_inputs(grid, progresses, float(config.num_updates))
    every = DriftSamples.concat(recorded, grid_part)
    target = sampling.teacher_drift(rule, meta_params, every)
    val, train = holdout(len(every), seed)
    front, chosen = (), -1
    if method == "mlp":
        student, student_params = fit_mlp(every.take(train), target[train], hidden, temporal, seed=seed)
    else:
        from metalearn.distill.symbolic import fit_symbolic

        front, chosen = fit_symbolic(
            every.take(train), target[train], every.take(val), target[val], temporal, seed=seed, **symbolic_options
        )
        student = make_rule("symbolic_drift", expression=front[chosen].expression)
        student_params = student.init(jax.random.PRNGKey(0))
    fn = sampling.drift_fn(student, student_params)
    rmse = [float(np.sqrt(np.mean((np.asarray(fn(*every.take(i))) - target[i]) ** 2))) for i in (train, val)]
    return Distilled(
        teacher=rule.name,
        into=method if method == "symbolic" else f"mlp:{hidden}",
        student=student,
        meta_params=jax.device_get(student_params),
        train_rmse=rmse[0],
        val_rmse=rmse[1],
        teacher_std=float(np.std(target[val])),
        temporal=temporal,
        num_recorded=len(recorded),
        num_grid=len(grid_part),
        env_steps=seeds * config.total_timesteps,
        seconds=time.perf_counter() - start,
        front=front,
        chosen=chosen,
    )


def summary(d: Distilled) -> dict:
    """The numbers of ``d`` as JSON-ready values (``distill.json``)."""
    out = {
        "teacher": d.teacher,
        "into": d.into,
        "student_rule": d.student.name,
        "student_kwargs": dict(d.student.kwargs),
        "train_rmse": d.train_rmse,
        "val_rmse": d.val_rmse,
        "teacher_std": d.teacher_std,
        "relative_val_rmse": d.val_rmse / d.teacher_std if d.teacher_std > 0 else None,
        "temporal": d.temporal,
        "num_recorded": d.num_recorded,
        "num_grid": d.num_grid,
        "env_steps": d.env_steps,
        "seconds": d.seconds,
    }
    if d.front:
        out["front"] = [c._asdict() for c in d.front]
        out["chosen"] = d.chosen
    return out


def write_report(d: Distilled, out: str | Path, teacher: Rule, teacher_params: Any, task: str = "") -> Path:
    """Writes ``student.npz``, ``distill.json``, ``distill.md`` and the figures (a drift's ``drift.png``; a
    schedule's ``schedule.png``; OPEN's ``{teacher,student}_update.png``, update vs gradient) under ``out``;
    returns the .md."""
    from metalearn.analysis.drifts import drift_figure, drift_surface
    from metalearn.analysis.figures import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    numbers = summary(d)
    save_rule(out / "student.npz", d.student, d.meta_params, distilled_from=d.teacher, into=d.into, task=task,
              val_rmse=d.val_rmse)  # fmt: skip
    (out / "distill.json").write_text(json.dumps({"task": task, **numbers}, indent=2) + "\n")
    kind = "drift" if d.student.objective is not None else "schedule" if d.student.name in sched.TEACHERS else "open"
    if kind == "drift":
        surfaces = {
            f"teacher: {d.teacher}": drift_surface(teacher, teacher_params),
            f"student: {d.into}": drift_surface(d.student, d.meta_params),
        }
        save_figure(drift_figure(surfaces), out / "drift.png")
        figures = ["drift.png"]
        inputs = (
            f" plus a {d.num_grid:,}-point grid over r ∈ [{sampling.RATIO_RANGE[0]}, {sampling.RATIO_RANGE[1]}],"
            f" A ∈ [{sampling.ADVANTAGE_RANGE[0]}, {sampling.ADVANTAGE_RANGE[1]}]"
            + (" at progress " + ", ".join(f"{p:g}" for p in sampling.GRID_PROGRESS) if d.temporal else "")
        )
        quantity = "the drift f(r, A)"
    elif kind == "schedule":
        curves = {f"teacher: {d.teacher}": (teacher, teacher_params), "student: symbolic": (d.student, d.meta_params)}
        save_figure(sched.figure(curves, sched.operating_progress(d.num_recorded)), out / "schedule.png")
        figures = ["schedule.png"]
        inputs = f" plus a {d.num_grid:,}-point grid over p ∈ [0, 1]"
        quantity = "the log learning rate log lr(p)"
    else:
        from metalearn.analysis.optimizers import update_vs_gradient, update_vs_gradient_figure

        figures = []
        for who, rule, mp in (("teacher", teacher, teacher_params), ("student", d.student, d.meta_params)):
            umap = update_vs_gradient(rule.optimizer(mp))
            save_figure(update_vs_gradient_figure(umap, f"{who}: {d.teacher if who == 'teacher' else d.into}"),
                        out / f"{who}_update.png")  # fmt: skip
            figures.append(f"{who}_update.png")
        inputs = " (per-element features and outputs, 32 random elements per optimizer step)"
        quantity = "the deterministic step d = o0·exp(0.001·o1)"
    rel = numbers["relative_val_rmse"]
    recorded = (
        f"the progress p = n/(N − 1) of its {d.num_recorded:,} updates on {task or 'its task'} (known without training)"
        if kind == "schedule"
        else f"{d.num_recorded:,} recorded while it trained on {task or 'its task'} ({d.env_steps:,} environment steps)"
    )
    lines = [
        f"# {d.teacher} distilled into {d.into}",
        "",
        f"Teacher `{d.teacher}`; inputs: {recorded}{inputs}; {int(VAL_FRACTION * 100)}% held out. RMSE of {quantity}.",
        "",
        "| student | train RMSE | held-out RMSE | held-out RMSE / teacher's std | reads progress | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {d.into} (`{d.student.name}`) | {d.train_rmse:.4g} | {d.val_rmse:.4g} | "
        + (f"{rel:.3g}" if rel is not None else "n/a")
        + f" | {'yes' if d.temporal else 'no'} | {d.seconds:.1f} |",
        "",
        *(f"![{name.removesuffix('.png')}]({name})" for name in figures),
        "",
    ]
    if d.front:
        from metalearn.distill.symbolic import latex, python

        chosen = d.front[d.chosen].expression
        meaning = {
            "drift": "The student's drift is f(r, A) = relu(e(r, A) − e(1, A) − (r − 1)·∂e/∂r(1±, A)) with",
            "schedule": "The student's learning rate is lr(p) = exp(e(p)), p the training progress clipped to "
            "[0, 1], with",
            "open": "The student's step is u = 0.001·e(features), made zero-mean over all parameters (as OPEN's), "
            "without OPEN's learned noise; the variables are OPEN's features (`learned_optimizers.symbolic_open`):",
        }[kind]
        scored = {"drift": "the anchored rule", "schedule": "log lr of the rule", "open": "the step d"}[kind]
        signature = {"drift": "r, A, p=0.0, logN=0.0", "schedule": "p", "open": ", ".join(symbolic_open.VARIABLES)}
        lines += [
            "## The expression",
            "",
            meaning,
            "",
            f"$$e = {latex(chosen)}$$",
            "",
            "```python",
            python(chosen, signature=signature[kind]),
            "```",
            "",
            f"## Pareto front (length is Operon's node count; RMSE of {scored} vs the teacher)",
            "",
            "| | length | train RMSE | held-out RMSE | e |",
            "| --- | --- | --- | --- | --- |",
        ]
        for i, c in enumerate(d.front):
            mark = "**chosen**" if i == d.chosen else ""
            lines.append(f"| {mark} | {c.length} | {c.train_rmse:.4g} | {c.val_rmse:.4g} | `{c.expression}` |")
        lines.append("")
    report = out / "distill.md"
    report.write_text("\n".join(lines))
    return report
