"""Meta-training runs: a run directory, progress, checkpoints, resume, exports.

A run directory holds::

    config.json          the resolved MetaConfig, its search hash, versions
    metrics.jsonl        one row per generation: best/mean/median fitness, σ, seconds, NaN count
    eval.jsonl           the mean rule on held-out seeds (and tasks), every eval_every generations
    checkpoints/         MetaState as arrays + JSON (see checkpoint.py)
    fitness.png          population fitness and held-out evaluations over generations
    levels.png           with a curriculum: the levels trained on and the level buffer over generations
    rules/mean.npz       the search distribution's centre, a standalone rule file
    rules/best.npz       the best member seen
    result.json          final summary

Only process 0 writes files when running on several hosts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from metalearn import __version__
from metalearn.meta.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from metalearn.meta.config import MetaConfig
from metalearn.meta.trainer import MetaTrainer
from metalearn.pytree_io import PytreeFileError
from metalearn.rules import save_rule
from metalearn.runs import append_jsonl, new_run_dir, read_jsonl, write_json


def _is_main() -> bool:
    return jax.process_index() == 0


def start_run(
    config: MetaConfig, out: str | Path = "runs", name: str = "meta", progress: bool = True, run_dir: Path | None = None
) -> Path:
    """Starts a new run (in ``run_dir`` if given, else a new folder under ``out``)."""
    trainer = MetaTrainer(config)
    if run_dir is None:
        run_dir = new_run_dir(out, name)
    run_dir = Path(run_dir)
    if _is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(
            run_dir / "config.json",
            {
                "kind": "meta",
                "name": name,
                "config": config.to_dict(),
                "search_hash": config.search_hash(),
                "versions": {"metalearn": __version__, "jax": jax.__version__, "python": platform.python_version()},
            },
        )
    state = trainer.init()
    _evaluate(trainer, state, run_dir)  # the starting rule, for comparison
    if _is_main():
        save_checkpoint(run_dir, state, generation=0, search_hash=config.search_hash(), keep=config.keep_checkpoints)
    return _loop(trainer, state, run_dir, progress)


def resume_run(run_dir: str | Path, generations: int | None = None, progress: bool = True) -> Path:
    """Continues a run from its latest checkpoint, exactly as if it had never stopped.

    ``generations`` may raise the run's total. Fails, touching nothing, if the
    checkpoint is missing, corrupt, foreign, or from another config.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{run_dir}: not a run directory (no config.json)")
    saved = json.loads(config_file.read_text())
    if saved.get("kind") != "meta":
        raise ValueError(f"{run_dir}: not a meta-training run (kind={saved.get('kind')!r})")
    config = MetaConfig.from_dict(saved["config"])
    if config.search_hash() != saved.get("search_hash"):
        raise ValueError(
            f"{config_file}: its config no longer matches the run (search hash {config.search_hash()} != "
            f"{saved.get('search_hash')}); restore the original config to resume"
        )
    if generations is not None:
        config = dataclasses.replace(config, generations=generations)
    trainer = MetaTrainer(config)
    path = latest_checkpoint(run_dir)
    if path is None:
        raise PytreeFileError(f"{run_dir}: no checkpoint to resume from")
    state, generation = load_checkpoint(path, trainer.init(), search_hash=config.search_hash())
    state = trainer.replicate(state)
    if _is_main():
        for log in ("metrics.jsonl", "eval.jsonl"):  # drop rows written after the checkpoint
            file = run_dir / log
            if file.is_file():
                rows = [r for r in read_jsonl(file) if r["generation"] <= generation]
                tmp = file.with_name(file.name + ".tmp")
                tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
                tmp.replace(file)
        if generations is not None:
            saved["config"] = config.to_dict()
            write_json(config_file, saved)
    return _loop(trainer, state, run_dir, progress)


def _summary(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, np.float64)
    n = values.size
    return {"mean": float(values.mean()), "stderr": float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0}


def _evaluate(trainer: MetaTrainer, state, run_dir: Path) -> dict[str, Any]:
    generation = int(state.generation)
    out = jax.device_get(trainer.evaluate_rule(trainer.mean_params(state), trainer.eval_key(generation)))
    held_out = {t.name for t in trainer.held_out}
    row = {"generation": generation, "tasks": {}}
    for name, r in out.items():
        row["tasks"][name] = {
            "held_out": name in held_out,
            "return": _summary(r["return"]),
            "fitness": _summary(r["fitness"]),
        }
    if _is_main():
        append_jsonl(run_dir / "eval.jsonl", [row])
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
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
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


def _loop(trainer: MetaTrainer, state, run_dir: Path, progress: bool) -> Path:
    from tqdm import tqdm

    config = trainer.config
    done = int(state.generation)
    loggers = _Loggers(config, run_dir)
    names = [t.name for t in trainer.tasks]
    bar = tqdm(
        total=config.generations, initial=done, desc="meta-training", unit="gen", disable=not (progress and _is_main())
    )
    for generation in range(done + 1, config.generations + 1):
        start = time.time()
        state, metrics = trainer.generation(state)
        metrics = jax.device_get(metrics)
        seconds = time.time() - start
        row = {
            "generation": generation,
            "best_fitness": float(metrics["best_fitness"]),
            "mean_fitness": float(metrics["mean_fitness"]),
            "median_fitness": float(metrics["median_fitness"]),
            "sigma": float(metrics["sigma"]),
            "nan_count": int(metrics["nan_count"]),
            "seconds": seconds,
            "task_fitness": dict(zip(names, np.asarray(metrics["task_fitness"]).tolist(), strict=True)),
        }
        if "curriculum" in metrics:
            row["curriculum"] = {k: np.asarray(v).tolist() for k, v in metrics["curriculum"].items()}
        if _is_main():
            append_jsonl(run_dir / "metrics.jsonl", [row])
        loggers.log(row, generation)
        if generation % config.eval_every == 0 or generation == config.generations:
            _evaluate(trainer, state, run_dir)
        if _is_main() and (generation % config.checkpoint_every == 0 or generation == config.generations):
            save_checkpoint(
                run_dir, state, generation=generation, search_hash=config.search_hash(), keep=config.keep_checkpoints
            )
        bar.update(1)
        bar.set_postfix(best=f"{row['best_fitness']:.3f}", mean=f"{row['mean_fitness']:.3f}", s_gen=f"{seconds:.1f}")
    bar.close()
    loggers.close()
    if _is_main():
        _finish(trainer, state, run_dir)
    return run_dir


def _finish(trainer: MetaTrainer, state, run_dir: Path) -> None:
    from metalearn.meta.plots import plot_fitness, plot_levels

    config = trainer.config
    generation = int(state.generation)
    (run_dir / "rules").mkdir(exist_ok=True)
    # The horizon the rule was meta-trained at: temporally-aware rules read log N, and analysis shows them at it.
    horizon = trainer.horizon
    save_rule(
        run_dir / "rules" / "mean.npz",
        trainer.rule,
        jax.device_get(trainer.mean_params(state)),
        generation=generation,
        num_updates=horizon,
    )
    save_rule(
        run_dir / "rules" / "best.npz",
        trainer.rule,
        jax.device_get(state.best_params),
        generation=generation,
        fitness=float(state.best_fitness),
        num_updates=horizon,
    )
    rows = read_jsonl(run_dir / "metrics.jsonl")
    evals = read_jsonl(run_dir / "eval.jsonl") if (run_dir / "eval.jsonl").is_file() else []
    plot_fitness(run_dir / "fitness.png", rows, evals, f"{config.rule.name} · {config.strategy.name}")
    if config.curriculum is not None:
        plot_levels(run_dir / "levels.png", rows, jax.device_get(state.levels), f"{config.curriculum.kind} curriculum")
    write_json(
        run_dir / "result.json",
        {
            "generations": generation,
            "best_fitness": float(state.best_fitness),
            "first_mean_fitness": rows[0]["mean_fitness"] if rows else None,
            "last_mean_fitness": rows[-1]["mean_fitness"] if rows else None,
            "first_eval": evals[0] if evals else None,
            "last_eval": evals[-1] if evals else None,
        },
    )
