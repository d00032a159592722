"""Population forward passes through low-rank-perturbed linear layers (EGGROLL's evaluation path).

Member i of a population evaluates a Dense layer whose kernel K (in, out) is
perturbed by σ·E_i with E_i = A_i B_iᵀ/√r, A_i (in, r), B_i (out, r):

    y_i = x_i·(K + σE_i) + bias + σ·ε_i
        = x_i·K + bias + σ·((x_i·A_i)·B_iᵀ)/√r + σ·ε_i

The shared x·K is one matmul over every member's inputs stacked together, and
the perturbation costs r·(in + out) per input instead of in·out, so a
population is evaluated for about the price of one batched inference, and no
member's perturbed kernel is ever formed.

Conventions follow flax: a Dense layer is ``{"kernel": (in, out), "bias":
(out,)}``, the same layout :class:`~metalearn.es.eggroll.EggrollStrategy`
perturbs (for a torch-style weight W (out, in) = Kᵀ, swap the roles of A and B).
Everything here is a pure function over arrays and pytrees.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class LowRank(NamedTuple):
    """Factors of rank-r perturbations E = a·bᵀ/√r.

    ``a`` (..., m, r), ``b`` (..., n, r); leading axes (e.g. the population)
    are batch axes. An antithetic member's sign is folded into ``a``.
    """

    a: jax.Array
    b: jax.Array

    @property
    def rank(self) -> int:
        return self.a.shape[-1]


def lowrank_matrix(factors: LowRank) -> jax.Array:
    """E = a·bᵀ/√r, shaped (..., m, n). Materialises: for tests and small leaves only."""
    return jnp.einsum("...mr,...nr->...mn", factors.a, factors.b) / math.sqrt(factors.rank)


def population_dense(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    sigma: jax.Array | float,
    kernel_noise: LowRank,
    bias_noise: jax.Array | None = None,
) -> jax.Array:
    """A population through one perturbed Dense layer.

    Args:
      x: (N, ..., in) — member i's inputs are ``x[i]`` (any number of them).
      kernel: (in, out), shared by all members; bias: (out,) or None.
      sigma: the perturbation scale.
      kernel_noise: ``a`` (N, in, r), ``b`` (N, out, r).
      bias_noise: (N, out) full-rank bias noise, or None.

    Returns (N, ..., out) = x[i]·(kernel + σ·a_i b_iᵀ/√r) + bias + σ·bias_noise[i].
    """
    n, k_in = x.shape[0], x.shape[-1]
    # One matmul for the whole population: members share the kernel.
    y = (x.reshape(-1, k_in) @ kernel).reshape(*x.shape[:-1], kernel.shape[-1])
    xa = jnp.einsum("n...i,nir->n...r", x, kernel_noise.a)  # (N, ..., r)
    y = y + (sigma / math.sqrt(kernel_noise.rank)) * jnp.einsum("n...r,nor->n...o", xa, kernel_noise.b)
    expand = (n,) + (1,) * (x.ndim - 2) + (kernel.shape[-1],)  # broadcast over each member's inputs
    if bias is not None:
        y = y + bias
    if bias_noise is not None:
        y = y + sigma * bias_noise.reshape(expand)
    return y


def population_mlp(
    layers: Sequence[Mapping[str, Any]],
    noise: Sequence[Mapping[str, Any]],
    sigma: jax.Array | float,
    x: jax.Array,
    activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
) -> jax.Array:
    """A population through an MLP of Dense layers, activation between them (none after the last).

    ``layers``: the mean's Dense params in order (see :func:`dense_layers`);
    ``noise``: the population's noise in the same layout (``kernel`` a
    :class:`LowRank` with (N, in, r), (N, out, r) factors; ``bias`` (N, out)).
    x: (N, ..., in) -> (N, ..., out).
    """
    if len(layers) != len(noise):
        raise ValueError(f"{len(layers)} layers but noise for {len(noise)}")
    for i, (p, e) in enumerate(zip(layers, noise, strict=True)):
        x = population_dense(x, p["kernel"], p.get("bias"), sigma, e["kernel"], e.get("bias"))
        if i < len(layers) - 1:
            x = activation(x)
    return x


def mlp(
    layers: Sequence[Mapping[str, Any]], x: jax.Array, activation: Callable[[jax.Array], jax.Array] = jnp.tanh
) -> jax.Array:
    """One member's MLP, materialised kernels: x (..., in) -> (..., out). The reference for the above."""
    for i, p in enumerate(layers):
        x = x @ p["kernel"] + (p["bias"] if "bias" in p else 0.0)
        if i < len(layers) - 1:
            x = activation(x)
    return x


def dense_layers(params: Mapping[str, Any]) -> list[Any]:
    """A flax MLP's Dense params in layer order.

    Accepts ``{"params": {...}}`` or the inner dict, with children named like
    flax's ``Dense_0, Dense_1, …`` or ``nn.Sequential``'s ``layers_0, layers_2, …``;
    they are ordered by their trailing number (so ``Dense_10`` follows ``Dense_9``).
    Works on any pytree of that layout, e.g. the noise from
    :meth:`~metalearn.es.eggroll.EggrollStrategy.population_noise`.
    """
    if set(params) == {"params"}:
        params = params["params"]

    def index(name: str) -> int:
        match = re.search(r"(\d+)$", name)
        if match is None:
            raise ValueError(f"layer {name!r} has no trailing index; expected names like Dense_0 or layers_0")
        return int(match.group(1))

    return [params[name] for name in sorted(params, key=index)]
