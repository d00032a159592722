"""Wrappers a policy-gradient trainer needs, all pure and jittable.

Single-env wrappers (same protocol as ``core``): :class:`LogWrapper`,
:class:`ClipAction`. :class:`VecEnv` vmaps a single env over a leading axis of
keys; the normalisers operate on that batched env because their running
statistics are shared by all its copies.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from metalearn.envs.core import EnvSpec


class Wrapper:
    """Forwards the spec and default params of the wrapped env."""

    def __init__(self, env: Any):
        self.env = env

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    @property
    def default_params(self) -> Any:
        return self.env.default_params


@struct.dataclass
class LogState:
    env_state: Any
    episode_return: jax.Array  # () return of the running episode
    episode_length: jax.Array  # () length of the running episode
    returned_episode_return: jax.Array  # () return of the last finished episode (0 before one)
    returned_episode_length: jax.Array  # () its length


class LogWrapper(Wrapper):
    """Tracks episode returns; adds to ``info``:

    ``returned_episode_returns`` / ``returned_episode_lengths`` (the last
    finished episode, 0 before the first), and ``returned_episode`` (True on
    the step that finished one). Rewards are logged before any reward
    normalisation, so these are always the environment's own returns.
    """

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return obs, LogState(env_state, zero_f, zero_i, zero_f, zero_i)

    def step(self, key, state: LogState, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(key, state.env_state, action, params)
        done = jnp.logical_or(terminated, truncated)
        ep_return = state.episode_return + reward
        ep_length = state.episode_length + 1
        state = LogState(
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, ep_return),
            episode_length=jnp.where(done, 0, ep_length),
            returned_episode_return=jnp.where(done, ep_return, state.returned_episode_return),
            returned_episode_length=jnp.where(done, ep_length, state.returned_episode_length),
        )
        info = {
            **info,
            "returned_episode_returns": state.returned_episode_return,
            "returned_episode_lengths": state.returned_episode_length,
            "returned_episode": done,
        }
        return obs, state, reward, terminated, truncated, info


class ClipAction(Wrapper):
    """Clips continuous actions to the spec's bounds before they reach the env.

    The agent keeps the unclipped sample for its log-probability, as in
    PureJaxRL and the OPEN reference.
    """

    def __init__(self, env: Any):
        super().__init__(env)
        if env.spec.discrete:
            raise ValueError(f"ClipAction needs a continuous action space; {env.spec.name} is discrete")
        self._low = jnp.asarray(env.spec.action_low, jnp.float32)
        self._high = jnp.asarray(env.spec.action_high, jnp.float32)

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        return self.env.step(key, state, jnp.clip(action, self._low, self._high), params)


class VecEnv(Wrapper):
    """vmaps a single env: ``reset(keys (N, 2), params)``, ``step(keys, state, actions, params)``.

    ``params`` is shared by all copies (not batched).
    """

    def reset(self, keys, params):
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, keys, state, action, params):
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)


@struct.dataclass
class RunningMeanStd:
    """Running mean/variance over a stream of batches (parallel Welford)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # () float32

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        # count starts at a tiny value so the first update is not divided by zero.
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """``batch``: (B, *shape)."""
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningMeanStd(mean, m2 / total, total)


@struct.dataclass
class NormObsState:
    env_state: Any
    obs_stats: RunningMeanStd


class NormalizeObservation(Wrapper):
    """Normalises a :class:`VecEnv`'s observations by running statistics.

    With ``update_stats=False`` the statistics are frozen: use it with
    :meth:`reset_with_stats` to evaluate a trained policy under the statistics
    it was trained with.
    """

    def __init__(self, env: Any, update_stats: bool = True, eps: float = 1e-8):
        super().__init__(env)
        self.update_stats = update_stats
        self.eps = eps

    def _norm(self, obs, stats: RunningMeanStd):
        return (obs - stats.mean) / jnp.sqrt(stats.var + self.eps)

    def reset(self, keys, params):
        obs, env_state = self.env.reset(keys, params)
        stats = RunningMeanStd.create(obs.shape[1:])
        if self.update_stats:
            stats = stats.update(obs)
        return self._norm(obs, stats), NormObsState(env_state, stats)

    def reset_with_stats(self, keys, params, stats: RunningMeanStd):
        obs, env_state = self.env.reset(keys, params)
        return self._norm(obs, stats), NormObsState(env_state, stats)

    def step(self, keys, state: NormObsState, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(keys, state.env_state, action, params)
        stats = state.obs_stats.update(obs) if self.update_stats else state.obs_stats
        return self._norm(obs, stats), NormObsState(env_state, stats), reward, terminated, truncated, info


@struct.dataclass
class NormRewardState:
    env_state: Any
    discounted_return: jax.Array  # (N,)
    return_stats: RunningMeanStd


class NormalizeReward(Wrapper):
    """Scales a :class:`VecEnv`'s rewards by the running std of the discounted return."""

    def __init__(self, env: Any, gamma: float, eps: float = 1e-8):
        super().__init__(env)
        self.gamma = gamma
        self.eps = eps

    def reset(self, keys, params):
        obs, env_state = self.env.reset(keys, params)
        n = keys.shape[0]
        return obs, NormRewardState(env_state, jnp.zeros((n,)), RunningMeanStd.create(()))

    def step(self, keys, state: NormRewardState, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(keys, state.env_state, action, params)
        done = jnp.logical_or(terminated, truncated)
        ret = state.discounted_return * self.gamma * (1.0 - done) + reward
        stats = state.return_stats.update(ret)
        reward = reward / jnp.sqrt(stats.var + self.eps)
        return obs, NormRewardState(env_state, ret, stats), reward, terminated, truncated, info


def find_wrapper_state(state: Any, cls: type) -> Any:
    """Returns the first nested wrapper state of type ``cls`` (or None)."""
    while state is not None:
        if isinstance(state, cls):
            return state
        state = getattr(state, "env_state", None)
    return None
