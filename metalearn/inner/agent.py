"""The inner agent's interface, and the parts of a training every agent shares.

An agent is one training configuration of one learner: PPO/A2C's :class:`~metalearn.inner.trainer.Trainer`,
or the agent a rule brings (DiscoRL's :class:`~metalearn.inner.disco_agent.DiscoAgent`). Every caller (the
meta-trainer, evaluation, tuning, the CLI) sees only :class:`Agent`; :data:`metalearn.inner.registry.AGENTS`
names them, and ``make_trainer`` picks the one a rule needs. All methods are pure and jittable, so
``jax.vmap`` runs seeds, levels and populations of rules at once.

An agent subclasses :class:`Agent` and writes itself only :meth:`Agent.init`, :meth:`Agent.update` (its
learning step) and how its policy acts (:meth:`Agent.evaluate`, through :func:`evaluate_policy`); it inherits
the run loop (:func:`run_updates`), the run's summary (:func:`summarise`) and a whole training (:func:`train`),
which are written once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp

from metalearn.envs.wrappers import LogState, find_wrapper_state
from metalearn.inner.config import TrainConfig
from metalearn.inner.results import TrainResult, UpdateMetrics


class AgentState(Protocol):
    """What the shared parts read of an agent's state (a NamedTuple of arrays)."""

    params: Any  # the agent's parameters (what ``evaluate`` acts with)
    env_state: Any  # its training envs' state
    rng: jax.Array
    diverged: jax.Array  # () bool, a loss or parameter was ever non-finite


class Agent(Protocol):
    """One inner training configuration: built as ``Agent(env, config, optimizer=None, objective=None)``.

    Subclasses write :meth:`init`, :meth:`update` and :meth:`evaluate`; :meth:`run`, :meth:`result` and
    :meth:`train` are the shared ones below.

    ``env`` is a registry name or an unwrapped env; ``config`` a :class:`TrainConfig` (an agent reads the
    fields it needs: every agent reads ``total_timesteps``, ``num_envs``, ``num_steps``, ``final_window``,
    ``eval_envs``, ``eval_steps``, ``return_params``); ``optimizer`` and ``objective`` are a rule's hooks
    (:func:`metalearn.inner.make_trainer`). ``hypers`` ({TrainConfig field: traced number}) are the values a
    tuning grid varies inside one program; an agent that cannot take them refuses them.
    """

    config: TrainConfig
    spec: Any  # the env's EnvSpec
    base_env: Any  # the unwrapped env (``base_env.default_params`` when ``env_params`` is None)
    # The frozen dataclass of the agent's own settings, which a rule that brings the agent takes as keywords
    # (metalearn.rules routes them); None when the agent has none beyond TrainConfig.
    settings_type: ClassVar[type | None] = None
    # The TrainConfig fields the agent reads (None: every one), so a value given to another is refused where it
    # would be silently ignored (a baseline's tuned values taken by a rule's arm).
    config_fields: ClassVar[tuple[str, ...] | None] = None

    def init(
        self, meta_params: Any, rng: jax.Array, env_params: Any = None, hypers: dict | None = None
    ) -> AgentState: ...

    def update(self, meta_params: Any, state: Any, env_params: Any = None) -> tuple[Any, UpdateMetrics]: ...

    def evaluate(self, params: Any, env_state: Any, rng: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean return of one episode per eval env under the final policy (``params``); ``env_state`` is the
        training envs' (observation statistics); NaN when evaluation is disabled (``eval_envs`` 0)."""
        ...

    def run(self, meta_params: Any, state: Any, num_updates: int, env_params: Any = None) -> tuple[Any, UpdateMetrics]:
        """``num_updates`` (static) updates; metrics stacked to (num_updates,)."""
        return run_updates(self, meta_params, state, num_updates, env_params)

    def result(self, state: Any, metrics: UpdateMetrics, env_params: Any = None) -> TrainResult:
        """Summarises a finished run (``metrics`` stacked over all its updates): :func:`summarise`."""
        return summarise(self, state, metrics, env_params)

    def train(
        self, meta_params: Any, rng: jax.Array, env_params: Any = None, hypers: dict | None = None
    ) -> TrainResult:
        """A whole training: :meth:`init` (with ``hypers``), ``config.num_updates`` updates, :meth:`result`."""
        return train(self, meta_params, rng, env_params, hypers)


def run_updates(
    agent: Agent, meta_params: Any, state: Any, num_updates: int, env_params: Any = None
) -> tuple[Any, UpdateMetrics]:
    """``num_updates`` (static) of ``agent``'s updates; metrics stacked to (num_updates,)."""
    return jax.lax.scan(lambda s, _: agent.update(meta_params, s, env_params), state, None, num_updates)


def summarise(agent: Agent, state: AgentState, metrics: UpdateMetrics, env_params: Any = None) -> TrainResult:
    """A finished run's :class:`TrainResult` (``metrics`` stacked over all its updates): the curve's last
    ``final_window`` updates, and the final policy evaluated on a key split from the state's."""
    window = min(agent.config.final_window, metrics.episode_return.shape[0])
    _, k_eval = jax.random.split(state.rng)
    return TrainResult(
        final_return=metrics.episode_return[-window:].mean(),
        eval_return=agent.evaluate(state.params, state.env_state, k_eval, env_params),
        curve=metrics.episode_return,
        metrics=metrics,
        diverged=state.diverged,
        params=state.params if agent.config.return_params else None,
    )


def train(
    agent: Agent, meta_params: Any, rng: jax.Array, env_params: Any = None, hypers: dict | None = None
) -> TrainResult:
    """A whole training: ``init``, ``config.num_updates`` updates, ``result``."""
    state = agent.init(meta_params, rng, env_params, hypers)
    state, metrics = agent.run(meta_params, state, agent.config.num_updates, env_params)
    return agent.result(state, metrics, env_params)


def evaluate_policy(
    env: Any,
    act: Callable[[jax.Array, jax.Array], jax.Array],
    rng: jax.Array,
    num_envs: int,
    steps: int,
    env_params: Any,
    reset: Callable[[jax.Array], tuple[jax.Array, Any]] | None = None,
) -> jax.Array:
    """Mean return of one episode in each of ``num_envs`` fresh envs of ``env`` (a training-wrapped env), each
    action ``act(obs, key)`` (the policy, sampling); NaN when ``num_envs`` or ``steps`` is 0. An episode not
    finished within ``steps`` counts with its return so far. ``reset(keys) -> (obs, env_state)`` replaces
    ``env.reset`` (e.g. to start from frozen observation statistics)."""
    if num_envs == 0 or steps == 0:
        return jnp.asarray(jnp.nan, jnp.float32)
    n = num_envs
    rng, k_reset = jax.random.split(rng)
    keys = jax.random.split(k_reset, n)
    obs, st = env.reset(keys, env_params) if reset is None else reset(keys)

    def step(carry, _):
        st, obs, rng, first_return, finished = carry
        rng, k_act, k_step = jax.random.split(rng, 3)
        action = act(obs, k_act)
        obs, st, _, terminated, truncated, info = env.step(jax.random.split(k_step, n), st, action, env_params)
        done = jnp.logical_or(terminated, truncated)
        first_return = jnp.where(done & ~finished, info["returned_episode_returns"], first_return)
        return (st, obs, rng, first_return, finished | done), None

    init = (st, obs, rng, jnp.zeros((n,), jnp.float32), jnp.zeros((n,), bool))
    (st, _, _, first_return, finished), _ = jax.lax.scan(step, init, None, steps)
    partial = find_wrapper_state(st, LogState).episode_return
    return jnp.mean(jnp.where(finished, first_return, partial))


def refuse_hypers(name: str, hypers: dict | None) -> None:
    """For agents that take no traced hyper-parameters: ``hypers`` must be None."""
    if hypers is not None:
        raise ValueError(
            f"hypers={sorted(hypers)} is invalid for the {name} agent (it is not tuned over traced values); "
            "allowed: None (tuning grids run PPO/A2C agents)"
        )
