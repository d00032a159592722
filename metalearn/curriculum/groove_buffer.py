"""GROOVE's curriculum as its reference runs it: the level buffer of :mod:`metalearn.curriculum.level_buffer`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from metalearn.curriculum import level_buffer
from metalearn.curriculum.base import Curriculum
from metalearn.curriculum.plr import LevelBatch
from metalearn.validation import field_error

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig


class GrooveBuffer(Curriculum):
    """Scored levels with active/new flags; the lowest-scoring are reset, the rest replayed by softmax(score / T)."""

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

    def init(self, key: jax.Array) -> level_buffer.BufferState:
        return level_buffer.init(key, self.config.capacity, self.family.random_level)

    def next_levels(
        self, key: jax.Array, state: level_buffer.BufferState, n: int
    ) -> tuple[LevelBatch, level_buffer.BufferState]:
        k_reset, k_sample = jax.random.split(key)
        state = level_buffer.reset_lowest(k_reset, state, n, self.family.random_level)
        indices, replayed, state = level_buffer.sample(
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

    def record(self, state: level_buffer.BufferState, batch: LevelBatch, scores: jax.Array) -> level_buffer.BufferState:
        return level_buffer.record(state, batch.indices, scores, jnp.ones(scores.shape, bool))

    def replace_levels(
        self,
        key: jax.Array,
        state: level_buffer.BufferState,
        current: LevelBatch,
        done: jax.Array,
        scores: jax.Array,
    ) -> tuple[LevelBatch, level_buffer.BufferState]:
        """The reference's cycle for the agents with ``done``: record their scores, reset the lowest-scoring
        levels, and sample each a replayed or new level; the other agents keep theirs (and their slots stay
        active)."""
        n = done.shape[0]
        k_reset, k_sample = jax.random.split(key)
        state = level_buffer.record(state, current.indices, scores, done)
        state = level_buffer.reset_lowest(k_reset, state, n, self.family.random_level)
        indices, replayed, state = level_buffer.sample(
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

    def metrics(self, state: level_buffer.BufferState) -> dict[str, jax.Array]:
        """``buffer_size`` (levels with a score), their mean and 10/50/90th percentile scores."""
        s = jnp.where(state.new, jnp.nan, state.scores)
        return {
            "buffer_size": jnp.sum(~state.new).astype(jnp.int32),
            "buffer_score_mean": jnp.nanmean(s),
            "buffer_score_q": jnp.nanquantile(s, jnp.array([0.1, 0.5, 0.9])),
        }
