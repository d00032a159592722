"""GROOVE's own level buffer (Jackson et al. 2023; the reference's ``environments/level_sampler.py``):
curriculum kind ``groove``.

Unlike kind ``plr`` (:mod:`metalearn.curriculum.plr`: Jiang et al.'s rank^(1/β) plus staleness, insert
above the lowest score), the reference keeps ``capacity`` levels, each with a score and two flags:
``active`` (an agent is training on it now) and ``new`` (never scored). Whenever agents end
their lifetimes (masked by ``done``, (n,); with ES every agent ends every generation):

1. :func:`record`: each ended agent's level gets its score and becomes inactive, not new;
2. :func:`reset_lowest`: the ``n`` lowest-priority inactive levels — new ones first, then the
   lowest-scoring — become fresh random levels (new, score 0), so at least ``n`` new inactive
   levels exist;
3. :func:`sample`: each ended agent gets a replayed level with probability ``replay_prob`` (only
   when at least ``n`` scored inactive levels exist), else a new one. Replays pick from scored
   inactive levels by p ∝ exp(score / T): ``rank`` takes the top ``n`` deterministically,
   ``proportional`` samples ``n`` without replacement; new levels are drawn uniformly without
   replacement. Chosen levels become active, so no level is given to two agents at once.

(The reference does 2 before 1 within one call; the order of one cycle is the same.) All state is
arrays (:class:`BufferState`), so it jits and is checkpointed like any pytree; a level is any
pytree of arrays. One deliberate difference: the reference's reset sets every *other* level's
``new`` flag to its ``active`` flag (``new=level_buffer.active.at[ids].set(True)``), which we take
for a slip; here only the reset levels become new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from metalearn.curriculum.base import Curriculum, LevelBatch
from metalearn.validation import field_error

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig

TRANSFORMS = ("rank", "proportional")


class BufferState(NamedTuple):
    """The buffer; leaves of ``levels`` have a leading (capacity,) axis.

    scores: (capacity,) float32, latest score of each level (0 while new).
    active: (capacity,) bool, an agent trains on the level now.
    new: (capacity,) bool, never scored.
    """

    levels: Any
    scores: jax.Array
    active: jax.Array
    new: jax.Array


def init(key: jax.Array, capacity: int, random_level: Callable[[jax.Array], Any]) -> BufferState:
    """``capacity`` random levels, all new and inactive."""
    levels = jax.vmap(random_level)(jax.random.split(key, capacity))
    false = jnp.zeros((capacity,), bool)
    return BufferState(levels, jnp.zeros((capacity,), jnp.float32), false, ~false)


def record(state: BufferState, indices: jax.Array, scores: jax.Array, done: jax.Array) -> BufferState:
    """Levels ``indices`` (n,) of the agents with ``done`` (n,) get ``scores`` (n,) and become inactive.

    A non-finite score (an agent that broke) leaves the level's score and ``new`` flag as they were.
    """
    scored = done & jnp.isfinite(scores)
    idx = jnp.where(done, indices, state.scores.shape[0])  # out of range: dropped by the scatter
    idx_scored = jnp.where(scored, indices, state.scores.shape[0])
    return state._replace(
        scores=state.scores.at[idx_scored].set(scores.astype(jnp.float32), mode="drop"),
        active=state.active.at[idx].set(False, mode="drop"),
        new=state.new.at[idx_scored].set(False, mode="drop"),
    )


def reset_lowest(key: jax.Array, state: BufferState, n: int, random_level: Callable[[jax.Array], Any]) -> BufferState:
    """The ``n`` lowest-priority inactive levels (new first, then by score) replaced by new random levels."""
    priority = jnp.where(state.new, -jnp.inf, state.scores)
    priority = jnp.where(state.active, jnp.inf, priority)
    ids = jnp.argsort(priority)[:n]
    fresh = jax.vmap(random_level)(jax.random.split(key, n))
    return BufferState(
        levels=jax.tree.map(lambda x, y: x.at[ids].set(y), state.levels, fresh),
        scores=state.scores.at[ids].set(0.0),
        active=state.active.at[ids].set(False),
        new=state.new.at[ids].set(True),
    )


def replay_probabilities(state: BufferState, temperature: float) -> jax.Array:
    """(capacity,) softmax(score / T) over the scored, inactive levels, 0 elsewhere; uniform if there are none."""
    ok = ~(state.new | state.active)
    logits = jnp.where(ok, state.scores / temperature, -jnp.inf)
    p = jnp.where(ok, jnp.exp(logits - jnp.max(logits)), 0.0)  # NaNs where not ok (all -inf) are masked
    return jnp.where(ok.any(), p / jnp.maximum(p.sum(), 1e-30), 1.0 / p.shape[0])


def sample(
    key: jax.Array,
    state: BufferState,
    indices: jax.Array,
    done: jax.Array,
    *,
    replay_prob: float,
    temperature: float,
    transform: str,
) -> tuple[jax.Array, jax.Array, BufferState]:
    """New levels for the agents with ``done`` (n,), whose current levels are ``indices`` (n,).

    Returns (indices (n,): the new level of each done agent, the old one elsewhere; replayed (n,)
    bool; the state with the chosen levels active). Needs ``n`` new inactive levels
    (:func:`reset_lowest` first).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform={transform!r}; allowed: {' | '.join(TRANSFORMS)}")
    n = done.shape[0]
    k_coin, k_perm, k_replay, k_new = jax.random.split(key, 4)
    ids = jnp.arange(state.scores.shape[0])
    p = replay_probabilities(state, temperature)
    if transform == "rank":
        replay_ids = jnp.argsort(p, descending=True)[:n]  # ties: lowest index first
    else:
        replay_ids = jax.random.choice(k_replay, ids, (n,), replace=False, p=p)
    fresh_ok = state.new & ~state.active
    new_ids = jax.random.choice(k_new, ids, (n,), replace=False, p=fresh_ok / jnp.maximum(fresh_ok.sum(), 1))
    # As the reference: Binomial(n, replay_prob) of the n slots replay, at random positions, and only
    # when n scored inactive levels exist (else every slot takes a new level).
    n_replay = jax.random.bernoulli(k_coin, replay_prob, (n,)).sum()
    replayable = jnp.sum(~(state.new | state.active))
    use_replay = jax.random.permutation(k_perm, (jnp.arange(n) < n_replay) & (replayable >= n))
    chosen = jnp.where(done, jnp.where(use_replay, replay_ids, new_ids), indices)
    active = state.active.at[jnp.where(done, chosen, ids.shape[0])].set(True, mode="drop")
    return chosen, done & use_replay, state._replace(active=active)


class Groove(Curriculum):
    """Kind ``groove``: scored levels with active/new flags; the lowest-scoring are reset, the rest replayed by
    softmax(score / T). Its methods call this module's functions (``init``, ``record``, ``sample``)."""

    remembers_scores = True

    @classmethod
    def validate(cls, config: CurriculumConfig) -> None:
        if config.capacity < 2 * config.levels_per_generation:
            raise field_error(
                config,
                "capacity",
                f"an integer >= 2 x levels_per_generation = {2 * config.levels_per_generation} (each round resets "
                "that many levels to new ones while as many are being replayed)",
                prefix="curriculum",
            )
        if not config.temperature > 0:
            raise field_error(config, "temperature", "a number > 0", prefix="curriculum")
        if not 0.0 <= config.replay_prob <= 1.0:
            raise field_error(config, "replay_prob", "a number in [0, 1]", prefix="curriculum")

    def init(self, key: jax.Array) -> BufferState:
        return init(key, self.config.capacity, self.family.random_level)

    def next_levels(self, key: jax.Array, state: BufferState, n: int) -> tuple[LevelBatch, BufferState]:
        k_reset, k_sample = jax.random.split(key)
        state = reset_lowest(k_reset, state, n, self.family.random_level)
        indices, replayed, state = sample(
            k_sample,
            state,
            -jnp.ones((n,), jnp.int32),
            jnp.ones((n,), bool),
            replay_prob=self.config.replay_prob,
            temperature=self.config.temperature,
            transform=self.config.score_transform,
        )
        levels = jax.tree.map(lambda x: x[indices], state.levels)
        return LevelBatch(levels, indices, replayed), state

    def record(self, state: BufferState, batch: LevelBatch, scores: jax.Array) -> BufferState:
        return record(state, batch.indices, scores, jnp.ones(scores.shape, bool))

    def replace_levels(
        self,
        key: jax.Array,
        state: BufferState,
        current: LevelBatch,
        done: jax.Array,
        scores: jax.Array,
    ) -> tuple[LevelBatch, BufferState]:
        """The reference's cycle for the agents with ``done``: record their scores, reset the lowest-scoring
        levels, and sample each a replayed or new level; the other agents keep theirs (and their slots stay
        active)."""
        n = done.shape[0]
        k_reset, k_sample = jax.random.split(key)
        state = record(state, current.indices, scores, done)
        state = reset_lowest(k_reset, state, n, self.family.random_level)
        indices, replayed, state = sample(
            k_sample,
            state,
            current.indices,
            done,
            replay_prob=self.config.replay_prob,
            temperature=self.config.temperature,
            transform=self.config.score_transform,
        )
        levels = jax.tree.map(lambda x: x[indices], state.levels)
        return LevelBatch(levels, indices, replayed), state

    def metrics(self, state: BufferState) -> dict[str, jax.Array]:
        """``buffer_size`` (levels with a score), their mean and 10/50/90th percentile scores."""
        s = jnp.where(state.new, jnp.nan, state.scores)
        return {
            "buffer_size": jnp.sum(~state.new).astype(jnp.int32),
            "buffer_score_mean": jnp.nanmean(s),
            "buffer_score_q": jnp.nanquantile(s, jnp.array([0.1, 0.5, 0.9])),
        }
