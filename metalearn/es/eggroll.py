"""EGGROLL (Sarkar et al. 2025, "Evolution Strategies at the Hyperscale"): ES with low-rank perturbations.

Every matrix leaf W (m, n) of the search's mean — a leaf with more than two
axes is treated as (shape[0], prod(rest)) — is perturbed, for member i, by

    E_i = A_i B_iᵀ / √r,   A_i (m, r), B_i (n, r) i.i.d. N(0, 1),

and vectors and scalars by ordinary full-rank Gaussian noise ε_i. Member i
evaluates mean + σ·E_i; with antithetic sampling members 2k and 2k+1 share
noise with opposite signs. The update's gradient estimate

    g = (1/(Nσ)) Σ_i s_i E_i = (1/(Nσ√r)) · [A_1 … A_N] diag(s) [B_1 … B_N]ᵀ

(s = shaped fitness, maximised) is one matmul over the stacked factors; it has
rank up to N·r although each perturbation has rank r. An optax optimizer
(sgd | adam, learning rate decaying by ``lr_decay`` per generation) steps the
mean along +g; σ decays by ``sigma_decay`` per generation.

Noise is never stored: A, B and ε are regenerated from (the state's key,
generation, member) with ``jax.random.fold_in`` wherever they are needed — in
``ask``, in ``tell``, and in a low-rank evaluation (``population_noise`` with
:mod:`metalearn.es.lowrank`). The ``key`` arguments of ``ask``/``tell`` are
therefore unused: the same state always gives the same population.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalearn.es.base import (
    StrategyConfig,
    TellMetrics,
    adjacent_pairs,
    check_fitness,
    mean_optimizer,
    shape_fitness,
)
from metalearn.es.lowrank import LowRank, lowrank_matrix

NAME = "eggroll"
KWARGS = {"rank": "a positive integer (default 1): the rank r of each member's matrix perturbations"}


class EggrollState(NamedTuple):
    mean: Any  # pytree shaped like the template
    opt_state: Any  # the optax optimizer's state over the mean
    key: jax.Array  # (2,) uint32 base noise key, fixed for the run
    generation: jax.Array  # () int32, generations told


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(m, n) of a leaf perturbed by low-rank noise, or None for a vector/scalar (full-rank noise)."""
    if len(shape) < 2:
        return None
    return shape[0], math.prod(shape[1:])


def validate_kwargs(kwargs: Mapping[str, Any]) -> int:
    """The rank from ``strategy.kwargs``; unknown keys and bad ranks raise ValueError."""
    unknown = sorted(set(kwargs) - set(KWARGS))
    if unknown:
        allowed = "; ".join(f"{k}: {v}" for k, v in KWARGS.items())
        raise ValueError(f"strategy.kwargs {unknown} not accepted by eggroll; allowed: {allowed}")
    rank = kwargs.get("rank", 1)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"strategy.kwargs.rank={rank!r} is invalid for eggroll; allowed: a positive integer (>= 1)")
    return rank


def perturbation(noise: LowRank | jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """One leaf's perturbations E materialised: (N, *shape) from a population's noise for that leaf."""
    if isinstance(noise, LowRank):
        return lowrank_matrix(noise).reshape(noise.a.shape[0], *shape)
    return noise


def gradient_estimate(mean: Any, noise: Any, weights: jax.Array, sigma: jax.Array | float) -> Any:
    """g = (1/(Nσ)) Σ_i w_i E_i per leaf, shaped like ``mean``, without forming any member's E_i.

    ``noise``: a population's noise (``EggrollStrategy.population_noise``);
    ``weights``: (N,) shaped fitness.
    """
    n = weights.shape[0]

    def leaf(m: jax.Array, e: LowRank | jax.Array) -> jax.Array:
        if isinstance(e, LowRank):
            # Σ_i w_i A_i B_iᵀ: contracting over (member, rank) at once is a single (m, N·r) @ (N·r, n) matmul.
            weighted = e.a * weights[:, None, None]
            g = jnp.einsum("imr,inr->mn", weighted, e.b) / math.sqrt(e.rank)
        else:
            g = jnp.tensordot(weights, e, axes=1)
        return (g / (n * sigma)).reshape(m.shape).astype(m.dtype)

    return jax.tree.map(leaf, mean, noise)


class EggrollStrategy:
    """EGGROLL over a pytree of parameters shaped like ``template``.

    ``ask`` returns the population materialised (leaves (N, *leaf shape)) since
    the generic meta-trainer evaluates members from their parameters; that
    costs N × the parameter count, which is fine for small rules. To evolve
    large matrices, evaluate from ``population_noise`` with
    :mod:`metalearn.es.lowrank` instead and call ``tell`` with
    ``population=None``: ``tell`` never reads the population.
    """

    def __init__(self, config: StrategyConfig, template: Any):
        self.config = config
        self.name = NAME
        self.rank = validate_kwargs(config.kwargs)
        self.population_size = config.population_size
        self.antithetic = True if config.antithetic is None else bool(config.antithetic)
        if self.antithetic and self.population_size % 2:
            raise ValueError(
                f"strategy.population_size={self.population_size} must be even for eggroll's antithetic pairs; "
                "allowed: an even size, or antithetic: false"
            )
        self.shaping = config.fitness_shaping or "centered_rank"
        self.optimizer = mean_optimizer(config)
        del template  # nothing to precompute: the noise follows the mean given to ``init``

    # ------------------------------------------------------------- protocol
    def init(self, key: jax.Array, mean: Any) -> EggrollState:
        mean = jax.tree.map(jnp.asarray, mean)
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)  # plain uint32, so checkpoints stay plain arrays
        return EggrollState(mean, self.optimizer.init(mean), key, jnp.zeros((), jnp.int32))

    def ask(self, key: jax.Array, state: EggrollState) -> tuple[Any, EggrollState]:
        """Population: leaves (N, *leaf shape) = mean + σ·E_i. ``key`` is unused (noise comes from the state)."""
        del key
        sigma = self.sigma(state)
        noise = self.population_noise(state)
        population = jax.tree.map(lambda m, e: m + sigma * perturbation(e, m.shape), state.mean, noise)
        return population, state

    def tell(
        self, key: jax.Array, population: Any, fitness: jax.Array, state: EggrollState
    ) -> tuple[EggrollState, TellMetrics]:
        """One update from fitness (N,), maximised. ``key`` and ``population`` are unused (noise is regenerated)."""
        del key, population
        check_fitness(fitness, self.population_size)
        sigma = self.sigma(state)
        weights = shape_fitness(fitness, self.shaping)
        grad = gradient_estimate(state.mean, self.population_noise(state), weights, sigma)
        ascent = jax.tree.map(jnp.negative, grad)  # optax minimises; we maximise
        updates, opt_state = self.optimizer.update(ascent, state.opt_state, state.mean)
        mean = optax.apply_updates(state.mean, updates)
        new_state = EggrollState(mean, opt_state, state.key, state.generation + 1)
        return new_state, {"sigma": sigma}

    def mean(self, state: EggrollState) -> Any:
        return state.mean

    def antithetic_pairs(self) -> np.ndarray | None:
        """(N/2, 2) pairs [2k, 2k + 1] (see ``member_noise``); None with ``antithetic: false``."""
        return adjacent_pairs(self.population_size) if self.antithetic else None

    # ---------------------------------------------------------------- noise
    def sigma(self, state: EggrollState) -> jax.Array:
        """σ of the current generation: sigma · sigma_decay^generation."""
        return jnp.float32(self.config.sigma) * jnp.float32(self.config.sigma_decay) ** state.generation

    def member_noise(self, state: EggrollState, member: jax.Array | int) -> Any:
        """Member ``member``'s noise, shaped like the mean, regenerated from (key, generation, member).

        Matrix leaves become ``LowRank(a (m, r), b (n, r))`` with E = a·bᵀ/√r (an
        antithetic member's sign folded into ``a``); other leaves ε with the leaf's shape.
        """
        member = jnp.asarray(member, jnp.int32)
        pair, sign = (member // 2, 1 - 2 * (member % 2)) if self.antithetic else (member, 1)
        key = jax.random.fold_in(jax.random.fold_in(state.key, state.generation), pair)
        leaves, treedef = jax.tree.flatten(state.mean)
        noise = []
        for j, leaf in enumerate(leaves):
            k = jax.random.fold_in(key, j)
            mn = matrix_shape(leaf.shape)
            if mn is None:
                noise.append(sign * jax.random.normal(k, leaf.shape, leaf.dtype))
            else:
                # Separate draws: slices of one stacked draw cost XLA twice as much to generate.
                k_a, k_b = jax.random.split(k)
                a = jax.random.normal(k_a, (mn[0], self.rank), leaf.dtype)
                b = jax.random.normal(k_b, (mn[1], self.rank), leaf.dtype)
                noise.append(LowRank(sign * a, b))
        return treedef.unflatten(noise)

    def population_noise(self, state: EggrollState, members: jax.Array | None = None) -> Any:
        """``member_noise`` for ``members`` (default all N) stacked: LowRank a (N, m, r), b (N, n, r); ε (N, ...).

        Pass a slice of member indices to regenerate only the members a device evaluates.
        """
        if members is None:
            members = jnp.arange(self.population_size, dtype=jnp.int32)
        # A loop over two halves of the members, not one vmap: a loop's outputs are materialised, so
        # XLA cannot fuse the Gaussian sampling into every consumer and recompute it there (on CPU that
        # doubled a generation's cost beyond plain inference at d = N = 1024).
        half = max(1, -(-members.shape[0] // 2))
        return jax.lax.map(lambda i: self.member_noise(state, i), members, batch_size=half)
