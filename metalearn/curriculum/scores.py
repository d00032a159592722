"""Level scores for a curriculum: how much a level still has to teach the rules.

Inputs are per member and level: ``L`` levels and, for each, the ``M``
members trained on it (``M = N``, the whole population, when every member
trains on every level; ``M = 2``, the level's antithetic pair, under
antithetic task sampling). Members whose training diverged (``healthy``
False) are left out; a level no healthy member was trained on gets NaN,
which the buffer skips.

``LEVEL_SCORES`` names the scores a curriculum can use (``curriculum.score``):
each is a function of :class:`ScoreInputs` returning (L,) scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


def _healthy_mean(values: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) mean over the healthy rows of ``values`` (M, L); ``healthy`` (M,) or (M, L); NaN where there are none."""
    healthy = healthy[:, None] if healthy.ndim == 1 else healthy
    w = healthy.astype(values.dtype)
    total = jnp.sum(jnp.where(healthy, values, 0.0), axis=0)
    count = jnp.sum(w, axis=0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)


def regret(baseline_return: jax.Array, rule_return: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) algorithmic regret: ``baseline_return`` (L,) minus the healthy members' mean of ``rule_return`` (M, L).

    GROOVE scores a level by the return of a tuned hand-designed agent minus
    that of the agent the candidate rule trained; with several members on a
    level (the population, or an antithetic pair) we take their mean, the
    regret of the search distribution rather than of one member.
    ``healthy``: (M,) or (M, L) bool.
    """
    return baseline_return - _healthy_mean(rule_return, healthy)


def value_loss(loss: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) the healthy members' mean of the agents' final value loss ``loss`` (M, L); ``healthy`` (M,) or (M, L)."""
    return _healthy_mean(loss, healthy)


def random(key: jax.Array, num_levels: int) -> jax.Array:
    """(L,) uniform [0, 1) scores: a buffer that prioritises nothing."""
    return jax.random.uniform(key, (num_levels,))


# ------------------------------------------------------------------ registry
class ScoreInputs(NamedTuple):
    """What a level score may read after a population was evaluated on a batch of ``L`` levels.

    key: this generation's evaluation key (the members' seeds derive from it).
    levels: the batch, leaves (L, ...).
    level_return: (M, L) the fitness statistic (raw) of the M members trained on each level, averaged
      over seeds (see the module docstring for M).
    level_value_loss: (M, L) their final value loss on each level, averaged over seeds.
    healthy: bool, whether those members neither diverged nor got a non-finite fitness: (M,) when the
      rows are the same members on every level (M = N), (M, L) when they differ (antithetic pairs).
    baseline_return: ``(key, levels) -> (L,)`` the hand-designed baseline's return on the levels
      with the members' seeds there; None unless the score ``needs_baseline``.
    """

    key: jax.Array
    levels: Any
    level_return: jax.Array
    level_value_loss: jax.Array
    healthy: jax.Array
    baseline_return: Callable[[jax.Array, Any], jax.Array] | None = None


class LevelScore(NamedTuple):
    """A registered score: ``fn(ScoreInputs) -> (L,)``; ``needs_baseline`` if it trains the baseline agent."""

    fn: Callable[[ScoreInputs], jax.Array]
    needs_baseline: bool = False


# A new score is a function of ScoreInputs plus one line here; CurriculumConfig validates against this.
LEVEL_SCORES: dict[str, LevelScore] = {
    "regret": LevelScore(
        lambda s: regret(s.baseline_return(s.key, s.levels), s.level_return, s.healthy), needs_baseline=True
    ),
    "value_loss": LevelScore(lambda s: value_loss(s.level_value_loss, s.healthy)),
    "random": LevelScore(lambda s: random(s.key, s.level_return.shape[1])),
}
