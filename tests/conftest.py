"""Shared fixtures: small configs and compiled functions reused across tests.

JIT compilation dominates small tests, so every compiled training function
that several tests need is built once per session here.
"""

from __future__ import annotations

import jax
import pytest

from metalearn.envs import make_env
from metalearn.inner import TrainConfig, make_train

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
