"""The curriculum interface the meta-trainer uses, whatever the kind.

A curriculum is built once from the run's :class:`CurriculumConfig` and the
task's :class:`~metalearn.envs.core.LevelFamily`, and is pure afterwards: its
state is a pytree (checkpointed in ``MetaState.levels``; ``()`` for none)::

    state = curriculum.init(key)                           # key: the run's, for a random initial state
    batch, state = curriculum.next_levels(key, state, n)   # a LevelBatch, leaves (n, ...)
    ... evaluate the population on batch.levels, score each level (n,) ...
    state = curriculum.record(state, batch, scores)
    metrics = curriculum.metrics(state)                    # dict of arrays, may be empty

Persistent agents (``regime: meta_gradient``) end their lifetimes at different times; for them
``batch, state = curriculum.replace_levels(key, state, current, done, scores)`` scores the levels of
the agents that ended and gives them new ones.

A new kind is a subclass in its own module plus one line in
:data:`metalearn.curriculum.registry.CURRICULA`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig
    from metalearn.envs.core import LevelFamily


class LevelBatch(NamedTuple):
    """The levels of one round; leading axis n.

    levels: the level pytree, leaves (n, ...).
    indices: (n,) int32 buffer slot of each level, -1 for a level that is in no buffer.
    replayed: (n,) bool, the level was replayed from the buffer (not new).
    """

    levels: Any
    indices: jax.Array
    replayed: jax.Array


def _where(mask: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where the (n,) ``mask`` is set, else ``old`` (leaves (n, ...))."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


def random_levels(family: LevelFamily, key: jax.Array, n: int) -> Any:
    """``n`` random levels of ``family``, leaves (n, ...), one per key of ``split(key, n)``."""
    return jax.vmap(family.random_level)(jax.random.split(key, n))


class Curriculum:
    """Base of every curriculum kind: no state, nothing recorded, no metrics of its own."""

    # Whether scores change what this kind samples (a buffer prioritised by them); if not, a regime may
    # skip computing them.
    remembers_scores: bool = False

    def __init__(self, config: CurriculumConfig, family: LevelFamily):
        self.config = config
        self.family = family

    @classmethod
    def validate(cls, config: CurriculumConfig) -> None:
        """Raises ``ValueError`` for settings this kind cannot run with (called by ``CurriculumConfig``)."""

    def init(self, key: jax.Array) -> Any:
        """The initial state, a pytree (``key`` for whatever in it is random)."""
        del key
        return ()

    def next_levels(self, key: jax.Array, state: Any, n: int) -> tuple[LevelBatch, Any]:
        """The ``n`` levels of this generation and the state after choosing them."""
        raise NotImplementedError

    def record(self, state: Any, batch: LevelBatch, scores: jax.Array) -> Any:
        """The state after the levels of ``batch`` got ``scores`` (n,) (NaN where no member was healthy)."""
        del batch, scores
        return state

    def replace_levels(
        self, key: jax.Array, state: Any, current: LevelBatch, done: jax.Array, scores: jax.Array
    ) -> tuple[LevelBatch, Any]:
        """Persistent agents (the meta-gradient regime): the agents with ``done`` (n,) end their lifetimes on
        ``current`` (their levels, leaves (n, ...)) with ``scores`` (n,); returns every agent's next level
        (its current one where not done) and the state. This default, for kinds that remember no scores,
        draws ``n`` levels with :meth:`next_levels` and keeps the current ones where not done."""
        del scores
        fresh, state = self.next_levels(key, state, done.shape[0])
        return jax.tree.map(lambda new, old: _where(done, new, old), fresh, current), state

    def metrics(self, state: Any) -> dict[str, jax.Array]:
        """What the state looks like after ``record`` (for metrics.jsonl), beyond the batch's own metrics."""
        del state
        return {}
