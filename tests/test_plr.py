"""Prioritised level replay (kind ``plr``): sampling frequencies against the formula, insertion, replay rate, config."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.curriculum import LevelBatch, PLRConfig, next_levels, plr
from metalearn.curriculum.config import CurriculumConfig
from metalearn.envs.gridworld import random_level

# A fixed buffer: 6 slots, slot 4 empty; scores with a tie and a negative one.
SCORES = np.array([0.5, 2.0, 0.0, 1.0, 9.0, -0.5], np.float32)
VALID = np.array([True, True, True, True, False, True])
LAST = np.array([3, 0, 7, 5, 0, 10], np.int32)
STEP = 10


def plr_config(**changes) -> PLRConfig:
    """The buffer's settings at the curriculum's defaults (where its defaults live), with ``changes``."""
    return CurriculumConfig(kind="plr").plr().replace(**changes)


def fixed_state(config: PLRConfig):
    template = {"id": jnp.int32(0), "vec": jnp.zeros((2,), jnp.float32)}
    state = plr.init(config, template)
    levels = {"id": jnp.arange(6, dtype=jnp.int32), "vec": jnp.arange(12, dtype=jnp.float32).reshape(6, 2)}
    return state._replace(
        levels=levels,
        scores=jnp.asarray(SCORES),
        last_sampled=jnp.asarray(LAST),
        valid=jnp.asarray(VALID),
        step=jnp.int32(STEP),
    )


def expected_probs(transform: str, beta: float, rho: float) -> np.ndarray:
    """The PLR formula, written independently in numpy."""
    idx = np.flatnonzero(VALID)
    s = SCORES[idx].astype(np.float64)
    if transform == "rank":
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))  # highest first, ties by slot
        rank = np.empty(len(s))
        rank[order] = np.arange(1, len(s) + 1)
        h = 1.0 / rank
    else:
        h = np.clip(s, 0.0, None)
    w = h ** (1.0 / beta)
    p_score = w / w.sum()
    stale = (STEP - LAST[idx]).astype(np.float64)
    p_stale = stale / stale.sum()
    p = np.zeros(len(SCORES))
    p[idx] = (1 - rho) * p_score + rho * p_stale
    return p


CASES = [("rank", 1.0, 0.0), ("rank", 0.5, 0.3), ("proportional", 1.0, 0.0), ("proportional", 0.4, 0.5)]


@pytest.mark.parametrize(("transform", "beta", "rho"), CASES)
def test_sampling_frequencies_match_the_formula(transform, beta, rho):
    config = plr_config(capacity=6, score_transform=transform, temperature=beta, staleness_coef=rho)
    state = fixed_state(config)
    expected = expected_probs(transform, beta, rho)
    np.testing.assert_allclose(np.asarray(plr.sample_probs(state, config)), expected, atol=1e-6)

    draws_per_key, num_keys = 50, 2000
    sample = jax.jit(jax.vmap(lambda k: plr.sample_replay(k, state, config, draws_per_key)[:2]))
    idx, levels = sample(jax.random.split(jax.random.PRNGKey(0), num_keys))
    idx = np.asarray(idx).reshape(-1)
    np.testing.assert_array_equal(np.asarray(levels["id"]).reshape(-1), idx)  # levels are the drawn slots
    freq = np.bincount(idx, minlength=6) / idx.size
    sigma = np.sqrt(expected * (1 - expected) / idx.size)
    assert np.all(np.abs(freq - expected) <= 5 * sigma + 1e-9), (freq, expected)
    assert freq[4] == 0  # never the empty slot


def test_sample_replay_resets_staleness_of_drawn_levels():
    config = plr_config(capacity=6)
    idx, _, state = plr.sample_replay(jax.random.PRNGKey(0), fixed_state(config), config, 3)
    last = np.asarray(state.last_sampled)
    assert all(last[i] == STEP for i in np.asarray(idx))
    untouched = [i for i in range(6) if i not in set(np.asarray(idx).tolist())]
    np.testing.assert_array_equal(last[untouched], LAST[untouched])


def test_all_zero_scores_fall_back_to_uniform_over_valid():
    config = plr_config(capacity=6, score_transform="proportional", staleness_coef=0.0)
    state = fixed_state(config)._replace(scores=jnp.zeros(6))
    np.testing.assert_allclose(np.asarray(plr.sample_probs(state, config)), VALID / VALID.sum(), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(plr.sample_probs(plr.init(config, jnp.zeros(())), config)), 0.0)


@pytest.fixture(scope="module")
def round_fn():
    """``next_levels`` over a full buffer of 8, batches of 16, vmapped over keys; one compile per mode."""

    def make(mode: str):
        config = plr_config(capacity=8, replay_prob=0.3, replay_mode=mode)
        state = plr.init(config, jnp.int32(0))
        state = plr.insert(state, jnp.arange(100, 108, dtype=jnp.int32), jnp.arange(8.0))
        new_level = lambda k: jax.random.randint(k, (), 0, 100)  # new levels are < 100
        fn = jax.jit(jax.vmap(lambda k: next_levels(k, state, config, 16, new_level)))
        return fn, state

    return make


@pytest.mark.parametrize("mode", ["per_level", "per_batch"])
def test_replay_probability_is_respected(round_fn, mode):
    fn, _state0 = round_fn(mode)
    num_keys = 4000
    batch, state = fn(jax.random.split(jax.random.PRNGKey(1), num_keys))
    replayed = np.asarray(batch.replayed)
    levels, indices = np.asarray(batch.levels), np.asarray(batch.indices)
    np.testing.assert_array_equal(levels >= 100, replayed)  # replayed levels come from the buffer
    np.testing.assert_array_equal(indices >= 0, replayed)
    np.testing.assert_array_equal(levels[replayed], 100 + indices[replayed])
    if mode == "per_batch":
        assert np.all(replayed.all(axis=1) | ~replayed.any(axis=1))  # all or nothing
        n = num_keys
        rate = replayed[:, 0].mean()
    else:
        n = replayed.size
        rate = replayed.mean()
        assert 0 < replayed.sum(axis=1).mean() < 16
    assert abs(rate - 0.3) <= 5 * np.sqrt(0.3 * 0.7 / n)
    # step advanced once; replayed slots are fresh, others keep their insertion time
    assert np.all(np.asarray(state.step) == 1)
    last = np.asarray(state.last_sampled)
    for k in range(20):
        used = set(indices[k][replayed[k]].tolist())
        assert all(last[k, i] == (1 if i in used else 0) for i in range(8))


def test_nothing_is_replayed_before_min_fill():
    config = plr_config(capacity=8, replay_prob=1.0, min_fill=8)
    state = plr.insert(plr.init(config, jnp.int32(0)), jnp.arange(7, dtype=jnp.int32), jnp.ones(7))
    batch, _ = next_levels(jax.random.PRNGKey(0), state, config, 4, lambda k: jnp.int32(-1))
    assert not bool(batch.replayed.any()) and np.all(np.asarray(batch.levels) == -1)
    state = plr.insert(state, jnp.array([7], jnp.int32), jnp.ones(1))
    batch, _ = next_levels(jax.random.PRNGKey(0), state, config, 4, lambda k: jnp.int32(-1))
    assert bool(batch.replayed.all())


def test_insert_fills_empty_slots_then_only_replaces_a_beaten_minimum():
    config = plr_config(capacity=3)
    state = plr.init(config, {"x": jnp.float32(0)})
    state = plr.insert(state, {"x": jnp.array([1.0, 2.0])}, jnp.array([5.0, 1.0]))
    assert np.asarray(state.valid).tolist() == [True, True, False] and int(state.size) == 2
    # The empty slot takes even a low score; then 0.5 beats the new minimum (-2.0) and replaces it.
    state = plr.insert(state, {"x": jnp.array([3.0, 4.0])}, jnp.array([-2.0, 0.5]))
    assert np.asarray(state.levels["x"]).tolist() == [1.0, 2.0, 4.0]
    assert np.asarray(state.scores).tolist() == [5.0, 1.0, 0.5]
    # Equal to the minimum is not enough; higher replaces the minimum; NaN and masked are skipped.
    state = plr.insert(state, {"x": jnp.array([6.0, 7.0])}, jnp.array([0.5, 3.0]))
    assert np.asarray(state.levels["x"]).tolist() == [1.0, 2.0, 7.0]
    assert np.asarray(state.scores).tolist() == [5.0, 1.0, 3.0]
    state = plr.insert(state, {"x": jnp.array([8.0, 9.0])}, jnp.array([jnp.nan, 10.0]), mask=jnp.array([True, False]))
    assert np.asarray(state.levels["x"]).tolist() == [1.0, 2.0, 7.0]
    # Sequential within a batch: the second insert sees the first's result.
    state = plr.insert(state, {"x": jnp.array([10.0, 11.0])}, jnp.array([4.0, 4.5]))
    assert sorted(np.asarray(state.scores).tolist()) == [4.0, 4.5, 5.0]
    assert sorted(np.asarray(state.levels["x"]).tolist()) == [1.0, 10.0, 11.0]


def test_update_scores_and_record_scores():
    config = plr_config(capacity=4)
    state = plr.insert(plr.init(config, jnp.int32(0)), jnp.arange(4, dtype=jnp.int32), jnp.zeros(4))
    state = plr.update_scores(state, jnp.array([1, 3, 2, -1]), jnp.array([5.0, jnp.nan, 7.0, 9.0]))
    assert np.asarray(state.scores).tolist() == [0.0, 5.0, 7.0, 0.0]  # the NaN and the index -1 are skipped
    batch = LevelBatch(
        levels=jnp.array([0, 42], jnp.int32), indices=jnp.array([0, -1]), replayed=jnp.array([True, False])
    )
    state = plr.record_scores(state, batch, jnp.array([3.0, 6.0]))
    scores, levels = np.asarray(state.scores).tolist(), np.asarray(state.levels).tolist()
    assert scores[0] == 3.0 and 6.0 in scores and 42 in levels and 1 in levels


def test_works_with_gridworld_levels_under_jit():
    config = plr_config(capacity=8, replay_prob=0.5, min_fill=2)
    new_level = lambda k: random_level(k, "small")
    state = plr.init(config, new_level(jax.random.PRNGKey(0)))

    @jax.jit
    def round_(key, state):
        k1, k2 = jax.random.split(key)
        batch, state = next_levels(k1, state, config, 4, new_level)
        scores = jax.random.uniform(k2, (4,))  # stands in for regret
        return batch, plr.record_scores(state, batch, scores)

    for i in range(4):
        batch, state = round_(jax.random.PRNGKey(i), state)
    assert batch.levels.walls.shape == (4, 6, 6) and state.levels.walls.shape == (8, 6, 6)
    assert int(state.size) >= 4 and int(state.step) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity": 0}, r"PLRConfig.capacity=0 is invalid; allowed: an integer >= 1"),
        ({"replay_prob": 1.5}, r"PLRConfig.replay_prob=1.5 is invalid; allowed: a number in \[0, 1\]"),
        ({"score_transform": "softmax"}, r"score_transform='softmax' is invalid; allowed: rank \| proportional"),
        ({"temperature": 0.0}, r"temperature=0.0 is invalid; allowed: a number > 0"),
        ({"staleness_coef": -0.1}, r"staleness_coef=-0.1 is invalid"),
        ({"capacity": 4, "min_fill": 5}, r"min_fill=5 is invalid; allowed: an integer in \[1, capacity=4\]"),
        ({"replay_mode": "sometimes"}, r"replay_mode='sometimes' is invalid; allowed: per_level \| per_batch"),
    ],
)
def test_invalid_config_names_the_value_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plr_config(**kwargs)
