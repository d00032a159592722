"""ES as GROOVE/TA-LPG run it: antithetic pairs, antithetic task sampling, pair-winner shaping."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.curriculum import LEVEL_SCORES
from metalearn.es import (
    StrategyConfig,
    adjacent_pairs,
    antithetic_strategies,
    make_strategy,
    mirrored_pairs,
    pair_winner_fitness,
)
from metalearn.meta import ESTrainer, MetaConfig, load_config_dict
from metalearn.meta import evolution as trainer_module
from metalearn.meta.context import Task
from metalearn.meta.evolution import pair_of_member, pair_seeds
from metalearn.overrides import apply_dotted_overrides

from .conftest import tiny_meta_dict
from .test_curriculum import curriculum_dict

TEMPLATE = {"w": jnp.arange(12.0).reshape(3, 4) / 10, "b": jnp.ones(4)}


def antithetic_dict(strategy: str = "open_es", generations: int = 1, **top: Any) -> dict:
    """curriculum_dict with a dr curriculum of N/2 = 2 levels, antithetic task sampling and pair-winner shaping."""
    d = curriculum_dict(kind="dr", score="regret", generations=generations)
    d["strategy"] = {**d["strategy"], "name": strategy}
    d["curriculum"] = {**d["curriculum"], "levels_per_generation": 2}
    return {**d, "task_sampling": "antithetic", "fitness_shaping": "pair_winner", **top}


# ------------------------------------------------------------------ pairs
# Every strategy that names pairs, with strategy.antithetic where it must be set.
ANTITHETIC = [(n.split()[0], True if "antithetic: true" in n else None) for n in antithetic_strategies()]
NOT_ANTITHETIC = [("open_es", False), ("eggroll", False), ("snes", None), ("EvoTF_ES", None)]


@pytest.mark.parametrize("name,antithetic", ANTITHETIC)
def test_antithetic_pairs_are_the_mean_plus_and_minus_one_perturbation(name, antithetic):
    """Every strategy that names pairs: the two members of a pair are mean ± σε for the same ε."""
    strategy = make_strategy(StrategyConfig(name=name, population_size=8, antithetic=antithetic), TEMPLATE)
    state = strategy.init(jax.random.PRNGKey(0), TEMPLATE)
    population, _ = strategy.ask(jax.random.PRNGKey(1), state)
    pairs = strategy.antithetic_pairs()
    assert pairs.shape == (4, 2) and sorted(pairs.ravel()) == list(range(8))
    for leaf, mean in zip(jax.tree.leaves(population), jax.tree.leaves(strategy.mean(state)), strict=True):
        plus, minus = np.asarray(leaf)[pairs[:, 0]], np.asarray(leaf)[pairs[:, 1]]
        np.testing.assert_allclose(plus - mean, mean - minus, atol=1e-5)
        assert np.abs(plus - minus).min() > 0  # a real perturbation, not the mean twice
    expected = adjacent_pairs(8) if name == "eggroll" else mirrored_pairs(8)
    np.testing.assert_array_equal(pairs, expected)


@pytest.mark.parametrize(
    "name,antithetic", [("open_es", False), ("eggroll", False), ("snes", None), ("EvoTF_ES", None)]
)
def test_strategies_without_antithetic_sampling_name_no_pairs(name, antithetic):
    strategy = make_strategy(StrategyConfig(name=name, population_size=8, antithetic=antithetic), TEMPLATE)
    assert strategy.antithetic_pairs() is None


def test_pair_of_member_and_pair_seeds():
    np.testing.assert_array_equal(pair_of_member(mirrored_pairs(6)), [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(pair_of_member(adjacent_pairs(6)), [0, 0, 1, 1, 2, 2])
    seeds = np.asarray(pair_seeds(jax.random.PRNGKey(0), 0, 3, 2))
    assert seeds.shape == (3, 2, 2) and len({tuple(s) for s in seeds.reshape(-1, 2)}) == 6
    other_task = np.asarray(pair_seeds(jax.random.PRNGKey(0), 1, 3, 2))
    assert not np.isin(other_task[..., 1], seeds[..., 1]).any()


# ------------------------------------------------------------------ antithetic task sampling
class _Metrics(NamedTuple):
    value_loss: jax.Array
    positive_value_loss: jax.Array
    l1_value_loss: jax.Array


class _Result(NamedTuple):
    final_return: jax.Array
    eval_return: jax.Array
    diverged: jax.Array
    metrics: _Metrics


class _RevealingTrainer:
    """Stands in for an inner Trainer: its return reveals the seed (in [0, 1)) plus 10 × the level's id; its
    evaluation return is that plus 1; its critic's losses are the level's id, + 1 and + 2."""

    config = SimpleNamespace(final_window=1)

    @staticmethod
    def train(params: Any, seed: jax.Array, level: Any) -> _Result:
        del params
        ret = jax.random.uniform(seed) + 10.0 * level["id"]
        loss = jnp.full((3,), level["id"])
        return _Result(ret, ret + 1.0, jnp.zeros((), bool), _Metrics(loss, loss + 1.0, loss + 2.0))


def _expected_return(key: jax.Array, num_pairs: int, seeds_per_member: int) -> np.ndarray:
    """(P,) what pair p's members (and the baseline on level p) get from _RevealingTrainer."""
    seeds = pair_seeds(key, 0, num_pairs, seeds_per_member)
    draws = jax.vmap(jax.vmap(jax.random.uniform))(seeds)  # (P, S)
    return np.asarray(draws.mean(axis=1) + 10.0 * jnp.arange(num_pairs))


@pytest.mark.parametrize("strategy", ["open_es", "eggroll"])
def test_antithetic_pairs_share_seeds_and_level_and_pairs_differ(strategy):
    """Both members of a pair get the pair's seeds and level; each pair its own; the regret baseline too."""
    d = antithetic_dict(strategy, seeds_per_member=2)
    d["strategy"]["population_size"] = 6
    d["curriculum"]["levels_per_generation"] = 3
    trainer = ESTrainer(MetaConfig.from_dict(d))
    trainer.tasks = [Task("revealing", _RevealingTrainer(), None)]
    trainer.baseline = trainer.antagonist = _RevealingTrainer()
    population, _ = trainer.strategy.ask(jax.random.PRNGKey(1), trainer.init().es_state)
    levels = {"id": jnp.arange(3.0)}
    key = jax.random.PRNGKey(7)
    evaluation = jax.jit(trainer.evaluate_population)(population, key, levels)

    pairs, expected = trainer.pairs, _expected_return(key, 3, 2)
    fitness = np.asarray(evaluation.fitness)
    np.testing.assert_allclose(fitness[pairs], np.stack([expected, expected], axis=1), rtol=1e-6)
    assert len(set(np.round(expected, 6))) == 3  # pairs differ (in seeds and level)
    # Each level's statistics are its own pair's: rows = the pair's two members.
    stats = evaluation.level_stats
    assert all(v.shape == (2, 3) for v in stats.values())
    np.testing.assert_allclose(stats["return"], np.stack([expected, expected]), rtol=1e-6)
    np.testing.assert_allclose(stats["eval_return"], np.stack([expected, expected]) + 1.0, rtol=1e-6)
    for offset, name in enumerate(("value_loss", "positive_value_loss", "l1_value_loss")):
        np.testing.assert_array_equal(stats[name], [[offset, 1.0 + offset, 2.0 + offset]] * 2)
    # The baseline and the antagonist train on level p with pair p's seeds: the same return as the pair.
    np.testing.assert_allclose(trainer._baseline_return(key, levels), expected, rtol=1e-6)
    np.testing.assert_allclose(trainer._antagonist_return(key, levels), expected + 1.0, rtol=1e-6)
    healthy = jnp.ones(6, bool)
    np.testing.assert_allclose(trainer.level_scores(key, levels, evaluation, healthy), 0.0, atol=1e-5)
    # GROOVE's algorithmic regret: zero for agents equal to their antagonist; the antagonist's return for
    # agents that return nothing.
    trainer.level_score = LEVEL_SCORES["alg_regret"]
    np.testing.assert_allclose(trainer.level_scores(key, levels, evaluation, healthy), 0.0, atol=1e-5)
    idle = evaluation._replace(level_stats={**stats, "eval_return": jnp.zeros((2, 3))})
    np.testing.assert_allclose(trainer.level_scores(key, levels, idle, healthy), expected + 1.0, rtol=1e-6)
    # A diverged member drops out of its own level's statistics only; a level whose pair both diverged gets NaN.
    healthy = healthy.at[pairs[0, 1]].set(False).at[pairs[2]].set(False)
    np.testing.assert_array_equal(trainer._level_healthy(healthy), [[True, True, False], [False, True, False]])
    got = np.asarray(trainer.level_scores(key, levels, evaluation, healthy))
    np.testing.assert_allclose(got[:2], 0.0, atol=1e-5)
    assert np.isnan(got[2])


# ------------------------------------------------------------------ pair-winner shaping
def test_pair_winner_fitness_by_hand():
    fitness = jnp.array([3.0, 1.0, 2.0, 2.0, 0.0, 5.0, 9.0, 9.0])
    healthy = jnp.array([True, True, True, True, True, False, False, False])
    # Adjacent pairs (0,1) (2,3) (4,5) (6,7): a win, a tie (second wins), healthy beats diverged, both diverged.
    np.testing.assert_array_equal(pair_winner_fitness(fitness, healthy, adjacent_pairs(8)), [1, 0, 0, 1, 1, 0, 0, 0])
    # Mirrored pairs (0,4) (1,5) (2,6) (3,7).
    np.testing.assert_array_equal(pair_winner_fitness(fitness, healthy, mirrored_pairs(8)), [1, 1, 1, 1, 0, 0, 0, 0])
    nan = fitness.at[5].set(jnp.nan)  # a diverged member's raw NaN does not matter either
    np.testing.assert_array_equal(pair_winner_fitness(nan, healthy, adjacent_pairs(8)), [1, 0, 0, 1, 1, 0, 0, 0])


class _Recording:
    """Wraps a strategy: member ``diverge`` (if any) trains at a learning rate of e^40; ``told``: what tell got."""

    def __init__(self, strategy, diverge: int | None = None):
        self.strategy, self.diverge, self.told = strategy, diverge, []

    def __getattr__(self, name):
        return getattr(self.strategy, name)

    def ask(self, key, state):
        population, state = self.strategy.ask(key, state)
        if self.diverge is not None:
            population = jax.tree.map(lambda x: x.at[self.diverge].set(40.0), population)
        return population, state

    def tell(self, key, population, fitness, state):
        jax.debug.callback(lambda f: self.told.append(np.asarray(f)), fitness)
        return self.strategy.tell(key, population, fitness, state)


@pytest.mark.parametrize("strategy", ["open_es", pytest.param("eggroll", marks=pytest.mark.slow)])
def test_pair_winner_tells_one_per_pair_and_the_update_is_tell_with_those_values(strategy):
    d = tiny_meta_dict(population=6, timesteps=1024)
    d["strategy"]["name"] = strategy
    d["fitness_shaping"] = "pair_winner"
    trainer = ESTrainer(MetaConfig.from_dict(d))
    assert trainer.strategy.shaping == "none"  # null means none with pair-winner shaping
    pairs = trainer.pairs
    diverged = int(pairs[1, 0])
    trainer.strategy = recording = _Recording(trainer.strategy, diverge=diverged)
    state = trainer.init()
    new_state, metrics = trainer.generation(state)
    told, raw = recording.told[-1], np.asarray(metrics.fitness)

    assert set(np.unique(told)) <= {0.0, 1.0} and int(metrics.nan_count) == 1
    np.testing.assert_array_equal(told[pairs].sum(axis=1), 1.0)  # one winner per pair
    for a, b in pairs:
        if diverged not in (a, b):  # the fitter member wins (a tie: the second)
            assert told[a] == float(raw[a] > raw[b])
    assert told[diverged] == 0.0 and told[pairs[1, 1]] == 1.0  # healthy beats diverged
    healthy = np.arange(6) != diverged
    assert float(metrics.mean_fitness) == pytest.approx(raw[healthy].mean())  # logged fitness stays raw

    # The update is the strategy's tell with exactly these values.
    _, k_ask, _, k_tell = jax.random.split(state.key, 4)
    population, es_state = recording.ask(k_ask, state.es_state)
    expected, _ = recording.strategy.tell(k_tell, population, jnp.asarray(told), es_state)
    for a, b in zip(jax.tree.leaves(new_state.es_state), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ defaults
def test_defaults_keep_the_hash_and_never_reach_the_pair_code(monkeypatch):
    """Runs from before the options keep their hash; a default generation never calls the pair functions."""
    hashes = {  # computed before task_sampling / fitness_shaping existed
        "cartpole": (tiny_meta_dict(), "e75c901b827825a9"),
        "plr": (curriculum_dict(generations=1), "2922d8890540960a"),
    }
    for d, expected in hashes.values():
        assert MetaConfig.from_dict(d).search_hash() == expected
        explicit = {**d, "task_sampling": "shared", "fitness_shaping": "strategy"}
        assert MetaConfig.from_dict(explicit).search_hash() == expected
    changed = MetaConfig.from_dict({**tiny_meta_dict(), "fitness_shaping": "pair_winner"}).search_hash()
    assert changed != hashes["cartpole"][1]

    def refuse(*args, **kwargs):
        raise AssertionError("the default path reached the antithetic-pair code")

    for name in ("pair_seeds", "pair_of_member", "pair_winner_fitness"):
        monkeypatch.setattr(trainer_module, name, refuse)
    trainer = ESTrainer(MetaConfig.from_dict(tiny_meta_dict()))
    assert trainer.pairs is None
    _, metrics = trainer.generation(trainer.init())
    assert np.isfinite(np.asarray(metrics.fitness)).all()


# ------------------------------------------------------------------ bad configs
@pytest.mark.parametrize(
    "change,message",
    [
        ({"task_sampling": "pairs"}, r"task_sampling='pairs' is invalid; allowed: shared \| antithetic"),
        ({"fitness_shaping": "winner"}, r"fitness_shaping='winner' is invalid; allowed: strategy \| pair_winner"),
        (
            {"curriculum": {"kind": "dr", "score": "random", "levels_per_generation": 3}},
            r"curriculum.levels_per_generation=3 must be strategy.population_size/2 = 2",
        ),
        (
            {"strategy": {"name": "open_es", "population_size": 4, "fitness_shaping": "centered_rank"}},
            r"strategy.fitness_shaping='centered_rank' is invalid with it; allowed: none \(or null\)",
        ),
        (
            {"strategy": {"name": "snes", "population_size": 4}},
            r"strategy.name='snes' does not; allowed: eggroll, ARS, .*Open_ES \(with strategy.antithetic: true\)",
        ),
        (
            {"strategy": {"name": "open_es", "population_size": 4, "antithetic": False}},
            r"strategy.name='open_es' with strategy.antithetic: false does not",
        ),
        ({"strategy": {"name": "cr_fm_nes", "population_size": 4}}, r"CR_FM_NES ranks fitness in its own update"),
        (
            {"regime": "meta_gradient", "strategy": {}},
            r"^task_sampling is a setting of regime=es, set in a regime=meta_gradient run; allowed with "
            r'regime=meta_gradient: task_sampling left out \(at its default, "shared"\)$',
        ),
    ],
)
def test_bad_pair_configs_name_the_value_and_what_is_allowed(change, message):
    d = {**antithetic_dict(), **change}
    with pytest.raises(ValueError, match=message):
        ESTrainer(MetaConfig.from_dict(d))


def test_antithetic_strategies_lists_ours_and_evosax():
    names = antithetic_strategies()
    assert names[0] == "eggroll" and "PGPE" in names and "Open_ES (with strategy.antithetic: true)" in names


# ------------------------------------------------------------------ one generation
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["eggroll", "open_es"])
def test_one_antithetic_generation_on_a_dr_curriculum(strategy):
    """Each pair on its own random level, pair-winner shaping, regret scored per pair: finite metrics."""
    trainer = ESTrainer(MetaConfig.from_dict(antithetic_dict(strategy)))
    state, metrics = trainer.generation(trainer.init())
    assert int(metrics.nan_count) == 0 and int(state.generation) == 1
    for key in ("best_fitness", "mean_fitness", "median_fitness"):
        assert np.isfinite(float(getattr(metrics, key))), key
    curriculum = metrics.curriculum
    assert np.isfinite(float(curriculum["batch_score"])) and np.isfinite(float(curriculum["batch_return"]))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(trainer.mean_params(state)))


@pytest.mark.slow
def test_ta_lpg_gridworld_es_runs_one_generation_on_a_tiny_override():
    """The config, tiny: 4 members, 2 levels, agents of 2 envs x 4 steps living their levels' 250 updates."""
    tiny = {"num_envs": 2, "num_steps": 4, "total_timesteps": 2000, "final_window": 2}  # 250 updates of 8 steps
    d = apply_dotted_overrides(
        load_config_dict("ta_lpg_gridworld_es"),
        ["strategy.population_size=4", "curriculum.levels_per_generation=2", "rule.kwargs.hidden=8"]
        + [f"tasks.0.train.{k}={v}" for k, v in tiny.items()]
        + [f"curriculum.baseline_train.{k}={v}" for k, v in tiny.items()],
    )
    config = MetaConfig.from_dict(d)
    assert config.rule.name == "ta_lpg" and config.task_sampling == "antithetic"
    assert config.fitness_shaping == "pair_winner" and config.curriculum.kind == "dr"
    assert config.tasks[0].resolve()[2].level_lifetime
    trainer = ESTrainer(config)
    _, metrics = trainer.generation(trainer.init())
    assert int(metrics.nan_count) == 0 and np.isfinite(float(metrics.mean_fitness))
