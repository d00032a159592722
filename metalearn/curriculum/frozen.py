"""GROOVE's ``frozen`` baseline: a fixed buffer of random levels, replayed uniformly, never scored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from metalearn.curriculum.base import Curriculum, LevelBatch, random_levels
from metalearn.validation import field_error

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig


class Frozen(Curriculum):
    """``capacity`` random levels drawn once (from the run's key); each generation ``n`` of them uniformly,
    with replacement, as the reference draws them. Separates "a finite set of levels" from "prioritised by
    score" in the ablation: scores are computed and logged but never change what is sampled."""

    @classmethod
    def validate(cls, config: CurriculumConfig) -> None:
        if not isinstance(config.capacity, int) or config.capacity < 1:
            raise field_error(config, "capacity", "an integer >= 1", prefix="curriculum")

    def init(self, key: jax.Array) -> Any:
        return random_levels(self.family, key, self.config.capacity)

    def next_levels(self, key: jax.Array, state: Any, n: int) -> tuple[LevelBatch, Any]:
        indices = jax.random.randint(key, (n,), 0, self.config.capacity)
        levels = jax.tree.map(lambda x: x[indices], state)
        return LevelBatch(levels, indices.astype(jnp.int32), jnp.ones((n,), bool)), state
