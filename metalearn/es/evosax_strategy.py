"""Every evosax 0.3 strategy behind our maximising ``init / ask / tell`` interface.

evosax minimises. This wrapper shapes our (maximised) fitness with the chosen
monotone shaping and hands evosax its negation — the one place the sign is
converted. Strategies whose own update ranks fitness (CMA-ES, SNES, ...) keep
their rank weights; the others get our shaped values as they are.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import distribution_based_algorithms, population_based_algorithms
from evosax.core.fitness_shaping import identity_fitness_shaping_fn, weights_fitness_shaping_fn

from metalearn.es.base import (
    StrategyConfig,
    TellMetrics,
    check_fitness,
    mean_optimizer,
    mirrored_pairs,
    shape_fitness,
    strategy_key,
)
from metalearn.validation import unknown

# Strategies that need inputs an ES over rules does not have: a surrogate gradient
# (GuidedES), a user sampling function (RandomSearch), several sub-populations
# (SV_*), or truncated unrolls of one inner problem (PersistentES, NoiseReuseES).
# LM_MA_ES is left out because evosax 0.3.2's returns a NaN mean after one
# generation on a plain sphere.
_EXCLUDED = {"GuidedES", "RandomSearch", "SV_CMA_ES", "SV_Open_ES", "PersistentES", "NoiseReuseES", "LM_MA_ES"}

_ALGORITHMS = {
    name: cls
    for name, cls in {**distribution_based_algorithms, **population_based_algorithms}.items()
    if name not in _EXCLUDED
}
_POPULATION_BASED = set(population_based_algorithms)
# These keep and compare fitness across generations, where per-generation ranks mean nothing.
_CROSS_GENERATION = _POPULATION_BASED | {"HillClimbing", "GradientlessDescent", "SimulatedAnnealing", "CMAAnchoredLES"}
# Strategies whose ask always returns [mean + z, mean − z] (z: N/2 draws, concatenated), so member i
# and i + N/2 are mirror images; Open_ES and EvoTF_ES do the same when ``use_antithetic_sampling``.
# (Read from evosax 0.3's ``_ask``; tests/test_es_pairs.py checks every one.)
_ALWAYS_ANTITHETIC = {"ARS", "ASEBO", "CR_FM_NES", "PGPE"}
# Score given to a population-based strategy's unevaluated initial cloud (evosax minimises):
# worse than anything real, but finite, since some normalise fitness by its range.
WORST = 1e6


_BY_KEY = {strategy_key(n): n for n in _ALGORITHMS}


def evosax_names() -> list[str]:
    """evosax's names of the strategies available here."""
    return sorted(_ALGORITHMS)


def evosax_antithetic_names() -> list[str]:
    """evosax strategies that can sample antithetic pairs, those needing ``antithetic: true`` marked so."""
    optional = [n for n, c in _ALGORITHMS.items() if "use_antithetic_sampling" in inspect.signature(c).parameters]
    return sorted(_ALWAYS_ANTITHETIC & set(_ALGORITHMS)) + [f"{n} (with strategy.antithetic: true)" for n in optional]


def resolve_strategy_name(name: str) -> str:
    """evosax's spelling of ``name`` (``open_es``, ``OpenES``, ``Open_ES`` all work)."""
    if strategy_key(name) in _BY_KEY:
        return _BY_KEY[strategy_key(name)]
    excluded = f" ({', '.join(sorted(_EXCLUDED))} need inputs an ES over rules does not have)"
    if strategy_key(name) in {strategy_key(n) for n in _EXCLUDED}:
        raise ValueError(f"strategy {name!r} is not supported{excluded}")
    raise unknown("strategy", name, evosax_names(), key=strategy_key)


class EvosaxStrategy:
    """An evosax algorithm over a pytree of meta-parameters shaped like ``template``."""

    def __init__(self, config: StrategyConfig, template: Any):
        self.config = config
        self.name = resolve_strategy_name(config.name)
        self.population_size = config.population_size
        self.population_based = self.name in _POPULATION_BASED
        cls = _ALGORITHMS[self.name]
        accepts = inspect.signature(cls.__init__).parameters
        cross_generation = self.name in _CROSS_GENERATION
        self.shaping = config.fitness_shaping or ("none" if cross_generation else "centered_rank")
        if cross_generation and self.shaping != "none":
            raise ValueError(
                f"strategy.fitness_shaping={self.shaping!r} is invalid for {self.name}, which compares "
                "fitness across generations; allowed: none (or null)"
            )

        kwargs: dict[str, Any] = {}
        if "std_schedule" in accepts:
            kwargs["std_schedule"] = optax.exponential_decay(config.sigma, 1, config.sigma_decay)
        if "optimizer" in accepts:
            kwargs["optimizer"] = mean_optimizer(config)
        if config.antithetic is not None:
            if "use_antithetic_sampling" not in accepts:
                supported = [
                    n for n, c in _ALGORITHMS.items() if "use_antithetic_sampling" in inspect.signature(c).parameters
                ]
                raise ValueError(
                    f"strategy.antithetic: {self.name} has no antithetic option; allowed for: {', '.join(supported)}"
                    " (or leave antithetic unset)"
                )
            kwargs["use_antithetic_sampling"] = config.antithetic
        # Strategies with rank weights by default rank fitness in their own update; the others get our values.
        self.ranks_fitness = accepts["fitness_shaping_fn"].default is weights_fitness_shaping_fn
        if not self.ranks_fitness:
            kwargs["fitness_shaping_fn"] = identity_fitness_shaping_fn  # we shape, once, ourselves
        unknown = sorted(set(config.kwargs) - set(accepts))
        if unknown:
            allowed = sorted(set(accepts) - {"self", "population_size", "solution", *kwargs, "metrics_fn"})
            raise ValueError(f"strategy.kwargs {unknown} not accepted by {self.name}; allowed: {allowed}")
        kwargs.update(config.kwargs)
        try:
            self.algo = cls(population_size=config.population_size, solution=template, **kwargs)
        except AssertionError as err:  # evosax asserts on sizes (e.g. an odd population for antithetic sampling)
            raise ValueError(f"strategy {self.name} with population_size={config.population_size}: {err}") from None
        self.antithetic = self.name in _ALWAYS_ANTITHETIC or bool(getattr(self.algo, "use_antithetic_sampling", False))
        params = self.algo.default_params
        if hasattr(params, "std_init"):
            params = params.replace(std_init=config.sigma)
        self.params = params

    def init(self, key: jax.Array, mean: Any) -> Any:
        if not self.population_based:
            return self.algo.init(key, mean, self.params)
        # Population-based: start from a cloud around ``mean``, scored worst so the first tell replaces it.
        flat_mean = jax.flatten_util.ravel_pytree(mean)[0]
        noise = jax.random.normal(key, (self.population_size, flat_mean.size))
        population = jax.vmap(self.algo._unravel_solution)(flat_mean + self.config.sigma * noise)
        return self.algo.init(key, population, jnp.full((self.population_size,), WORST), self.params)

    def ask(self, key: jax.Array, state: Any) -> tuple[Any, Any]:
        return self.algo.ask(key, state, self.params)

    def tell(self, key: jax.Array, population: Any, fitness: jax.Array, state: Any) -> tuple[Any, TellMetrics]:
        check_fitness(fitness, self.population_size)
        shaped = shape_fitness(fitness, self.shaping)
        state, _ = self.algo.tell(key, population, -shaped, state, self.params)  # evosax minimises
        return state, {"sigma": self.sigma(state)}

    def mean(self, state: Any) -> Any:
        if self.population_based:
            return self.algo.get_best_solution(state)
        return self.algo.get_mean(state)

    def antithetic_pairs(self) -> np.ndarray | None:
        """(N/2, 2) pairs [i, i + N/2] (evosax concatenates the +z and −z halves); None if not antithetic."""
        return mirrored_pairs(self.population_size) if self.antithetic else None

    def sigma(self, state: Any) -> jax.Array:
        """Mean search scale, for logging (NaN where a strategy has none)."""
        std = getattr(state, "std", None)
        return jnp.mean(jnp.asarray(std, jnp.float32)) if std is not None else jnp.float32(jnp.nan)
