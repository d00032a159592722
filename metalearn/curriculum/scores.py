"""Level scores for a curriculum: how much a level still has to teach the rules.

Inputs are per member and level: ``N`` members of the population, ``L``
levels. Members whose training diverged (``healthy`` False) are left out; a
level no healthy member was trained on gets NaN, which the buffer skips.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _healthy_mean(values: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) mean over the healthy rows of ``values`` (N, L); NaN where there are none."""
    w = healthy.astype(values.dtype)[:, None]
    total = jnp.sum(jnp.where(healthy[:, None], values, 0.0), axis=0)
    count = jnp.sum(w, axis=0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)


def regret(baseline_return: jax.Array, rule_return: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) algorithmic regret: ``baseline_return`` (L,) minus the healthy members' mean of ``rule_return`` (N, L).

    GROOVE scores a level by the return of a tuned hand-designed agent minus
    that of the agent the candidate rule trained; with a whole population on
    the same level we take the population's mean, the regret of the search
    distribution rather than of one member.
    """
    return baseline_return - _healthy_mean(rule_return, healthy)


def value_loss(loss: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) the healthy members' mean of the agents' final value loss ``loss`` (N, L)."""
    return _healthy_mean(loss, healthy)


def random(key: jax.Array, num_levels: int) -> jax.Array:
    """(L,) uniform [0, 1) scores: a buffer that prioritises nothing."""
    return jax.random.uniform(key, (num_levels,))
