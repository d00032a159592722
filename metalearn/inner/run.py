"""Run one inner training (a preset, several seeds) with progress and a run directory."""

from __future__ import annotations

import functools
import platform
import time
from pathlib import Path

import jax
import numpy as np

from metalearn import __version__
from metalearn.envs import make_env
from metalearn.inner.presets import resolve_task
from metalearn.inner.trainer import Trainer, UpdateMetrics
from metalearn.runs import RunDir, append_jsonl, new_run_dir, plot_learning_curve, write_json


def run_inner(
    preset: str,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    env: str | None = None,
    seeds: int = 1,
    seed: int = 0,
    out: str | Path = "runs",
    progress: bool = True,
    num_chunks: int = 50,
) -> Path:
    """Trains ``seeds`` agents (vmapped) with a preset; returns the run directory.

    The training is cut into about ``num_chunks`` jitted chunks of updates so a
    progress bar can advance; the numbers are those of one uninterrupted run.
    Deterministic given ``seed``.
    """
    if seeds < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    env_name, env_kwargs, config = resolve_task(preset, env=env, overrides=overrides)
    trainer = Trainer(make_env(env_name, **env_kwargs), config)
    run_dir = new_run_dir(out, preset)
    write_json(
        RunDir(run_dir).config,
        {
            "kind": "inner",
            "preset": preset,
            "env": trainer.spec.name,
            "env_kwargs": env_kwargs,
            "train": config.to_dict(),
            "seed": seed,
            "seeds": seeds,
            "versions": {"metalearn": __version__, "jax": jax.__version__, "python": platform.python_version()},
        },
    )

    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    state = jax.jit(jax.vmap(trainer.init, in_axes=(None, 0)))(None, keys)
    chunk = max(1, config.num_updates // num_chunks)

    @functools.cache
    def run_chunk(n: int):
        return jax.jit(jax.vmap(functools.partial(trainer.run, num_updates=n), in_axes=(None, 0)))

    from tqdm import tqdm

    chunks: list[UpdateMetrics] = []
    done, start = 0, time.time()
    bar = tqdm(total=config.num_updates, desc=f"{preset} ({trainer.spec.name})", unit="upd", disable=not progress)
    while done < config.num_updates:
        n = min(chunk, config.num_updates - done)
        state, metrics = run_chunk(n)(None, state)
        metrics = jax.tree.map(np.asarray, metrics)  # (seeds, n)
        if not chunks:  # throughput is timed from here: the first chunk compiles
            first_done, first_end = n, time.time()
        chunks.append(metrics)
        rows = []
        for i in range(n):
            row = {"update": done + i + 1, "env_steps": (done + i + 1) * config.batch_size}
            for name, values in metrics._asdict().items():
                row[name] = float(values[:, i].mean())
            row["episode_return_per_seed"] = metrics.episode_return[:, i].tolist()
            rows.append(row)
        append_jsonl(RunDir(run_dir).metrics, rows)
        done += n
        bar.update(n)
        bar.set_postfix(ret=f"{metrics.episode_return[:, -1].mean():.1f}")
    end = time.time()
    bar.close()

    all_metrics = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks)
    result = jax.jit(jax.vmap(trainer.result))(state, all_metrics)
    steps = np.arange(1, config.num_updates + 1) * config.batch_size
    plot_learning_curve(
        RunDir(run_dir) / RunDir.LEARNING_CURVE,
        steps,
        all_metrics.episode_return,
        f"{config.algorithm.upper()} on {trainer.spec.name}",
    )
    write_json(
        RunDir(run_dir).result,
        {
            "final_return": np.asarray(result.final_return),
            "eval_return": np.asarray(result.eval_return),
            "diverged": np.asarray(result.diverged),
            "final_return_mean": float(np.mean(result.final_return)),
            "eval_return_mean": float(np.mean(result.eval_return)),
            "wall_seconds": time.time() - start,
            # env steps per second over all seeds after the first chunk (None when there is only one chunk)
            "steps_per_second": (config.num_updates - first_done) * config.batch_size * seeds / (end - first_end)
            if done > first_done
            else None,
        },
    )
    return run_dir
