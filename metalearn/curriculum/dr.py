"""Domain randomisation: fresh random levels every generation, nothing remembered."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from metalearn.curriculum.base import Curriculum, LevelBatch, random_levels


class DomainRandomisation(Curriculum):
    """``n`` new levels from the family per generation; stateless."""

    def next_levels(self, key: jax.Array, state: Any, n: int) -> tuple[LevelBatch, Any]:
        levels = random_levels(self.family, key, n)
        return LevelBatch(levels, -jnp.ones((n,), jnp.int32), jnp.zeros((n,), bool)), state
