"""Meta-training runs: a run directory, progress, checkpoints, resume, exports.

The directory's layout (config, metrics, evaluations, checkpoints, rules, plots,
result) is :class:`metalearn.runs.RunDir`'s. eval.jsonl flags each seed that
diverged, and its summary says "diverged" then; result.json records
``all_diverged`` and ``mean_rule_diverged`` (NaN/inf in rules/mean.npz).

Only process 0 writes files when running on several hosts.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import jax
import numpy as np

from metalearn import __version__
from metalearn.meta.checkpoint import FOREIGN, load_newest_intact, save_checkpoint
from metalearn.meta.config import CONFIG_VERSION, MetaConfig, stored_config
from metalearn.meta.regime import GenerationMetrics, Regime
from metalearn.meta.registry import make_meta_trainer
from metalearn.rules import save_rule
from metalearn.runs import (
    DIVERGED,
    RunDir,
    RunLock,
    append_jsonl,
    ends_whole,
    new_run_dir,
    read_jsonl,
    rewrite_jsonl,
    write_json,
)


def _is_main() -> bool:
    return jax.process_index() == 0


def start_run(
    config: MetaConfig,
    out: str | Path = "runs",
    name: str = "meta",
    progress: bool = True,
    run_dir: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Starts a new run (in ``run_dir`` if given, else a new folder under ``out``).

    A given ``run_dir`` must be empty or new unless ``overwrite`` (which deletes what a run
    writes there first). The run holds the directory's lock (:class:`RunLock`) while it
    runs. The initial state is checkpointed before anything is compiled beyond it, so a
    run killed at any point after ``config.json`` exists resumes.
    """
    trainer = make_meta_trainer(config)  # a bad config fails here, before anything is written
    if run_dir is None:
        run_dir = new_run_dir(out, name)
    run_dir = Path(run_dir)
    lock = _claim(run_dir, overwrite) if _is_main() else None
    run_id = uuid.uuid4().hex  # marks the checkpoints this run writes (cleanup deletes only those)
    try:
        if _is_main():
            write_json(
                RunDir(run_dir).config,
                {
                    "kind": "meta",
                    "name": name,
                    "run_id": run_id,
                    "config": config.to_dict(),
                    "config_version": CONFIG_VERSION,
                    "search_hash": config.search_hash(),
                    "versions": {
                        "metalearn": __version__,
                        "jax": jax.__version__,
                        "python": platform.python_version(),
                    },
                },
            )
        state = trainer.init()
        if _is_main():
            _checkpoint(trainer, state, run_dir, run_id)
        _evaluate(trainer, state, run_dir)  # the starting rule, for comparison
        return _loop(trainer, state, run_dir, progress, run_id)
    finally:
        if lock is not None:
            lock.release()


def _checkpoint(trainer: Regime, state, run_dir: Path, run_id: str | None) -> None:
    """Checkpoints ``state`` at its own generation (process 0 only, as the callers ensure)."""
    config = trainer.config
    save_checkpoint(
        run_dir,
        state,
        generation=int(state.generation),
        search_hash=config.search_hash(),
        keep=config.keep_checkpoints,
        run_id=run_id,
    )


def _claim(run_dir: Path, overwrite: bool) -> RunLock:
    """Creates ``run_dir`` if needed and locks it; refuses a non-empty one unless ``overwrite``."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{run_dir}: cannot create the run directory ({err.strerror})") from None
    lock = RunLock(run_dir).acquire()
    for name in RunDir.META_FILES:  # half-written temp files of a run killed mid-write: never meaningful
        (run_dir / f"{name}.tmp").unlink(missing_ok=True)
    present = sorted(p.name for p in run_dir.iterdir() if p.name != RunLock.FILE)
    if present and not overwrite:
        lock.release()
        raise ValueError(
            f"{run_dir}: not empty (holds {', '.join(present[:5])}{' ...' if len(present) > 5 else ''}); "
            f"allowed: a new or empty directory; continue it with `metalearn resume {run_dir}`, or pass "
            "--overwrite to delete its run files and start again"
        )
    if present:
        foreign = [n for n in present if n not in RunDir.META_FILES + RunDir.META_DIRS]
        if (RunDir(run_dir).checkpoints / FOREIGN).exists():  # files another run left, moved aside by this one
            foreign.append(f"checkpoints/{FOREIGN}")
        if foreign:
            lock.release()
            raise ValueError(
                f"{run_dir}: --overwrite would not delete {foreign}, which no run writes; remove them first"
            )
        for n in present:
            path = run_dir / n
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return lock


def resume_run(run_dir: str | Path, generations: int | None = None, progress: bool = True) -> Path:
    """Continues a run from its newest intact checkpoint, exactly as if it had never stopped.

    ``generations`` may raise the run's total (not lower it below what is done). A
    checkpoint that does not load (corrupt, foreign) is skipped with a warning; with
    none at all the run restarts from its initial state, which the config determines.
    Fails, touching nothing, if the config was edited or another process holds the run.
    """
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    config_file, saved = run.config, run.read_config()
    if saved.get("kind") != "meta":
        raise ValueError(f"{run_dir}: not a meta-training run (kind={saved.get('kind')!r})")
    if not isinstance(saved.get("config"), dict):
        raise ValueError(f"{config_file}: has no 'config' mapping; not a meta-training run's config.json")
    try:
        config = stored_config(saved)
    except ValueError as err:
        raise ValueError(f"{config_file}: {err}") from None
    if config.search_hash() != saved.get("search_hash"):
        raise ValueError(
            f"{config_file}: its config no longer matches the run (search hash {config.search_hash()} != "
            f"{saved.get('search_hash')}); restore the original config to resume"
        )
    lock = RunLock(run_dir).acquire() if _is_main() else None
    try:
        if generations is not None:
            config = dataclasses.replace(config, generations=generations)
        trainer = make_meta_trainer(config)
        run_id = saved.get("run_id")
        found = load_newest_intact(run_dir, trainer.init(), search_hash=config.search_hash(), run_id=run_id)
        if found is None:
            print(f"note: {run_dir}: no checkpoint yet; starting again from the initial state")
            state, generation = trainer.init(), 0
        else:
            state, generation = found
        if generations is not None and generations < generation:
            raise ValueError(
                f"--generations {generations} is invalid: {run_dir} has done {generation}; allowed: >= {generation}"
            )
        state = trainer.replicate(state)
        evaluated = False
        if _is_main():
            # Both logs read (a torn last row dropped, or kept if it reads) before either is written.
            logs = {
                f: read_jsonl(f, repair=True) for f in (RunDir(run_dir).metrics, RunDir(run_dir).evals) if f.is_file()
            }
            for file, rows in logs.items():  # drop rows written after the checkpoint
                kept = [r for r in rows if r.get("generation", -1) <= generation]
                if len(kept) != len(rows) or not ends_whole(file):  # whole rows, each ending its line
                    rewrite_jsonl(file, kept)
                evaluated |= file.name == RunDir.EVALS and any(r.get("generation") == generation for r in kept)
            if generations is not None:
                saved.update(config=config.to_dict(), config_version=CONFIG_VERSION)  # in today's names
                write_json(config_file, saved)
        if generation == 0 and not evaluated:  # killed between the first checkpoint and the first evaluation
            _evaluate(trainer, state, run_dir)
        return _loop(trainer, state, run_dir, progress, run_id)
    finally:
        if lock is not None:
            lock.release()


def _summary(values: np.ndarray, diverged: np.ndarray) -> dict[str, float] | str:
    """Mean and standard error over seeds; :data:`DIVERGED` if any seed diverged (its numbers mean nothing)."""
    if np.any(diverged):
        return DIVERGED
    values = np.asarray(values, np.float64)
    n = values.size
    return {"mean": float(values.mean()), "stderr": float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0}


def _finite(tree: Any) -> bool:
    return all(bool(np.isfinite(x).all()) for x in jax.tree.leaves(jax.device_get(tree)))


def _evaluate(trainer: Regime, state, run_dir: Path) -> dict[str, Any]:
    generation = int(state.generation)
    mean = trainer.mean_params(state)
    out = jax.device_get(trainer.evaluate_rule(mean, trainer.eval_key(generation)))
    held_out = {t.name for t in trainer.held_out}
    finite = _finite(mean)  # a non-finite rule has diverged on every seed, whatever its agents' returns
    row = {"generation": generation, "tasks": {}}
    for name, r in out.items():
        diverged = np.asarray(r["diverged"], bool) | (not finite)
        row["tasks"][name] = {
            "held_out": name in held_out,
            "diverged": diverged.tolist(),  # per seed
            "return": _summary(r["return"], diverged),
            "fitness": _summary(r["fitness"], diverged),
        }
    if _is_main():
        append_jsonl(RunDir(run_dir).evals, [row])
    return row


class _Loggers:
    """Optional TensorBoard / wandb mirrors of the metrics rows."""

    def __init__(self, config: MetaConfig, run_dir: Path):
        self.tb = self.wandb = None
        if not _is_main():
            return
        if config.tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError as err:
                raise ValueError("tensorboard=true needs tensorboardX: pip install 'metalearn[logging]'") from err
            self.tb = SummaryWriter(str(run_dir / RunDir.TENSORBOARD))
        if config.wandb:
            try:
                import wandb
            except ImportError as err:
                raise ValueError("wandb=true needs wandb: pip install wandb") from err
            self.wandb = wandb.init(project=config.wandb_project, name=run_dir.name, config=config.to_dict())

    def log(self, row: dict[str, Any], step: int) -> None:
        scalars = {k: v for k, v in row.items() if isinstance(v, int | float) and k != "generation"}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _loop(trainer: Regime, state, run_dir: Path, progress: bool, run_id: str | None) -> Path:
    from tqdm import tqdm

    config = trainer.config
    done = int(state.generation)
    loggers = _Loggers(config, run_dir)
    bar = tqdm(
        total=config.generations, initial=done, desc="meta-training", unit="gen", disable=not (progress and _is_main())
    )
    for generation in range(done + 1, config.generations + 1):
        start = time.time()
        state, metrics = trainer.generation(state)
        metrics = jax.device_get(metrics)
        seconds = time.time() - start
        row = _row(generation, seconds, metrics, [t.name for t in trainer.tasks])
        if _is_main():
            append_jsonl(RunDir(run_dir).metrics, [row])
        loggers.log(row, generation)
        if generation % config.eval_every == 0 or generation == config.generations:
            _evaluate(trainer, state, run_dir)
        if _is_main() and (generation % config.checkpoint_every == 0 or generation == config.generations):
            _checkpoint(trainer, state, run_dir, run_id)
        bar.update(1)
        bar.set_postfix(best=f"{row['best_fitness']:.3f}", mean=f"{row['mean_fitness']:.3f}", s_gen=f"{seconds:.1f}")
    bar.close()
    loggers.close()
    if _is_main():
        _finish(trainer, state, run_dir)
    return run_dir


def _row(generation: int, seconds: float, m: GenerationMetrics, tasks: list[str]) -> dict[str, Any]:
    """A generation's metrics.jsonl row from what the regime reported (arrays fetched to the host)."""
    row = {
        "generation": generation,
        "best_fitness": float(m.best_fitness),
        "mean_fitness": float(m.mean_fitness),
        "median_fitness": float(m.median_fitness),
        "nan_count": int(m.nan_count),
        "seconds": seconds,
        "task_fitness": dict(zip(tasks, np.asarray(m.task_fitness).tolist(), strict=True)),
        **jax.tree.map(float, m.search),  # the regime's own scalars (ES: sigma; meta-gradients: loss terms)
    }
    if m.curriculum:
        row["curriculum"] = {k: np.asarray(v).tolist() for k, v in m.curriculum.items()}
    return row


def _finish(trainer: Regime, state, run_dir: Path) -> None:
    from metalearn.meta.plots import plot_fitness, plot_levels

    config = trainer.config
    generation = int(state.generation)
    run = RunDir(run_dir)
    rows = read_jsonl(run.metrics)  # read first: a log that does not read leaves no rule of this generation
    evals = run.read_evals()
    run.rule().parent.mkdir(exist_ok=True)
    # The horizon the rule was meta-trained at: temporally-aware rules read log N, and analysis shows them at it.
    horizon = trainer.horizon
    mean = jax.device_get(trainer.mean_params(state))
    save_rule(run.rule("mean"), trainer.rule, mean, generation=generation, num_updates=horizon)
    save_rule(
        run.rule("best"),
        trainer.rule,
        jax.device_get(state.best_params),
        generation=generation,
        fitness=float(state.best_fitness),
        num_updates=horizon,
    )
    plot_fitness(run / RunDir.FITNESS_PLOT, rows, evals, f"{config.rule.name} · {trainer.search_label()}")
    # The meta-gradient regime logs its buffer but no per-generation batch of levels: no levels.png yet.
    if any("batch_score" in r.get("curriculum", {}) for r in rows):
        title = f"{config.curriculum.kind} curriculum"
        plot_levels(run / RunDir.LEVELS_PLOT, rows, jax.device_get(state.levels), title)
    write_json(
        run.result,
        {
            "generations": generation,
            "best_fitness": float(state.best_fitness),  # null (-inf) when every member always diverged
            "all_diverged": not np.isfinite(float(state.best_fitness)),
            "mean_rule_diverged": not _finite(mean),  # its rules/mean.npz holds NaN/inf: not a rule
            "first_mean_fitness": rows[0]["mean_fitness"] if rows else None,
            "last_mean_fitness": rows[-1]["mean_fitness"] if rows else None,
            "first_eval": evals[0] if evals else None,
            "last_eval": evals[-1] if evals else None,
        },
    )
