"""Learned Policy Optimisation (Lu et al. 2022) and its temporally-aware variant
TA-LPO (Jackson et al. 2024): the drift f(r, A) is a small learned network.

Features (as in the LPO reference code): x = [r−1, (r−1)², log r, (log r)²]
and the same four times A — 8 inputs; TA-LPO appends training progress n/N
and log N (10 inputs). A one-hidden-layer tanh MLP maps them to a scalar
g(r, A). The drift is

    h(r, A) = g(r, A) − g(1, A) − (r − 1)·∂g/∂r (1, A)
    f(r, A) = relu(f_PPO(r, A) + h(r, A))

where f_PPO = relu((r − clip(r, 1−ε, 1+ε))·A) is PPO's drift (left out when
``clip_eps`` is 0). The invariants hold for *any* meta-parameters:

* f ≥ 0: it is a relu.
* f(1, A) = 0: h(1, A) = g(1, A) − g(1, A) − 0 = 0, and f_PPO(1, A) = 0.
* ∂f/∂r (1, A) = 0: g is smooth in r (tanh MLP of smooth features, r > 0),
  so h is C¹ with h(1) = 0 and ∂h/∂r(1) = ∂g/∂r(1) − ∂g/∂r(1) = 0; f_PPO is
  identically 0 on [1−ε, 1+ε]. Hence u = f_PPO + h is C¹ near r = 1 with
  u(1) = u'(1) = 0, so 0 ≤ f = relu(u) ≤ |u| = o(|r − 1|) and f'(1) = 0
  (autodiff agrees: jax's relu has derivative 0 at 0).

g(1, A) and ∂g/∂r(1, A) are one forward-mode pass (``jax.jvp``) at r = 1.
With the default ``zero_init`` the output layer starts at zero, so h ≡ 0 and
the rule starts as exactly PPO-clip — a sensible point for ES to search from.

meta_params = {"w1": (F, H), "b1": (H,), "w2": (H,)}   with F = 8 or 10.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from objectives.base import Objective, ObjectiveInputs
from objectives.drift import drift_loss
from objectives.ppo import ppo_drift

KIND = "drift"

NUM_FEATURES = 8
NUM_TEMPORAL_FEATURES = 2


def features(ratio: jax.Array, advantage: jax.Array) -> jax.Array:
    """(B, 8): [r−1, (r−1)², log r, (log r)²] and those times A."""
    r1 = ratio - 1.0
    log_r = jnp.log(ratio)
    base = jnp.stack([r1, r1 * r1, log_r, log_r * log_r], axis=-1)
    return jnp.concatenate([base, base * advantage[..., None]], axis=-1)


def init(
    rng: jax.Array, hidden: int = 128, temporal: bool = False, zero_init: bool = True, init_scale: float = 1.0
) -> dict:
    """An MLP drift; with ``zero_init`` its output layer is zero (the rule starts as PPO-clip),
    else normal with standard deviation ``init_scale / sqrt(hidden)``."""
    if hidden < 1:
        raise ValueError(f"hidden={hidden} must be >= 1")
    if not init_scale > 0:
        raise ValueError(f"init_scale={init_scale} must be > 0")
    n_in = NUM_FEATURES + (NUM_TEMPORAL_FEATURES if temporal else 0)
    k1, k2 = jax.random.split(rng)
    w2 = jnp.zeros((hidden,)) if zero_init else init_scale * jax.random.normal(k2, (hidden,)) / jnp.sqrt(hidden)
    return {
        "w1": jax.random.normal(k1, (n_in, hidden)) / jnp.sqrt(n_in),
        "b1": jnp.zeros((hidden,)),
        "w2": w2.astype(jnp.float32),
    }


def _context(meta_params: dict, x: ObjectiveInputs, batch_shape) -> jax.Array:
    """The temporal inputs (progress, log N) broadcast to (B, 2), or (B, 0)."""
    n_in = meta_params["w1"].shape[0]
    if n_in == NUM_FEATURES:
        return jnp.zeros((*batch_shape, 0))
    if n_in != NUM_FEATURES + NUM_TEMPORAL_FEATURES:
        raise ValueError(f"LPO meta_params['w1'] has {n_in} inputs, expected {NUM_FEATURES} or {NUM_FEATURES + 2}")
    progress = jnp.asarray(x.progress, jnp.float32)
    log_n = jnp.log(jnp.maximum(jnp.asarray(x.num_updates, jnp.float32), 1.0))
    return jnp.broadcast_to(jnp.stack([progress, log_n]), (*batch_shape, 2))


def raw_output(meta_params: dict, ratio: jax.Array, advantage: jax.Array, context: jax.Array) -> jax.Array:
    """g(r, A): the unconstrained network output, (B,)."""
    inp = jnp.concatenate([features(ratio, advantage), context], axis=-1)
    return jnp.tanh(inp @ meta_params["w1"] + meta_params["b1"]) @ meta_params["w2"]


def unrectified_drift(
    meta_params: dict, ratio: jax.Array, advantage: jax.Array, x: ObjectiveInputs, clip_eps: float = 0.2
) -> jax.Array:
    """u = f_PPO + h, before the relu: C¹ near r = 1 with u(1, A) = ∂u/∂r(1, A) = 0."""
    context = _context(meta_params, x, jnp.shape(ratio))

    def g(r):
        return raw_output(meta_params, r, advantage, context)

    one = jnp.ones_like(ratio)
    g1, dg1 = jax.jvp(g, (one,), (one,))  # g is elementwise in r, so the jvp is ∂g/∂r per sample
    h = g(ratio) - g1 - (ratio - 1.0) * dg1
    return (ppo_drift(ratio, advantage, clip_eps) if clip_eps > 0 else 0.0) + h


def lpo_drift(meta_params: dict, ratio: jax.Array, advantage: jax.Array, x: ObjectiveInputs, clip_eps: float = 0.2):
    """f(r, A) = relu(u) ≥ 0 with f(1, A) = 0 and ∂f/∂r(1, A) = 0 (see the module docstring)."""
    return jax.nn.relu(unrectified_drift(meta_params, ratio, advantage, x, clip_eps))


def to_objective(clip_eps: float = 0.2) -> Objective:
    """−[r·A − f(r, A)], to minimise.

    ``clip_eps`` is the PPO drift the learned part is added to (0: none).
    """
    if clip_eps < 0:
        raise ValueError(f"clip_eps={clip_eps} must be >= 0")

    def loss(meta_params: dict, x: ObjectiveInputs) -> jax.Array:
        return drift_loss(lambda r, a, ctx: lpo_drift(meta_params, r, a, ctx, clip_eps), x)

    return Objective(loss, KIND)
