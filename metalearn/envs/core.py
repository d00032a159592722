"""The environment protocol every trainer uses, and adapters for gymnax and brax.

An environment here is a *single*, pure, gymnax-1.0-shaped object:

    reset(key, params) -> (obs, state)
    step(key, state, action, params)
        -> (obs, state, reward, terminated, truncated, info)

with auto-reset inside ``step`` (the returned ``obs`` after a terminal step is
the first observation of the next episode), observations flattened to one
float32 vector, and a static :class:`EnvSpec` describing spaces. Vectorisation
and normalisation are wrappers (see ``wrappers.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


class LevelFamily(Protocol):
    """A procedural family of levels (env params) a curriculum draws from.

    ``template`` is one level with the family's padded shapes (the env is built
    on it, and level buffers are shaped like it); ``random_level`` draws one
    level (jittable, ``jax.vmap`` over keys gives a batch), each carrying the
    ``lifetime`` an agent trained on it gets; ``summary`` says
    what a batch of levels (leaves (L, ...)) looks like, as () float32 means
    for the run's metrics and plots.
    """

    template: Any
    max_lifetime: int  # the longest agent lifetime (updates) a level can carry

    def random_level(self, key: jax.Array) -> Any: ...

    def summary(self, levels: Any) -> dict[str, jax.Array]: ...


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment's spaces.

    Attributes:
      name: registry name.
      obs_dim: length of the flattened float32 observation.
      discrete: categorical actions (int32 scalar) if True, else a float32
        vector of ``action_dim`` entries.
      action_dim: number of actions (discrete) or action size (continuous).
      action_low / action_high: per-dimension bounds (continuous only).
      max_episode_steps: the time limit after which ``truncated`` is set.
    """

    name: str
    obs_dim: int
    discrete: bool
    action_dim: int
    max_episode_steps: int
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None


def _flat(obs: jax.Array) -> jax.Array:
    return jnp.reshape(obs, (-1,)).astype(jnp.float32)


class GymnaxEnv:
    """A gymnax environment with flattened float32 observations.

    gymnax 1.0 ``step`` returns ``terminated`` and ``truncated`` apart and
    auto-resets; its info (final observation etc.) is dropped so rollouts stay
    small.
    """

    def __init__(self, name: str, **kwargs: Any):
        import gymnax  # imported lazily: it pulls in heavy modules

        self._env, self.default_params = gymnax.make(name, **kwargs)
        obs_space = self._env.observation_space(self.default_params)
        act_space = self._env.action_space(self.default_params)
        discrete = hasattr(act_space, "n")
        # Some continuous gymnax envs declare a scalar action; we always use a vector.
        self._scalar_action = not discrete and act_space.shape == ()
        low = high = None
        if not discrete:
            shape = act_space.shape or (1,)
            low = tuple(np.broadcast_to(np.asarray(act_space.low, np.float32), shape).tolist())
            high = tuple(np.broadcast_to(np.asarray(act_space.high, np.float32), shape).tolist())
        self.spec = EnvSpec(
            name=name,
            obs_dim=int(np.prod(obs_space.shape, dtype=int)),
            discrete=discrete,
            action_dim=int(act_space.n) if discrete else int(np.prod(act_space.shape or (1,))),
            max_episode_steps=int(self.default_params.max_steps_in_episode),
            action_low=low,
            action_high=high,
        )

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        obs, state = self._env.reset(key, params)
        return _flat(obs), state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any):
        if self._scalar_action:
            action = action[0]
        obs, state, reward, terminated, truncated, _ = self._env.step(key, state, action, params)
        return (
            _flat(obs),
            state,
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, bool),
            jnp.asarray(truncated, bool),
            {},
        )


@struct.dataclass
class BraxEnvState:
    inner: Any  # brax.envs.State
    time: jax.Array  # () int32 steps taken in the current episode


class BraxEnv:
    """A brax environment behind the gymnax-shaped protocol.

    Brax has no env params (``default_params`` is ``None``); the time limit and
    auto-reset are done here so that ``truncated`` is reported apart from a
    real termination and every new episode starts from a freshly sampled state.
    """

    def __init__(self, name: str, backend: str = "spring", episode_length: int = 1000, **kwargs: Any):
        printed = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
            warnings.simplefilter("ignore")  # brax warns that it is in maintenance mode
            # mujoco's mjx prints "Failed to import warp" / "...mujoco_warp..." at import: an optional GPU
            # backend we do not use; anything else printed there still reaches the user.
            from brax import envs as brax_envs

            self._env = brax_envs.get_environment(name, backend=backend, **kwargs)
        for line in printed.getvalue().splitlines():
            if not line.startswith(("Failed to import warp", "Failed to import mujoco_warp")):
                print(line)
        if episode_length < 1:
            raise ValueError(f"episode_length={episode_length} must be >= 1")
        self.default_params = None
        self.episode_length = int(episode_length)
        self.spec = EnvSpec(
            name=f"brax/{name}",
            obs_dim=int(self._env.observation_size),
            discrete=False,
            action_dim=int(self._env.action_size),
            max_episode_steps=self.episode_length,
            action_low=(-1.0,) * int(self._env.action_size),
            action_high=(1.0,) * int(self._env.action_size),
        )

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, BraxEnvState]:
        inner = self._env.reset(key)
        return inner.obs, BraxEnvState(inner=inner, time=jnp.zeros((), jnp.int32))

    def step(self, key: jax.Array, state: BraxEnvState, action: jax.Array, params: Any = None):
        inner = self._env.step(state.inner, action)
        time = state.time + 1
        terminated = inner.done > 0.5
        truncated = jnp.logical_and(time >= self.episode_length, jnp.logical_not(terminated))
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.reset(key, params)
        new_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_reset, BraxEnvState(inner=inner, time=time))
        obs = jnp.where(done, obs_reset, inner.obs)
        return obs, new_state, inner.reward, terminated, truncated, {}
