"""PPO's clipped surrogate (Schulman et al. 2017)."""

from __future__ import annotations

import jax.numpy as jnp

from objectives.base import ActorObjective, ObjectiveInputs


def ppo_clip(clip_eps: float = 0.2) -> ActorObjective:
    """−min(r·A, clip(r, 1−ε, 1+ε)·A) per sample."""

    def objective(meta_params, x: ObjectiveInputs):
        del meta_params
        clipped = jnp.clip(x.ratio, 1.0 - clip_eps, 1.0 + clip_eps)
        return -jnp.minimum(x.ratio * x.advantage, clipped * x.advantage)

    return objective
