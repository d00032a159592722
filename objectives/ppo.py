"""PPO's clipped surrogate (Schulman et al. 2017), also written as a drift."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from objectives.base import Objective, ObjectiveInputs

KIND = "drift"


def ppo_clip(clip_eps: float = 0.2) -> Objective:
    """−min(r·A, clip(r, 1−ε, 1+ε)·A) per sample (the trainer's default objective)."""

    def loss(meta_params, x: ObjectiveInputs):
        del meta_params
        clipped = jnp.clip(x.ratio, 1.0 - clip_eps, 1.0 + clip_eps)
        return -jnp.minimum(x.ratio * x.advantage, clipped * x.advantage)

    return Objective(loss, KIND)


def ppo_drift(ratio: jax.Array, advantage: jax.Array, clip_eps: float = 0.2) -> jax.Array:
    """PPO-clip as a drift: relu((r − clip(r, 1−ε, 1+ε))·A).

    r·A − f equals min(r·A, clip(r)·A) exactly, so :func:`objectives.drift.drift_loss`
    with this drift is :func:`ppo_clip`.
    """
    return jax.nn.relu((ratio - jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)) * advantage)


# The rule interface (see objectives/__init__.py): no meta-parameters.
def init(rng: jax.Array) -> dict:
    del rng
    return {}


def to_objective(clip_eps: float = 0.2) -> Objective:
    """The clipped surrogate, ``clip_eps`` checked."""
    if not clip_eps > 0:
        raise ValueError(f"clip_eps={clip_eps} must be > 0")
    return ppo_clip(clip_eps)
