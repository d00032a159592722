"""GROOVE's curriculum: levels replayed from a prioritised level buffer (:mod:`metalearn.curriculum.plr`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from metalearn.curriculum import plr
from metalearn.curriculum.base import Curriculum

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig


class Groove(Curriculum):
    """A PLR buffer: new levels from the family or replayed ones; scored levels are inserted or rescored."""

    remembers_scores = True

    @classmethod
    def validate(cls, config: CurriculumConfig) -> None:
        config.plr()  # range checks of the buffer's own settings

    def init(self, key: jax.Array) -> plr.PLRState:
        del key  # an empty buffer
        return plr.init(self.config.plr(), self.family.template)

    def next_levels(self, key: jax.Array, state: plr.PLRState, n: int) -> tuple[plr.LevelBatch, plr.PLRState]:
        return plr.next_levels(key, state, self.config.plr(), n, self.family.random_level)

    def record(self, state: plr.PLRState, batch: plr.LevelBatch, scores: jax.Array) -> plr.PLRState:
        return plr.record_scores(state, batch, scores)

    def metrics(self, state: plr.PLRState) -> dict[str, jax.Array]:
        """``buffer_size``, and the mean and 10/50/90th percentiles of the valid entries' scores."""
        s = jnp.where(state.valid, state.scores, jnp.nan)
        return {
            "buffer_size": state.size,
            "buffer_score_mean": jnp.nanmean(s),
            "buffer_score_q": jnp.nanquantile(s, jnp.array([0.1, 0.5, 0.9])),
        }
