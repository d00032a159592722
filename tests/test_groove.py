"""GROOVE's own level buffer (kind ``groove``, :mod:`metalearn.curriculum.groove`) against hand-computed cases."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.curriculum import groove


def _level(key: jax.Array) -> dict:
    return {"v": jax.random.uniform(key)}


def _buffer(scores, new, active) -> groove.BufferState:
    c = len(scores)
    return groove.BufferState(
        {"v": jnp.arange(c, dtype=jnp.float32)},  # level i is i until reset (then in [0, 1))
        jnp.asarray(scores, jnp.float32),
        jnp.asarray(active, bool),
        jnp.asarray(new, bool),
    )


def test_reset_replaces_the_lowest_scoring_inactive_levels():
    state = _buffer([3.0, 1.0, 2.0, 5.0, 0.5, 4.0], new=[0] * 6, active=[0, 0, 1, 0, 0, 0])
    out = groove.reset_lowest(jax.random.PRNGKey(0), state, 2, _level)
    # lowest inactive: level 4 (0.5), level 1 (1.0); level 2 (2.0) is active and stays
    assert out.new.tolist() == [False, True, False, False, True, False]
    assert out.scores.tolist() == [3.0, 0.0, 2.0, 5.0, 0.0, 4.0]
    v = np.asarray(out.levels["v"])
    assert v[[0, 2, 3, 5]].tolist() == [0.0, 2.0, 3.0, 5.0] and np.all(v[[1, 4]] < 1.0)
    assert out.active.tolist() == state.active.tolist()


def test_reset_counts_new_levels_first():
    state = _buffer([3.0, 1.0, 0.0, 5.0], new=[0, 0, 1, 0], active=[0, 0, 0, 0])
    out = groove.reset_lowest(jax.random.PRNGKey(0), state, 2, _level)
    assert out.new.tolist() == [False, True, True, False]  # the new level 2, then the lowest score (level 1)


def test_replay_probabilities_are_a_softmax_over_scored_inactive_levels():
    scores = [1.0, 2.0, 0.5, 3.0, -1.0]
    state = _buffer(scores, new=[0, 0, 1, 0, 0], active=[0, 0, 0, 1, 0])
    p = np.asarray(groove.replay_probabilities(state, temperature=0.5))
    ok = np.array([1, 1, 0, 0, 1], bool)
    expected = np.where(ok, np.exp(np.array(scores) / 0.5), 0.0)
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-6)


def test_proportional_replay_draws_by_the_softmax():
    state = _buffer([0.0, 1.0, 2.0, 0.0], new=[0, 0, 0, 1], active=[0, 0, 0, 0])
    draw = jax.jit(
        jax.vmap(
            lambda k: groove.sample(
                k, state, jnp.array([-1]), jnp.array([True]), replay_prob=1.0, temperature=1.0, transform="proportional"
            )[0][0]
        )
    )
    counts = np.bincount(np.asarray(draw(jax.random.split(jax.random.PRNGKey(1), 6000))), minlength=4) / 6000
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(counts[:3], expected, atol=0.02)
    assert counts[3] == 0.0  # n = 1 scored inactive level exists, so the slot replays; never the new level


def test_rank_replays_the_top_levels_and_marks_them_active():
    state = _buffer([0.1, 0.9, 0.5, 0.7, 0.0, 0.0, 0.0], new=[0, 0, 0, 0, 1, 1, 1], active=[0] * 7)
    idx, replayed, out = groove.sample(
        jax.random.PRNGKey(0),
        state,
        -jnp.ones((2,), jnp.int32),
        jnp.ones((2,), bool),
        replay_prob=1.0,
        temperature=1.0,
        transform="rank",
    )
    assert sorted(idx.tolist()) == [1, 3] and replayed.tolist() == [True, True]
    assert out.active.tolist() == [False, True, False, True, False, False, False]


@pytest.mark.parametrize("transform", groove.TRANSFORMS)
def test_no_level_goes_to_two_agents(transform):
    """Many rounds of persistent agents, some ending their lifetimes each round: active levels stay distinct."""
    capacity, n = 12, 4
    state = groove.init(jax.random.PRNGKey(0), capacity, _level)

    @jax.jit
    def round_(state, indices, key):
        k_done, k_score, k_reset, k_sample = jax.random.split(key, 4)
        done = (indices < 0) | jax.random.bernoulli(k_done, 0.5, (n,))
        state = groove.record(state, indices, jax.random.normal(k_score, (n,)), done & (indices >= 0))
        state = groove.reset_lowest(k_reset, state, n, _level)
        indices, replayed, state = groove.sample(
            k_sample, state, indices, done, replay_prob=0.5, temperature=1.0, transform=transform
        )
        return state, indices, replayed

    indices, replays = -jnp.ones((n,), jnp.int32), 0
    for key in jax.random.split(jax.random.PRNGKey(1), 30):
        state, indices, replayed = round_(state, indices, key)
        ids = np.asarray(indices)
        assert len(set(ids.tolist())) == n, ids  # distinct levels
        assert sorted(np.flatnonzero(np.asarray(state.active)).tolist()) == sorted(ids.tolist())
        replays += int(replayed.sum())
    assert replays > 0  # replay happened once enough levels were scored


def test_record_scores_only_the_done_agents_levels():
    state = _buffer([0.0] * 4, new=[1, 1, 1, 1], active=[1, 1, 1, 0])
    out = groove.record(state, jnp.array([0, 1, 2]), jnp.array([2.0, jnp.nan, 3.0]), jnp.array([True, True, False]))
    assert out.scores.tolist() == [2.0, 0.0, 0.0, 0.0]
    assert out.new.tolist() == [False, True, True, True]  # a NaN score leaves the level unscored
    assert out.active.tolist() == [False, False, True, False]


def test_an_unknown_transform_is_refused():
    state = _buffer([0.0], new=[1], active=[0])
    with pytest.raises(ValueError, match=re.escape("transform='x'; allowed: rank | proportional")):
        groove.sample(jax.random.PRNGKey(0), state, state.new, state.new, replay_prob=0.5, temperature=1, transform="x")
