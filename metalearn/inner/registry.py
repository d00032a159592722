"""Inner agents by name; a new agent is one module plus one line here.

``AGENTS[name](env, config, optimizer=None, objective=None)`` builds an :class:`~metalearn.inner.agent.Agent`.
A rule names the agent it brings (``Objective.agent``, an objective module's ``AGENT``); every other rule
is trained by PPO/A2C's :class:`~metalearn.inner.trainer.Trainer` (:data:`DEFAULT_AGENT`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax

from metalearn.inner.agent import Agent
from metalearn.inner.config import TrainConfig
from metalearn.inner.disco_agent import DiscoAgent
from metalearn.inner.results import TrainResult
from metalearn.inner.trainer import OptimizerLike, Trainer
from metalearn.validation import unknown
from objectives import Objective

AGENTS: dict[str, type[Agent]] = {
    "ppo": Trainer,  # PPO and A2C (TrainConfig.algorithm), any learned optimizer or objective
    "disco": DiscoAgent,  # the agent DiscoRL rules bring
}
DEFAULT_AGENT = "ppo"


def agent_name(objective: Objective | Callable | None) -> str:
    """The agent that trains a rule with ``objective``: the one it brings, else :data:`DEFAULT_AGENT`."""
    name = objective.agent if isinstance(objective, Objective) and objective.agent is not None else DEFAULT_AGENT
    if name not in AGENTS:
        raise unknown("agent", name, list(AGENTS))
    return name


def unread_fields(objective: Objective | Callable | None, fields: Iterable[str]) -> list[str]:
    """Those of the TrainConfig ``fields`` that the agent training a rule with ``objective`` does not read."""
    reads = AGENTS[agent_name(objective)].config_fields
    return [] if reads is None else sorted(set(fields) - set(reads))


def make_trainer(
    env: Any,
    config: TrainConfig,
    optimizer: OptimizerLike | None = None,
    objective: Objective | Callable | None = None,
) -> Agent:
    """The agent a rule needs (see :data:`AGENTS`): PPO/A2C's :class:`Trainer` with any optimizer or objective,
    or for an ``"agent"``-kind rule (DiscoRL) the agent it brings."""
    return AGENTS[agent_name(objective)](env, config, optimizer, objective)


def make_train(
    env: Any,
    config: TrainConfig,
    optimizer: OptimizerLike | None = None,
    objective: Objective | Callable | None = None,
) -> Callable[..., TrainResult]:
    """``train(meta_params, rng, env_params=None) -> TrainResult``, jitted (see :func:`make_trainer`).

    ``env`` is a registry name or an unwrapped env from ``make_env``.
    Hand-designed rules ignore ``meta_params`` (pass ``None``). vmap over
    seeds with ``jax.vmap(train, in_axes=(None, 0))`` and over a population
    with ``in_axes=(0, None)`` or both.
    """
    return jax.jit(make_trainer(env, config, optimizer, objective).train)
