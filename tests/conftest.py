"""Shared fixtures: small configs and compiled functions reused across tests.

JIT compilation dominates small tests, so every compiled training function
that several tests need is built once per session here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from metalearn.cli import compile_cache_dir
from metalearn.envs import make_env
from metalearn.inner import TrainConfig, make_train

# Settings, before anything compiles: JAX's persistent compilation cache in the user's cache directory beside the
# CLI's ($XDG_CACHE_HOME/metalearn/jax-tests), so the other xdist worker, the CLI subprocesses some tests start
# (which inherit the environment) and every other clone on this machine (CI's included) load what one process
# compiled instead of compiling it again. Entries are keyed by program, compile options, flags and jax version.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(compile_cache_dir().with_name("jax-tests")))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"])
)

# Test files whose tests share no fixtures and each compile their own programs (one generation per
# experiment config): under xdist they are shared out test by test, while every other file stays whole on
# one worker (the Makefile's --dist loadfile), so its module and session fixtures compile once.
SPREAD_FILES = ("tests/test_experiments.py",)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist it is never called
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, except that the tests of ``SPREAD_FILES`` are scheduled one by one."""
    if config.getoption("dist") != "loadfile":
        return None  # any other mode: xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class FilesWholeSomeSpread(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.split("::")[0] in SPREAD_FILES else super()._split_scope(nodeid)

    return FilesWholeSomeSpread(config, log)


# 8 updates of 4 envs x 16 steps, 2 epochs x 2 minibatches: compiles in seconds.
TINY = TrainConfig(
    total_timesteps=8 * 4 * 16,
    num_envs=4,
    num_steps=16,
    update_epochs=2,
    num_minibatches=2,
    final_window=4,
    eval_envs=4,
    eval_steps=50,
)


@pytest.fixture(scope="session")
def cartpole():
    return make_env("CartPole-v1")


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_train(cartpole):
    """``train(None, keys (S, 2))`` vmapped over seeds, jitted once."""
    return jax.jit(jax.vmap(make_train(cartpole, TINY), in_axes=(None, 0)))


@pytest.fixture(scope="session")
def tiny_result(tiny_train):
    """Result of the tiny config on seeds 0 and 1."""
    return tiny_train(None, jax.random.split(jax.random.PRNGKey(0), 2))


def tiny_meta_dict(generations: int = 3, population: int = 4, timesteps: int = 2048) -> dict:
    """A meta-training config that runs a generation in well under a second."""
    train = {
        "total_timesteps": timesteps,
        "num_envs": 4,
        "num_steps": 32,
        "update_epochs": 2,
        "num_minibatches": 2,
        "eval_envs": 0,
    }
    return {
        "rule": {"name": "lr_schedule", "kwargs": {"knots": 4, "init_lr": 1e-4}},
        "strategy": {"name": "open_es", "population_size": population, "sigma": 0.5, "lr": 0.3},
        "tasks": [{"preset": "cartpole", "train": train, "reference_return": 500.0}],
        "generations": generations,
        "seeds_per_member": 2,
        "eval_every": 2,
        "eval_seeds": 2,
    }


def assert_meta_training_moves_the_rule(config: dict, generations: int = 2) -> None:
    """Meta-train ``config`` a few generations: no NaN member, finite fitness, a finite rule that moved."""
    from metalearn.meta import ESTrainer, MetaConfig

    trainer = ESTrainer(MetaConfig.from_dict(config))
    state = trainer.init()
    before = jax.tree.leaves(trainer.mean_params(state))
    for _ in range(generations):
        state, metrics = trainer.generation(state)
        assert int(metrics.nan_count) == 0 and np.isfinite(float(metrics.mean_fitness))
    after = jax.tree.leaves(trainer.mean_params(state))
    assert all(np.isfinite(np.asarray(x)).all() for x in after)
    assert any(float(np.abs(np.asarray(a) - np.asarray(b)).max()) > 0.0 for a, b in zip(after, before, strict=True))


def checkpoint_leaves(run_dir: Path) -> dict:
    """The latest checkpoint of a run as {leaf name: array}."""
    from metalearn.meta.checkpoint import latest_checkpoint
    from metalearn.pytree_io import flatten_with_names, load_pytree

    tree, _ = load_pytree(latest_checkpoint(run_dir), format="metalearn-checkpoint")
    names, values, _ = flatten_with_names(tree)
    return dict(zip(names, values, strict=True))


def assert_same_checkpoints(a: Path, b: Path) -> dict:
    """Two runs' latest checkpoints hold the same leaves with bit-equal values; returns the first's leaves."""
    left, right = checkpoint_leaves(a), checkpoint_leaves(b)
    assert left.keys() == right.keys()
    for k in left:
        np.testing.assert_array_equal(left[k], right[k], err_msg=k)
    return left


# ------------------------------------------------------------ CLI subprocesses
def metalearn_cli(*args: str, log_dir: Path) -> subprocess.Popen:
    """``python -m metalearn.cli ARGS --quiet`` in a subprocess, its stderr in a file under ``log_dir``
    (``proc.log``): a pipe nobody reads while waiting fills up and blocks the child."""
    log = log_dir / f"stderr-{time.monotonic_ns()}.txt"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "metalearn.cli", *args, "--quiet"], stdout=subprocess.DEVNULL, stderr=f, text=True
        )
    proc.log = log
    return proc


def assert_succeeds(proc: subprocess.Popen, timeout: float = 600) -> None:
    """Waits for a :func:`metalearn_cli` process; fails with the end of its stderr unless it exits 0."""
    assert proc.wait(timeout=timeout) == 0, proc.log.read_text()[-4000:]
