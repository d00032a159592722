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


def healthy_mean(values: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) mean over the healthy rows of ``values`` (M, L); ``healthy`` (M,) or (M, L); NaN where there are none."""
    healthy = healthy[:, None] if healthy.ndim == 1 else healthy
    w = healthy.astype(values.dtype)
    total = jnp.sum(jnp.where(healthy, values, 0.0), axis=0)
    count = jnp.sum(w, axis=0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)


def regret(baseline_return: jax.Array, rule_return: jax.Array, healthy: jax.Array) -> jax.Array:
    """(L,) regret: ``baseline_return`` (L,) minus the healthy members' mean of ``rule_return`` (M, L).

    Each member's regret is the baseline's return on its level minus its own; a level's score is
    the mean over the healthy members trained on it (the population, or an antithetic pair), so
    this is both GROOVE's per-agent algorithmic regret averaged over a level's agents and the
    regret of the search distribution. ``healthy``: (M,) or (M, L) bool.
    """
    return baseline_return - healthy_mean(rule_return, healthy)


def random(key: jax.Array, num_levels: int) -> jax.Array:
    """(L,) uniform [0, 1) scores: a buffer that prioritises nothing."""
    return jax.random.uniform(key, (num_levels,))


# ------------------------------------------------------------------ registry
class ScoreInputs(NamedTuple):
    """What a level score may read after a population was evaluated on a batch of ``L`` levels.

    key: this generation's evaluation key (the members' seeds derive from it).
    levels: the batch, leaves (L, ...).
    level_stats: name -> (M, L) statistics of the M members trained on each level (see the module
      docstring for M), averaged over seeds: ``return`` (the fitness statistic, raw, from the
      training curve), ``eval_return`` (the final policy's return in evaluation rollouts), and over
      the last ``final_window`` updates ``value_loss``, ``positive_value_loss`` (mean max(Â, 0)) and
      ``l1_value_loss`` (mean |Â|) of the agent's critic.
    healthy: bool, whether those members neither diverged nor got a non-finite fitness: (M,) when the
      rows are the same members on every level (M = N), (M, L) when they differ (antithetic pairs).
    baseline_return: ``(key, levels) -> (L,)`` the baseline agent's fitness statistic on the levels at
      the task's budget, with the members' seeds there; None unless the score ``needs_baseline``.
    antagonist_return: ``(key, levels) -> (L,)`` the evaluation-rollout return of the baseline agent
      trained for the level family's longest lifetime (GROOVE's antagonist), with the members' seeds
      there; None unless the score ``needs_antagonist``.
    """

    key: jax.Array
    levels: Any
    level_stats: dict[str, jax.Array]
    healthy: jax.Array
    baseline_return: Callable[[jax.Array, Any], jax.Array] | None = None
    antagonist_return: Callable[[jax.Array, Any], jax.Array] | None = None


class LevelScore(NamedTuple):
    """A registered score: ``fn(ScoreInputs) -> (L,)``, and what it needs trained besides the members:
    the baseline at the task's budget, the antagonist, or the members' own critic (``train.vf_coef > 0``)."""

    fn: Callable[[ScoreInputs], jax.Array]
    needs_baseline: bool = False
    needs_antagonist: bool = False
    needs_critic: bool = False


def _critic_score(name: str) -> LevelScore:
    return LevelScore(lambda s: healthy_mean(s.level_stats[name], s.healthy), needs_critic=True)


# A new score is a function of ScoreInputs plus one line here; CurriculumConfig validates against this.
LEVEL_SCORES: dict[str, LevelScore] = {
    # Our earlier regret: the baseline at the task's budget, both read from their training curves.
    "regret": LevelScore(
        lambda s: regret(s.baseline_return(s.key, s.levels), s.level_stats["return"], s.healthy), needs_baseline=True
    ),
    # GROOVE's: an antagonist trained for the family's longest lifetime, both agents evaluated by rollouts.
    "alg_regret": LevelScore(
        lambda s: regret(s.antagonist_return(s.key, s.levels), s.level_stats["eval_return"], s.healthy),
        needs_antagonist=True,
    ),
    "value_loss": _critic_score("value_loss"),
    "positive_value_loss": _critic_score("positive_value_loss"),
    "l1_value_loss": _critic_score("l1_value_loss"),
    "random": LevelScore(lambda s: random(s.key, jax.tree.leaves(s.levels)[0].shape[0])),
}
