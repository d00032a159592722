"""The strategy interface, its configuration, and fitness shaping.

Our convention: **fitness is maximised**. Every strategy implements

    init(key, mean) -> state
    ask(key, state) -> (population, state)      # population: pytree, leading axis N
    tell(key, population, fitness, state) -> (state, {"sigma": ...})   # fitness: (N,) float
    mean(state) -> pytree                        # the current search distribution's centre
    sigma(state) -> () float32                   # the search scale, for logging
    antithetic_pairs() -> (N/2, 2) int | None    # which members are mirror images of each other

with state as a pytree, so a generation can be one jitted function and a
checkpoint is the state's arrays. Conversions to a library's own sign
convention live inside its wrapper (``evosax_strategy.py``), nowhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, TypedDict, runtime_checkable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalearn.validation import field_error

FITNESS_SHAPINGS = ("centered_rank", "z_score", "none")
META_OPTIMIZERS = ("sgd", "adam")  # optax optimizers that apply the ES gradient


@dataclasses.dataclass(frozen=True)
class StrategyConfig:
    """How to search. σ and the learning rate decay geometrically per generation.

    ``fitness_shaping=None`` picks ``centered_rank``, or ``none`` for strategies
    that compare fitness across generations (GAs, PSO, hill climbing, ...),
    where per-generation ranks mean nothing.
    ``antithetic=None`` keeps the strategy's own default. ``kwargs`` go to the
    strategy's constructor (e.g. ``subspace_dims`` for ASEBO).
    """

    name: str = "open_es"
    population_size: int = 16
    sigma: float = 0.1
    sigma_decay: float = 1.0
    lr: float = 0.05
    lr_decay: float = 1.0
    optimizer: str = "adam"
    optimizer_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    antithetic: bool | None = None
    fitness_shaping: str | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.population_size, int) or self.population_size < 2:
            raise field_error(self, "population_size", "an integer >= 2", prefix="strategy")
        for f in ("sigma", "lr"):
            if not getattr(self, f) > 0:
                raise field_error(self, f, "a number > 0", prefix="strategy")
        for f in ("sigma_decay", "lr_decay"):
            if not 0 < getattr(self, f) <= 1:
                raise field_error(self, f, "a number in (0, 1]", prefix="strategy")
        if self.optimizer not in META_OPTIMIZERS:
            raise field_error(self, "optimizer", " | ".join(META_OPTIMIZERS), prefix="strategy")
        if self.fitness_shaping is not None and self.fitness_shaping not in FITNESS_SHAPINGS:
            raise field_error(
                self, "fitness_shaping", " | ".join(FITNESS_SHAPINGS) + " | null (automatic)", prefix="strategy"
            )


def strategy_key(name: str) -> str:
    """A strategy name compared loosely: ``open_es``, ``OpenES`` and ``Open-ES`` are one name."""
    return name.lower().replace("_", "").replace("-", "")


def mean_optimizer(config: StrategyConfig) -> optax.GradientTransformation:
    """The optax optimizer on the search's mean: ``config.optimizer`` at ``lr`` decaying by ``lr_decay``."""
    lr = optax.exponential_decay(config.lr, 1, config.lr_decay)
    make = optax.adam if config.optimizer == "adam" else optax.sgd
    try:
        return make(lr, **config.optimizer_kwargs)
    except TypeError as err:
        raise ValueError(f"strategy.optimizer_kwargs {dict(config.optimizer_kwargs)}: {err}") from None


class TellMetrics(TypedDict):
    """What ``tell`` reports besides the new state (the meta-trainer logs it every generation)."""

    sigma: jax.Array  # () float32, the strategy's search scale (``Strategy.sigma``; NaN where it has none)


@runtime_checkable
class Strategy(Protocol):
    """What the meta-trainer uses of a strategy; fitness (N,) float is maximised."""

    name: str
    population_size: int

    def init(self, key: jax.Array, mean: Any) -> Any: ...

    def ask(self, key: jax.Array, state: Any) -> tuple[Any, Any]: ...

    def tell(self, key: jax.Array, population: Any, fitness: jax.Array, state: Any) -> tuple[Any, TellMetrics]: ...

    def mean(self, state: Any) -> Any: ...

    def sigma(self, state: Any) -> jax.Array:
        """() float32 search scale of ``state`` (mean over dimensions; NaN where a strategy has none)."""
        ...

    def antithetic_pairs(self) -> np.ndarray | None:
        """(N/2, 2) member indices of each antithetic pair, the +ε member first; None if not antithetic.

        The two members of a pair are mean + σε and mean − σε for the same ε,
        in every generation. Static (a function of the configuration only).
        """
        ...


def mirrored_pairs(population_size: int) -> np.ndarray:
    """(N/2, 2) pairs [i, i + N/2]: evosax's antithetic layout (the population is [+ε, −ε] concatenated)."""
    half = population_size // 2
    return np.stack([np.arange(half), np.arange(half) + half], axis=1)


def adjacent_pairs(population_size: int) -> np.ndarray:
    """(N/2, 2) pairs [2k, 2k + 1]: EGGROLL's antithetic layout (members interleaved +ε, −ε)."""
    return np.arange(population_size).reshape(-1, 2)


def check_fitness(fitness: jax.Array, population_size: int) -> None:
    """Trace-time check of ``tell``'s fitness: (population_size,) floats, one per member."""
    chex.assert_shape(fitness, (population_size,))
    chex.assert_type(fitness, float)


def shape_fitness(fitness: jax.Array, method: str) -> jax.Array:
    """Monotone transforms of a (N,) fitness to maximise.

    centered_rank: ranks scaled to [-0.5, 0.5] (ties share their mean rank);
    z_score: (f − mean) / std; none: unchanged.
    """
    if method == "none":
        return fitness
    if method == "z_score":
        return (fitness - fitness.mean()) / (fitness.std() + 1e-8)
    if method == "centered_rank":
        ranks = jax.scipy.stats.rankdata(fitness) - 1.0
        return ranks / jnp.maximum(fitness.shape[0] - 1, 1) - 0.5
    raise ValueError(f"unknown fitness shaping {method!r}; allowed: {', '.join(FITNESS_SHAPINGS)}")


def pair_winner_fitness(fitness: jax.Array, healthy: jax.Array, pairs: np.ndarray) -> jax.Array:
    """(N,) float32: 1 for the fitter member of each antithetic pair, 0 for the other (GROOVE/TA-LPG's ES).

    ``fitness`` (N,) maximised, ``healthy`` (N,) bool, ``pairs`` (N/2, 2) member
    indices. A tie gives the first member 0 and the second 1 (the reference
    compares first > second). A diverged member always gets 0: a healthy one
    beats it, and when both diverged neither wins, so the pair moves nothing.
    """
    f1, f2 = fitness[pairs[:, 0]], fitness[pairs[:, 1]]
    h1, h2 = healthy[pairs[:, 0]], healthy[pairs[:, 1]]
    first_wins = h1 & (~h2 | (f1 > f2))
    second_wins = h2 & ~first_wins
    shaped = jnp.zeros(fitness.shape, jnp.float32).at[pairs[:, 0]].set(first_wins.astype(jnp.float32))
    return shaped.at[pairs[:, 1]].set(second_wins.astype(jnp.float32))
