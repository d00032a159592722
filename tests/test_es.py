"""Evolution strategies: every evosax strategy by name, our sign convention, shaping, OpenES's update."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from evosax.core.fitness_shaping import centered_rank_fitness_shaping_fn

from metalearn.es import (
    Strategy,
    StrategyConfig,
    list_strategies,
    make_strategy,
    resolve_strategy_name,
    shape_fitness,
)

TARGET = {"a": jnp.arange(3.0) / 3, "b": {"c": -0.5 * jnp.ones((2, 2))}}
TEMPLATE = jax.tree.map(jnp.zeros_like, TARGET)


def sphere(x):
    """Maximised at TARGET (value 0)."""
    return -sum(jnp.sum((u - v) ** 2) for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(TARGET), strict=True))


def run(strategy, generations: int, seed: int = 0):
    key = jax.random.PRNGKey(seed)
    state = strategy.init(key, TEMPLATE)

    def gen(state, k):
        k_ask, k_tell = jax.random.split(k)
        population, state = strategy.ask(k_ask, state)
        state, _ = strategy.tell(k_tell, population, jax.vmap(sphere)(population), state)
        return state, None

    state, _ = jax.lax.scan(gen, state, jax.random.split(key, generations))
    return strategy.mean(state)


# Strategies that solve the sphere in 150 generations of 16; the rest must at least run and stay finite
# (DiffusionEvolution, for one, is tuned for far longer runs).
SOLVERS = {"Open_ES", "SNES", "CMA_ES", "Sep_CMA_ES", "PGPE", "ARS", "xNES", "SimpleES", "CR_FM_NES", "MA_ES", "DES"}


@pytest.mark.parametrize(  # the whole sweep is slow; the fast suite keeps the strategies the experiments use
    "name",
    [
        pytest.param(n, marks=[] if n in {"Open_ES", "SNES", "CMA_ES"} else [pytest.mark.slow])
        for n in list_strategies()
    ],
)
def test_every_strategy_runs_by_name_and_maximises(name):
    strategy = make_strategy(StrategyConfig(name=name, population_size=16, sigma=0.1, lr=0.05), TEMPLATE)
    mean = run(strategy, 150)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(mean))
    assert jax.tree.structure(mean) == jax.tree.structure(TEMPLATE)
    if name in SOLVERS:
        assert float(sphere(mean)) > 0.02 * float(sphere(TEMPLATE)), name  # >= 98% of the way


def test_names_are_flexible_and_unknown_ones_list_matches():
    assert resolve_strategy_name("open_es") == resolve_strategy_name("OpenES") == "Open_ES"
    assert resolve_strategy_name("sep-cma-es") == "Sep_CMA_ES"
    with pytest.raises(ValueError, match="unknown strategy 'open_ess'; did you mean: Open_ES"):
        resolve_strategy_name("open_ess")
    with pytest.raises(ValueError, match="not supported"):
        resolve_strategy_name("guided_es")


def test_bad_strategy_options_are_named():
    with pytest.raises(ValueError, match=r"no antithetic option; allowed for: .*Open_ES"):
        make_strategy(StrategyConfig(name="snes", antithetic=True), TEMPLATE)
    with pytest.raises(ValueError, match=r"kwargs \['bogus'\] not accepted by Open_ES"):
        make_strategy(StrategyConfig(name="open_es", kwargs={"bogus": 1}), TEMPLATE)
    with pytest.raises(ValueError, match="population_size=15: Population size must be even"):
        make_strategy(StrategyConfig(name="open_es", population_size=15), TEMPLATE)
    with pytest.raises(ValueError, match="invalid for SimpleGA, which compares fitness across generations"):
        make_strategy(StrategyConfig(name="simple_ga", fitness_shaping="centered_rank"), TEMPLATE)
    with pytest.raises(ValueError, match=r"strategy.sigma_decay=1.5 is invalid; allowed: a number in \(0, 1\]"):
        StrategyConfig(sigma_decay=1.5)


def test_centered_rank_matches_evosax_with_the_sign_flipped():
    f = jnp.array([3.0, -1.0, 7.5, 0.0, 2.0, 2.5])
    ours = shape_fitness(f, "centered_rank")
    theirs = centered_rank_fitness_shaping_fn(None, -f, None, None)  # evosax ranks for minimisation
    np.testing.assert_allclose(ours, -theirs, atol=1e-6)
    assert float(ours[jnp.argmax(f)]) == 0.5 and float(ours[jnp.argmin(f)]) == -0.5
    z = shape_fitness(f, "z_score")
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-5)


def test_open_es_update_matches_the_closed_form():
    """One OpenES step with SGD: mean += lr · Σ s_i ε_i / (N σ), s = centred ranks of the fitness to maximise."""
    sigma, lr, n = 0.2, 0.1, 8
    template = jnp.zeros(5)
    s = make_strategy(
        StrategyConfig(name="open_es", population_size=n, sigma=sigma, lr=lr, optimizer="sgd", antithetic=True),
        template,
    )
    state = s.init(jax.random.PRNGKey(0), template)
    population, state = s.ask(jax.random.PRNGKey(1), state)
    g = jnp.array([1.0, -2.0, 0.5, 0.0, 3.0])
    fitness = population @ g  # linear: the update must point along +g
    state, _ = s.tell(jax.random.PRNGKey(2), population, fitness, state)
    eps = np.asarray(population) / sigma
    shaped = np.asarray(shape_fitness(fitness, "centered_rank"))
    expected = lr * (shaped @ eps) / (n * sigma)
    np.testing.assert_allclose(s.mean(state), expected, rtol=1e-5, atol=1e-7)
    assert float(jnp.dot(s.mean(state), g)) > 0
    np.testing.assert_allclose(population[: n // 2], -population[n // 2 :])  # antithetic pairs


def test_sigma_and_lr_decay_per_generation():
    s = make_strategy(StrategyConfig(name="open_es", population_size=4, sigma=0.5, sigma_decay=0.5), jnp.zeros(2))
    state = s.init(jax.random.PRNGKey(0), jnp.zeros(2))
    sigmas = []
    for g in range(3):
        population, state = s.ask(jax.random.PRNGKey(g), state)
        state, metrics = s.tell(jax.random.PRNGKey(g), population, jnp.arange(4.0), state)
        sigmas.append(float(metrics["sigma"]))
    np.testing.assert_allclose(sigmas, [0.5, 0.25, 0.125])


def test_every_strategy_implements_the_protocol_sigma_included():
    """``Strategy`` is what the meta-trainer reads: ``sigma`` and tell's ``{"sigma": ...}`` included."""
    for name in list_strategies():
        s = make_strategy(StrategyConfig(name=name, population_size=4), TEMPLATE)
        assert isinstance(s, Strategy), name
    for name in ("open_es", "simple_ga", "eggroll"):  # distribution-based, population-based, ours
        s = make_strategy(StrategyConfig(name=name, population_size=4), TEMPLATE)
        state = s.init(jax.random.PRNGKey(0), TEMPLATE)
        population, state = s.ask(jax.random.PRNGKey(1), state)
        chex.assert_shape(s.sigma(state), ())
        _, metrics = s.tell(jax.random.PRNGKey(2), population, jnp.arange(4.0), state)
        chex.assert_shape(metrics["sigma"], ())
        assert np.isfinite(float(s.sigma(state))) or name == "simple_ga", name
        with pytest.raises(AssertionError, match="shape"):  # one fitness per member, checked when traced
            s.tell(jax.random.PRNGKey(2), population, jnp.arange(5.0), state)
