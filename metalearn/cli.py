"""Command line: ``metalearn train | plan | resume | compare | eval | inner | tune | zoo-add | analyze | list``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def compile_cache_dir() -> Path:
    """Where the CLI keeps JAX's persistent compilation cache: ``$XDG_CACHE_HOME/metalearn/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "metalearn" / "jax"


def _compile_cache(enabled: bool, quiet: bool = True) -> None:
    """Turns JAX's persistent compilation cache on (default) or off, before anything compiles.

    On, a ``resume``, ``eval``, ``analyze`` or second ``train`` of the same config loads its
    compiled functions instead of recompiling them. A cache directory already set (e.g. through
    ``JAX_COMPILATION_CACHE_DIR``) is kept.
    """
    if enabled and quiet:
        # Loading a cached executable makes XLA log false alarms (tuning flags such as +prefer-no-gather
        # reported as missing CPU features, "could lead to SIGILL") on every warm start; its C++ log
        # level must be set before jaxlib loads. TF_CPP_MIN_LOG_LEVEL set by the user, or --debug, wins.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import jax

    if not enabled:
        jax.config.update("jax_enable_compilation_cache", False)
    elif jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(compile_cache_dir()))


def _cmd_list(args: argparse.Namespace) -> int:
    from metalearn.envs import list_envs
    from metalearn.es import list_strategies
    from metalearn.inner import PRESETS
    from metalearn.meta import list_experiments
    from metalearn.rules import list_rules, published_names
    from metalearn.zoo import describe, discovered_names
    from objectives import OBJECTIVES

    sections = {
        "experiments (metalearn train NAME)": list_experiments(),
        "rules": list_rules(),
        "published rules (published:NAME in eval / analyze)": published_names(),
        "the zoo: discovered rules (discovered:NAME in eval, analyze)": list(map(describe, discovered_names()))
        or ["(empty: no rule meta-trained here is better than, or equivalent to, its tuned baseline yet)"],
        "strategies": list_strategies(),
        "objectives": list(OBJECTIVES),
        "inner presets (metalearn inner NAME)": [f"{n:<14} {p.env:<22} {p.description}" for n, p in PRESETS.items()],
        "environments": list_envs(),
    }
    for title, items in sections.items():
        print(f"{title}:")
        for item in items:
            print(f"  {item}")
    return 0


def _distributed(args: argparse.Namespace) -> None:
    """Joins a multi-process run (before any other JAX call)."""
    if args.num_processes is None:
        return
    if args.coordinator is None or args.process_id is None:
        raise ValueError("--num-processes needs --coordinator HOST:PORT and --process-id too")
    from metalearn.distributed import initialize

    initialize(args.coordinator, args.num_processes, args.process_id)


def _cmd_train(args: argparse.Namespace) -> int:
    _distributed(args)
    from metalearn.meta import MetaConfig, load_config_dict, start_run
    from metalearn.overrides import apply_dotted_overrides

    config = MetaConfig.from_dict(apply_dotted_overrides(load_config_dict(args.config), args.set))
    name = Path(args.config).stem
    run_dir = start_run(
        config,
        out=args.out,
        name=name,
        progress=not args.quiet,
        run_dir=Path(args.run_dir) if args.run_dir else None,
        overwrite=args.overwrite,
    )
    _print_meta_result(run_dir)
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from metalearn.meta import MetaConfig, load_config_dict
    from metalearn.meta.plan import format_plan, plan, to_json
    from metalearn.meta.shrink import shrink
    from metalearn.overrides import apply_dotted_overrides
    from metalearn.runs import write_json

    d = apply_dotted_overrides(load_config_dict(args.config), args.set)
    config = MetaConfig.from_dict(d)
    time_at = None
    if args.time_small:
        time_at = MetaConfig.from_dict(apply_dotted_overrides(shrink(d, keep_batch=True), args.time_at))
    elif args.time_at:
        time_at = MetaConfig.from_dict(apply_dotted_overrides(d, args.time_at))
    name = Path(args.config).stem
    p = plan(config, repeats=args.repeats, time_at=time_at)
    print(format_plan(p, name))
    if args.json:
        write_json(Path(args.json), {**to_json(p, name), "command": "metalearn " + shlex.join(args.argv)})
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    _distributed(args)
    from metalearn.meta import resume_run

    run_dir = resume_run(args.run_dir, generations=args.generations, progress=not args.quiet)
    _print_meta_result(run_dir)
    return 0


def _print_meta_result(run_dir: Path) -> None:
    import jax

    from metalearn.runs import RunDir

    if jax.process_index() != 0:
        return
    result = RunDir(run_dir).read_result()
    fmt = lambda v: "n/a (all diverged)" if v is None else f"{v:.3f}"
    print(
        f"generations {result['generations']}: population mean fitness "
        f"{fmt(result['first_mean_fitness'])} -> {fmt(result['last_mean_fitness'])}, best {fmt(result['best_fitness'])}"
    )
    if result.get("all_diverged"):
        print("warning: every member diverged in every generation; its rule files are not a trained rule")
    if result.get("mean_rule_diverged"):
        print("warning: the mean rule diverged (its parameters are NaN/inf); rules/mean.npz is not a usable rule")
    run = RunDir(run_dir)
    print(f"run directory: {run_dir}  (fitness plot: {run / RunDir.FITNESS_PLOT}, rule: {run.rule('mean')})")


def _with_budget(overrides: list[str], budget: str | None) -> list[str]:
    """``--set`` overrides plus ``--budget`` as ``total_timesteps`` (None: the preset's own budget)."""
    return list(overrides) + ([f"total_timesteps={budget}"] if budget is not None else [])


def _load_target(target: str, which: str = "mean"):
    """(rule, meta_params, label) of a rule reference (:func:`metalearn.rules.resolve_rule`)."""
    from metalearn.rules import resolve_rule

    return resolve_rule(target, which)


def _rule_kwargs(rule: Any, items: Sequence[str]) -> dict:
    """``--rule-kwarg key=value`` items as a dict, each value read as the type of ``rule``'s current value."""
    if not items:
        return {}
    from metalearn.overrides import parse_value, split_assignment

    kwargs = {}
    for item in items:
        key, text = split_assignment(item, "--rule-kwarg")
        current = [rule.kwargs[key]] if key in rule.kwargs else []  # none: read as YAML
        kwargs[key] = parse_value(key, text, *current, option="--rule-kwarg")
    return kwargs


def _cmd_distill(args: argparse.Namespace) -> int:
    from metalearn.distill import distill, write_report
    from metalearn.envs import make_env
    from metalearn.inner import resolve_task

    rule, meta_params, label = _load_target(args.target, args.which)
    overrides = _with_budget(args.set, args.budget)
    env_name, env_kwargs, config = resolve_task(args.preset, env=args.env, overrides=overrides)
    symbolic = {k: getattr(args, k) for k in ("max_length", "generations", "population") if getattr(args, k)}
    distilled = distill(
        rule,
        meta_params,
        args.into,
        make_env(env_name, **env_kwargs),
        config,
        seeds=args.seeds,
        seed=args.seed,
        max_samples=args.samples,
        **symbolic,
    )
    out = Path(args.out or f"distill_{rule.name}_{args.into.replace(':', '')}")
    report = write_report(distilled, out, rule, meta_params, task=f"{args.preset} ({env_name})")
    rel = distilled.val_rmse / distilled.teacher_std if distilled.teacher_std > 0 else float("nan")
    print(f"{label} -> {distilled.into}: held-out RMSE {distilled.val_rmse:.4g} ({rel:.3g} of the teacher's spread)")
    if distilled.front:
        print(f"expression: {distilled.front[distilled.chosen].expression}")
    print(f"student rule: {out / 'student.npz'}  report: {report}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from metalearn.evaluation import compare
    from metalearn.evaluation.one_rule import default_out, evaluations, one_rule_spec
    from metalearn.rules import apply_kwargs

    budgets = [None] if args.budget is None else args.budget.split(",")  # None: the preset's own budget
    rule, meta_params, label = _load_target(args.target, args.which)  # a bad reference fails before any spec
    kwargs = _rule_kwargs(rule, args.rule_kwarg)
    _, label = apply_kwargs(rule, meta_params, label, kwargs)  # kwargs that do not fit the rule fail here too
    spec = one_rule_spec(
        args.target,
        label,
        args.preset,
        budgets=budgets,
        env=args.env,
        overrides=args.set,
        rule_overrides=args.rule_set,
        baseline_overrides=args.baseline_set,
        rule_kwargs=kwargs,
        which=args.which,
        rule_tuned=args.rule_tuned,
        tuned=args.tuned,
        tune=args.tune,
        tune_seeds=args.tune_seeds,
        seeds=args.seeds,
        seed=args.seed,
        metric=args.metric,
    )
    out = Path(args.out) if args.out else default_out(spec)
    results = compare(spec, out, progress=lambda line: print(line, flush=True))
    print((out / "table.md").read_text().rstrip())
    records = evaluations(spec, results, out)
    for r in records:
        print(f"verdict on {r['task']} ({r['metric']}, vs {r['baseline']}): {r['verdict']}")
    print(f"results folder: {out}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        command = "metalearn " + " ".join(shlex.quote(a) for a in args.argv)
        record = {"command": command, "target": args.target, "out": str(out), "evaluations": records}
        Path(args.json).write_text(json.dumps(record))
        print(f"written: {args.json}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from metalearn.evaluation import analyse, compare, load_spec

    if args.analyse:
        analyse(args.analyse)
        out = Path(args.analyse)
    else:
        if not args.spec:
            raise ValueError("no SPEC given; allowed: metalearn compare SPEC.yaml [--out DIR], or --analyse DIR")
        spec = load_spec(args.spec)
        out = Path(args.out) if args.out else Path("results") / spec.name
        compare(spec, out, progress=lambda line: print(line, flush=True))
    print((out / "table.md").read_text().rstrip())
    print(f"results folder: {out}")
    return 0


def _cmd_inner(args: argparse.Namespace) -> int:
    from metalearn.inner.run import run_inner
    from metalearn.runs import RunDir

    run_dir = run_inner(
        args.preset,
        overrides=args.set,
        env=args.env,
        seeds=args.seeds,
        seed=args.seed,
        out=args.out,
        progress=not args.quiet,
    )
    result = RunDir(run_dir).read_result()
    print(f"final return {result['final_return_mean']:.2f} (eval {result['eval_return_mean']:.2f})")
    print(f"run directory: {run_dir}")
    return 0


def _cmd_zoo_add(args: argparse.Namespace) -> int:
    from metalearn.zoo.admission import add

    fields = ("experiment", "summary", "eval_args", "smoke_args", "evaluations")
    admitted, why = add(args.name, args.source, **{f: getattr(args, f) for f in fields})
    print(f"{'added' if admitted else 'not added:'} {args.name}: {why}")
    return 0 if admitted else 1


def _cmd_tune(args: argparse.Namespace) -> int:
    from metalearn.inner.tune import run_tune
    from metalearn.runs import RunDir

    overrides = _with_budget(args.set, args.budget)
    if args.optimizer is not None:
        overrides.append(f"optimizer={args.optimizer}")
    run_dir = run_tune(
        args.preset,
        args.grid,
        overrides=overrides,
        env=args.env,
        seeds=args.seeds,
        seed=args.seed,
        out=args.out,
        metric=args.metric,
        select=args.select,
    )
    print((RunDir(run_dir) / RunDir.TABLE).read_text().rstrip())
    chosen = RunDir(run_dir).read_chosen()
    print(f"chosen: --set {' --set '.join(chosen['set'])}")
    print(f"run directory: {run_dir}")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from metalearn.analysis import analyze

    report = analyze(args.target, out=args.out, num_updates=args.num_updates)
    print(f"report: {report}  (figures next to it)")
    return 0


def _add_distributed_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi-process (one process per host; all take the same arguments)")
    g.add_argument("--coordinator", help="HOST:PORT of process 0, for jax.distributed.initialize")
    g.add_argument("--num-processes", type=int, help="number of processes in the run")
    g.add_argument("--process-id", type=int, help="this process's index, 0 .. num-processes-1")


_DEBUG_HELP = "show the traceback of a user error too"
_NO_CACHE_HELP = "don't use JAX's persistent compilation cache (default: on, in $XDG_CACHE_HOME/metalearn/jax)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metalearn",
        description="Discover RL algorithms: evolve learned optimizers/objectives with ES over vmapped PPO/A2C.",
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    parser.add_argument("--no-compile-cache", action="store_true", help=_NO_CACHE_HELP)
    # Also accepted after the command; SUPPRESS keeps a subcommand from resetting the flag given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
    common.add_argument("--no-compile-cache", action="store_true", default=argparse.SUPPRESS, help=_NO_CACHE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "list", parents=[common], help="list experiments, rules, strategies, objectives, presets and environments"
    )
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="start a meta-training run",
        description="Meta-train a rule. CONFIG is a YAML file or an experiment name from experiments/. "
        "Writes a run directory (config, metrics, checkpoints, fitness.png, rules/mean.npz).",
    )
    p.add_argument("config", help="YAML path or experiment name (see `metalearn list`)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry by dotted path, e.g. --set generations=10 --set strategy.population_size=32 "
        "--set tasks.0.train.total_timesteps=1e5 (repeatable)",
    )
    p.add_argument("--out", default="runs", help="parent folder of the new run directory (default runs/)")
    p.add_argument("--run-dir", help="use exactly this run directory (new or empty) instead of a new one under --out")
    p.add_argument(
        "--overwrite", action="store_true", help="with --run-dir: delete a previous run's files there and start again"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_distributed_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "plan",
        parents=[common],
        help="forecast a meta-training run's cost: time one generation, read its memory, project the total",
        description="Compile one generation of CONFIG (and one evaluation of its rule), read XLA's memory analysis, "
        "refuse if it would not fit in the device's memory, time a generation after a warm-up, and print env steps "
        "per generation, seconds per generation, the projected wall time of the run, peak memory and what a bigger "
        "population or budget would cost.",
    )
    p.add_argument("config", help="YAML path or experiment name (see `metalearn list`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config entry, as train")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="timed generations after the warm-up (default 1; 0: time the warm-up run only)",
    )
    p.add_argument(
        "--time-at",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="time a smaller version instead (e.g. --time-at strategy.population_size=4), scaled up by env steps; "
        "compilation and memory stay the full config's (repeatable)",
    )
    p.add_argument(
        "--time-small",
        action="store_true",
        help="time 4 members (2 agents) and 2 updates per inner training, each batch as in the config, and scale "
        "up by env steps (for configs too big to run a generation of here); --time-at changes it further",
    )
    p.add_argument("--json", help="also write the plan as JSON to this file")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("resume", parents=[common], help="continue a meta-training run from its latest checkpoint")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--generations", type=int, help="raise the run's total number of generations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_distributed_flags(p)
    p.set_defaults(func=_cmd_resume)

    p = sub.add_parser(
        "eval",
        parents=[common],
        help="one rule vs the hand-designed baseline tuned at the same budget (a one-rule `metalearn compare`)",
        description="Train agents on each preset with a rule and with the hand-designed baseline (tuned at the same "
        "budget by successive halving here with --tune, by a tune run with --tuned; the untuned preset is reported "
        "too), on the same fresh seeds apart from the tuning seeds; writes a results folder like `metalearn "
        "compare` (per-seed results, tuning tables, IQM and P(rule > baseline) with 95% intervals, verdicts).",
    )
    p.add_argument(
        "target",
        help="a run directory, a rule .npz file, published:NAME (published OPEN weights, e.g. published:breakout, "
        "or DiscoRL's published:disco103), discovered:NAME (the zoo, see `metalearn list`), or a hand-designed "
        "rule's name (e.g. dpo)",
    )
    p.add_argument(
        "--preset",
        action="append",
        required=True,
        help="inner preset to train on, e.g. cartpole; repeat it to evaluate on several tasks (each tuned apart)",
    )
    p.add_argument("--env", help="another environment than the preset's")
    p.add_argument("--which", default="mean", choices=["mean", "best"], help="rule of a run directory (default mean)")
    p.add_argument("--seeds", type=int, default=16, help="fresh evaluation seeds, the same for both arms (default 16)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    p.add_argument(
        "--budget",
        help="environment steps per training (overrides total_timesteps); several, comma-separated, evaluate "
        "each preset at each (held-out horizons), each tuned apart",
    )
    p.add_argument("--tuned", metavar="RUN_DIR", help="the baseline a `metalearn tune` run chose (same preset, budget)")
    p.add_argument(
        "--tune",
        action="append",
        default=[],
        metavar="FIELD=V1,V2,...",
        help="tune the baseline here at this budget over a grid (repeatable), on seeds apart from the evaluation seeds",
    )
    p.add_argument(
        "--tune-seeds",
        type=int,
        default=16,
        help="tuning seeds a round of successive halving when tuning here (default 16; 3 rounds at most)",
    )
    p.add_argument(
        "--metric", default="final_return", help="final_return (default) | eval_return: tuning and P(rule > baseline)"
    )
    p.add_argument(
        "--rule-set", action="append", default=[], metavar="KEY=VALUE", help="override a field for the rule's arm only"
    )
    p.add_argument(
        "--rule-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a hyper-parameter of the rule or a setting of the agent it brings, e.g. pi_cost=0.5 (Disco103's "
        "own) or replay_capacity=0 (its agent's)",
    )
    p.add_argument(
        "--baseline-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field for the baseline only (before tuning), e.g. algorithm=a2c",
    )
    p.add_argument(
        "--rule-tuned",
        action="store_true",
        help="the rule's arm also takes the values tuning chose (e.g. a learned objective at PPO's tuned lr)",
    )
    p.add_argument(
        "--out",
        help="the results folder (default results/eval_RULE-HASH: the same command resumes it, another gets a new one)",
    )
    p.add_argument("--json", metavar="PATH", help="also write every task's verdict and its contrast here")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "compare",
        parents=[common],
        help="run a comparison spec: rules x tasks vs a tuned baseline, with verdicts (the evaluation engine)",
        description="Train every arm of SPEC (rules, clustered meta-seeds, hand-designed settings) and the "
        "hand-designed baseline (tuned here by successive halving on seeds disjoint from the evaluation seeds, and "
        "untuned) on every task, on the spec's fixed evaluation seeds; write per-seed results, tuning tables, a "
        "verdict table and a figure to one results folder. Resumes a folder holding the same spec.",
    )
    p.add_argument("spec", nargs="?", help="the comparison spec (YAML; see metalearn.evaluation.spec)")
    p.add_argument("--out", help="the results folder (default results/NAME, NAME the spec's name)")
    p.add_argument(
        "--analyse", metavar="DIR", help="re-analyse a results folder from its per-seed results (no training)"
    )
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "inner",
        parents=[common],
        help="train PPO/A2C agents with a preset and write a run directory",
        description="Train PPO/A2C agents (vmapped over seeds) with a named preset; writes config.json, "
        "metrics.jsonl, learning_curve.png and result.json into a new run directory.",
    )
    p.add_argument("preset", help="preset name (see `metalearn list`), e.g. cartpole, breakout, ant")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    p.add_argument("--env", default=None, help="train on another environment than the preset's")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds trained at once (default 1)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--out", default="runs", help="parent folder of the run directory (default runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_inner)

    p = sub.add_parser(
        "tune",
        parents=[common],
        help="sweep an inner preset's hyper-parameters (grid x seeds in one program) and pick the best",
        description="Train agents at every point of a grid of TrainConfig values, all seeds at once; numeric "
        "fields lr, ent_coef, vf_coef, gae_lambda and max_grad_norm share one compiled program, other fields "
        "compile once per value. Writes table.md (mean ± s.e., IQM with bootstrap CIs), chosen.json, "
        "results.json and learning_curves.png into a new run directory.",
    )
    p.add_argument("preset", help="inner preset (see `metalearn list`), e.g. cartpole, cartpole-a2c")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2,...",
        help="values of one TrainConfig field (repeatable; the grid is their product), e.g. --grid lr=1e-3,3e-3,1e-2",
    )
    p.add_argument("--seeds", type=int, default=8, help="seeds per grid point (default 8)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--budget", help="environment steps per training (overrides total_timesteps)")
    p.add_argument("--optimizer", help="the hand-designed optimizer (adam | rmsprop | sgd | lion)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    p.add_argument("--env", default=None, help="tune on another environment than the preset's")
    p.add_argument("--metric", default="final_return", help="final_return (default) | eval_return")
    p.add_argument("--select", default="mean", help="pick the best point by its mean (default) | iqm over seeds")
    p.add_argument("--out", default="runs", help="parent folder of the run directory (default runs/)")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser(
        "zoo-add",
        parents=[common],
        help="add a meta-trained rule to the zoo if its evaluation against the tuned baseline admits it",
        description="Copies the rule into the zoo (metalearn/zoo/NAME.npz) with its card NAME.json, evaluates it "
        "with `metalearn eval discovered:NAME` (--eval, and the tiny --smoke the tests re-run) and keeps it only "
        "if on every meta-training task at its budget the verdict is better or equivalent within ±m; otherwise "
        "both files are removed and the reason printed.",
    )
    p.add_argument("name", help="the entry's name (letters, digits, _ and -)")
    p.add_argument("source", help="a meta-training run directory, or a rule file one wrote")
    p.add_argument("--experiment", required=True, help="the experiment (name or YAML) the run was started from")
    p.add_argument("--summary", required=True, help="one line: what the rule is and where it was meta-trained")
    p.add_argument("--eval", required=True, dest="eval_args", help="`metalearn eval` arguments of the evaluation")
    p.add_argument("--smoke", required=True, dest="smoke_args", help="`metalearn eval` arguments of a tiny one")
    p.add_argument("--evaluations", help="keep the evaluation's results folder in DIR/NAME (default: not kept)")
    p.set_defaults(func=_cmd_zoo_add)

    p = sub.add_parser(
        "analyze",
        parents=[common],
        help="plot what a rule has learned (or how a run went) and write a one-page report",
        description="Writes the standard pictures and analysis.md. TARGET: a meta-training run directory "
        "(fitness, held-out evaluations, and the pictures of rules/mean.npz; written into the run directory), "
        "a rule file (.npz from save_rule; written to <stem>_analysis/ next to it), published:NAME (published "
        "OPEN weights; written to published_NAME_analysis/), or a metalearn compare / eval results folder "
        "(re-analysed in place).",
    )
    p.add_argument(
        "target", help="RUN_DIR | RULE_FILE.npz | published:NAME | discovered:NAME | a compare results folder"
    )
    p.add_argument("--out", help="write the figures and analysis.md here instead")
    p.add_argument(
        "--num-updates",
        type=int,
        help="training horizon N (updates) shown to temporally-aware rules (TA-LPO, TA-LPG); default: the run's "
        "first task's, else 1000. Pass the horizon a rule file was meta-trained at.",
    )
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "distill",
        parents=[common],
        help="distil a drift objective, OPEN or a learned LR schedule into a small MLP or a closed-form expression",
        description="Records the inputs the rule sees while it trains on --preset (a drift: its (r, A, progress), plus "
        "a grid over its input range; OPEN: per-element features; an LR schedule: the progress of each update, plus "
        "a grid), fits the student (mlp[:HIDDEN]: a small LPO network, or OPEN without its GRU; symbolic, drifts and "
        "schedules: an expression found by pyoperon) and writes "
        "student.npz (a rule file for eval/analyze/load_rule), distill.md, distill.json and figures.",
    )
    p.add_argument(
        "target",
        help="RUN_DIR | RULE_FILE.npz | published:NAME (OPEN) | discovered:NAME | a hand-designed drift (e.g. dpo)",
    )
    p.add_argument("--into", required=True, help="mlp, mlp:HIDDEN (e.g. mlp:16) or symbolic")
    p.add_argument("--preset", default="cartpole", help="inner preset the teacher trains on (default cartpole)")
    p.add_argument("--env", help="another environment than the preset's")
    p.add_argument("--which", default="mean", choices=["mean", "best"], help="rule of a run directory (default mean)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    p.add_argument("--budget", help="environment steps per recorded training (overrides total_timesteps)")
    p.add_argument("--seeds", type=int, default=2, help="recorded trainings (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--samples", type=int, default=20_000, help="recorded inputs kept (default 20000)")
    p.add_argument("--max-length", type=int, help="symbolic: the expression's node budget (default 20)")
    p.add_argument("--generations", type=int, help="symbolic: search generations (default 100)")
    p.add_argument("--population", type=int, help="symbolic: search population (default 500)")
    p.add_argument("--out", help="output folder (default distill_RULE_INTO)")
    p.set_defaults(func=_cmd_distill)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for the records a command writes
    if getattr(args, "seeds", 1) < 1:
        print(f"metalearn: error: --seeds={args.seeds} must be >= 1", file=sys.stderr)
        return 2
    try:
        if args.command != "list":
            _compile_cache(not args.no_compile_cache, quiet=not args.debug)
        return args.func(args)
    except (ValueError, OSError) as err:  # bad names, values and files: one clear line, no traceback
        if args.debug:
            raise
        if isinstance(err, OSError) and err.filename is not None:
            err = f"{err.filename}: {err.strerror}"
        print(f"metalearn: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
