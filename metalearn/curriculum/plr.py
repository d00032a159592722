"""Prioritised level replay (Jiang et al. 2021): curriculum kind ``plr``.

A buffer of ``capacity`` levels with a score each (e.g. regret). All state is
arrays (:class:`PLRState`), so it jits, vmaps and is checkpointed like any
other pytree; a *level* is any pytree of arrays (an env's params, e.g.
:class:`metalearn.envs.gridworld.Level`). GROOVE's own buffer, which works
differently, is kind ``groove`` (:mod:`metalearn.curriculum.groove`).

Replay distribution over the valid entries (Jiang et al. 2021, eq. 1–2)::

    P = (1 − ρ) · P_score + ρ · P_staleness
    P_score_i ∝ h(S_i) ** (1 / β),  h = 1 / rank(S_i)   ("rank", rank 1 = highest)
                                    h = max(S_i, 0)      ("proportional")
    P_staleness_i ∝ step − last_sampled_i

``step`` counts rounds (calls to :func:`next_levels`, one per generation;
each call advances it before sampling), so staleness is "generations since
the level was last sampled or inserted". When all ``h`` (or all
staleness) are zero the term is uniform over the valid entries.

One round (what :class:`PLR` does each generation)::

    batch, state = next_levels(key, state, config, n, new_level_fn)
    scores = ...  # regret of each of batch.levels
    state = record_scores(state, batch, scores)

Replayed levels get their new scores; new ones are inserted only into an
empty slot or over the lowest-scoring entry when they beat it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from metalearn.curriculum.base import Curriculum, LevelBatch
from metalearn.validation import field_error

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig

SCORE_TRANSFORMS = ("rank", "proportional")
REPLAY_MODES = ("per_level", "per_batch")


@dataclasses.dataclass(frozen=True)
class PLRConfig:
    """Static settings of a PLR buffer.

    The settings it shares with the ``curriculum:`` block have no defaults here: a run builds this
    from its :class:`~metalearn.curriculum.config.CurriculumConfig` (:meth:`~CurriculumConfig.plr`),
    whose defaults are the only ones.

    Attributes:
      capacity: number of levels kept.
      replay_prob: probability that a level is replayed rather than new.
      score_transform: ``"rank"`` or ``"proportional"`` (see module docstring).
      temperature: β > 0; smaller sharpens P_score.
      staleness_coef: ρ in [0, 1], weight of the staleness distribution.
      min_fill: valid entries needed before anything is replayed.
      replay_mode: ``"per_level"`` (each of the ``n`` levels is replayed with
        ``replay_prob`` independently, as GROOVE's ``level_sampler.py``) or
        ``"per_batch"`` (one draw decides for the whole batch, as Robust PLR).
    """

    capacity: int
    replay_prob: float
    score_transform: str
    temperature: float
    staleness_coef: float
    min_fill: int = 1
    replay_mode: str = "per_level"

    def __post_init__(self) -> None:
        if not isinstance(self.capacity, int) or isinstance(self.capacity, bool) or self.capacity < 1:
            raise field_error(self, "capacity", "an integer >= 1")
        if not isinstance(self.replay_prob, int | float) or not 0.0 <= self.replay_prob <= 1.0:
            raise field_error(self, "replay_prob", "a number in [0, 1]")
        if self.score_transform not in SCORE_TRANSFORMS:
            raise field_error(self, "score_transform", " | ".join(SCORE_TRANSFORMS))
        if not isinstance(self.temperature, int | float) or not self.temperature > 0:
            raise field_error(self, "temperature", "a number > 0")
        if not isinstance(self.staleness_coef, int | float) or not 0.0 <= self.staleness_coef <= 1.0:
            raise field_error(self, "staleness_coef", "a number in [0, 1]")
        if not isinstance(self.min_fill, int) or not 1 <= self.min_fill <= self.capacity:
            raise field_error(self, "min_fill", f"an integer in [1, capacity={self.capacity}]")
        if self.replay_mode not in REPLAY_MODES:
            raise field_error(self, "replay_mode", " | ".join(REPLAY_MODES))

    def replace(self, **changes: Any) -> PLRConfig:
        return dataclasses.replace(self, **changes)


class PLRState(NamedTuple):
    """The buffer; leaves of ``levels`` have a leading (capacity,) axis.

    scores: (capacity,) float32, latest score of each entry.
    last_sampled: (capacity,) int32, ``step`` when the entry was inserted or last replayed.
    valid: (capacity,) bool, slots holding a level.
    step: () int32, rounds so far (calls to :func:`next_levels`).
    """

    levels: Any
    scores: jax.Array
    last_sampled: jax.Array
    valid: jax.Array
    step: jax.Array

    @property
    def size(self) -> jax.Array:
        """() int32, number of valid entries."""
        return jnp.sum(self.valid.astype(jnp.int32))


def init(config: PLRConfig, level_template: Any) -> PLRState:
    """An empty buffer for levels shaped like ``level_template`` (one level, no batch axis)."""
    c = config.capacity
    levels = jax.tree.map(lambda x: jnp.zeros((c, *jnp.shape(x)), jnp.asarray(x).dtype), level_template)
    return PLRState(
        levels=levels,
        scores=jnp.zeros((c,), jnp.float32),
        last_sampled=jnp.zeros((c,), jnp.int32),
        valid=jnp.zeros((c,), bool),
        step=jnp.zeros((), jnp.int32),
    )


def _normalise(weights: jax.Array, valid: jax.Array) -> jax.Array:
    """``weights`` normalised over ``valid``; uniform over ``valid`` if they sum to 0."""
    weights = jnp.where(valid, weights, 0.0)
    total = weights.sum()
    uniform = valid / jnp.maximum(valid.sum(), 1)
    return jnp.where(total > 0, weights / jnp.where(total > 0, total, 1.0), uniform)


def score_probs(state: PLRState, config: PLRConfig) -> jax.Array:
    """(capacity,) P_score over valid entries."""
    valid = state.valid
    if config.score_transform == "rank":
        # rank 1 = highest score; invalid entries sort last.
        order = jnp.argsort(jnp.where(valid, -state.scores, jnp.inf), stable=True)
        ranks = jnp.zeros_like(order).at[order].set(jnp.arange(1, order.shape[0] + 1))
        log_h = -jnp.log(ranks.astype(jnp.float32))
    else:
        log_h = jnp.log(jnp.maximum(state.scores, 0.0))  # -inf for 0: weight 0
    log_w = jnp.where(valid, log_h / config.temperature, -jnp.inf)
    # Normalise in log space: h ** (1/β) over- or underflows for small β.
    w = jnp.exp(log_w - jnp.max(jnp.where(jnp.isfinite(log_w), log_w, -jnp.finfo(jnp.float32).max)))
    return _normalise(jnp.where(jnp.isfinite(log_w), w, 0.0), valid)


def staleness_probs(state: PLRState) -> jax.Array:
    """(capacity,) P_staleness over valid entries."""
    staleness = jnp.maximum(state.step - state.last_sampled, 0).astype(jnp.float32)
    return _normalise(staleness, state.valid)


def sample_probs(state: PLRState, config: PLRConfig) -> jax.Array:
    """(capacity,) replay probabilities (zero on empty slots; all zero if the buffer is empty)."""
    rho = config.staleness_coef
    return (1.0 - rho) * score_probs(state, config) + rho * staleness_probs(state)


def _draw(key: jax.Array, state: PLRState, config: PLRConfig, n: int) -> jax.Array:
    return jax.random.categorical(key, jnp.log(sample_probs(state, config)), shape=(n,)).astype(jnp.int32)


def sample_replay(key: jax.Array, state: PLRState, config: PLRConfig, n: int) -> tuple[jax.Array, Any, PLRState]:
    """``n`` draws from :func:`sample_probs`, with replacement (independent draws, as PLR).

    Returns (indices (n,) int32, levels with leaves (n, ...), state with the
    drawn entries' ``last_sampled`` set to the current ``step``). Does not
    advance ``step`` (:func:`next_levels` does, once per round). Meaningless
    on an empty buffer. GROOVE's reference samples without replacement; with
    replacement each draw has exactly the probabilities above.
    """
    idx = _draw(key, state, config, n)
    levels = jax.tree.map(lambda x: x[idx], state.levels)
    return idx, levels, state._replace(last_sampled=state.last_sampled.at[idx].set(state.step))


def update_scores(state: PLRState, indices: jax.Array, scores: jax.Array, mask: jax.Array | None = None) -> PLRState:
    """Sets ``scores`` (n,) at buffer ``indices`` (n,).

    Entries where ``mask`` is False, the index is negative or the score is not
    finite are skipped (a diverged run never poisons the buffer). With repeated
    indices one of their scores is kept.
    """
    scores = jnp.asarray(scores, jnp.float32)
    keep = jnp.isfinite(scores) & (indices >= 0)
    if mask is not None:
        keep = keep & mask
    target = jnp.where(keep, indices, state.scores.shape[0])  # out of range: dropped
    return state._replace(scores=state.scores.at[target].set(scores, mode="drop"))


def insert(state: PLRState, levels: Any, scores: jax.Array, mask: jax.Array | None = None) -> PLRState:
    """Adds new ``levels`` (leaves (n, ...)) with ``scores`` (n,), one after another.

    Each goes into an empty slot if there is one, else replaces the
    lowest-scoring entry if its score is strictly higher; otherwise it is
    dropped. Entries where ``mask`` is False or the score is not finite are
    skipped. Inserted entries count as sampled now (staleness 0).
    """
    scores = jnp.asarray(scores, jnp.float32)
    n = scores.shape[0]
    mask = jnp.ones((n,), bool) if mask is None else jnp.asarray(mask, bool)

    def add(st: PLRState, item):
        level, score, use = item
        has_empty = ~jnp.all(st.valid)
        empty_slot = jnp.argmin(st.valid)  # first False
        lowest = jnp.argmin(jnp.where(st.valid, st.scores, jnp.inf))
        slot = jnp.where(has_empty, empty_slot, lowest)
        ok = use & jnp.isfinite(score) & (has_empty | (score > st.scores[lowest]))
        put = lambda buf, x: buf.at[slot].set(jnp.where(ok, x, buf[slot]))
        return (
            PLRState(
                levels=jax.tree.map(put, st.levels, level),
                scores=put(st.scores, score),
                last_sampled=put(st.last_sampled, st.step),
                valid=put(st.valid, True),
                step=st.step,
            ),
            None,
        )

    state, _ = jax.lax.scan(add, state, (levels, scores, mask))
    return state


def next_levels(
    key: jax.Array,
    state: PLRState,
    config: PLRConfig,
    n: int,
    new_level_fn: Callable[[jax.Array], Any],
) -> tuple[LevelBatch, PLRState]:
    """The ``n`` levels of one round, and the state with ``step`` advanced by one.

    Returns a :class:`LevelBatch` and the state.

    Each level is replayed from the buffer with probability ``replay_prob``
    and otherwise new (``new_level_fn(key) -> level``, vmapped over ``n``
    keys): independently per level with ``replay_mode="per_level"`` (as
    GROOVE's ``level_sampler.py``, which draws the number to replay from a
    binomial and shuffles), or one draw for the whole batch with
    ``"per_batch"`` (Robust PLR). Nothing is replayed while the buffer holds
    fewer than ``min_fill`` levels. Only the replayed entries' staleness is
    reset. Follow with :func:`record_scores`.
    """
    k_mode, k_replay, k_new = jax.random.split(key, 3)
    # A new round: staleness counts rounds, so what was scored last round has staleness 1 now.
    state = state._replace(step=state.step + 1)
    shape = (n,) if config.replay_mode == "per_level" else ()
    replay = jax.random.bernoulli(k_mode, config.replay_prob, shape) & (state.size >= config.min_fill)
    replayed = jnp.broadcast_to(replay, (n,))

    idx = _draw(k_replay, state, config, n)
    replay_levels = jax.tree.map(lambda x: x[idx], state.levels)
    new = jax.vmap(new_level_fn)(jax.random.split(k_new, n))
    pick = lambda r, x: jnp.where(replayed.reshape((n,) + (1,) * (r.ndim - 1)), r, x)
    levels = jax.tree.map(pick, replay_levels, new)

    target = jnp.where(replayed, idx, config.capacity)  # only replayed draws count as sampled
    state = state._replace(last_sampled=state.last_sampled.at[target].set(state.step, mode="drop"))
    return LevelBatch(levels=levels, indices=jnp.where(replayed, idx, -1), replayed=replayed), state


def record_scores(state: PLRState, batch: LevelBatch, scores: jax.Array) -> PLRState:
    """After a round: new scores for the replayed levels, insertion for the new ones."""
    state = update_scores(state, batch.indices, scores, mask=batch.replayed)
    return insert(state, batch.levels, scores, mask=~batch.replayed)


class PLR(Curriculum):
    """Kind ``plr``: new levels from the family or replayed ones; scored levels are inserted or rescored.

    Its methods call this module's functions of the same names (``init``, ``next_levels``), not themselves.
    """

    remembers_scores = True

    @classmethod
    def validate(cls, config: CurriculumConfig) -> None:
        config.plr()  # range checks of the buffer's own settings

    def init(self, key: jax.Array) -> PLRState:
        del key  # an empty buffer
        return init(self.config.plr(), self.family.template)

    def next_levels(self, key: jax.Array, state: PLRState, n: int) -> tuple[LevelBatch, PLRState]:
        return next_levels(key, state, self.config.plr(), n, self.family.random_level)

    def record(self, state: PLRState, batch: LevelBatch, scores: jax.Array) -> PLRState:
        return record_scores(state, batch, scores)

    def metrics(self, state: PLRState) -> dict[str, jax.Array]:
        """``buffer_size``, and the mean and 10/50/90th percentiles of the valid entries' scores."""
        s = jnp.where(state.valid, state.scores, jnp.nan)
        return {
            "buffer_size": state.size,
            "buffer_score_mean": jnp.nanmean(s),
            "buffer_score_q": jnp.nanquantile(s, jnp.array([0.1, 0.5, 0.9])),
        }
