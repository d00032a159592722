"""Discovered Policy Optimisation (Lu et al., NeurIPS 2022): LPO's drift in closed form.

    f(r, A) = relu((r−1)·A − α·tanh((r−1)·A / α))    if A ≥ 0
    f(r, A) = relu(log(r)·A − β·tanh(log(r)·A / β))  if A < 0

with α = 2 and β = 0.6 in the paper. It has no meta-parameters (``init``
returns ``{}``); it is a rule only so that it can be named, evaluated and
compared like the learned ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from objectives.base import Objective, ObjectiveInputs
from objectives.drift import drift_loss

KIND = "drift"


def dpo_drift(ratio: jax.Array, advantage: jax.Array, alpha: float = 2.0, beta: float = 0.6) -> jax.Array:
    """DPO's drift f(r, A) ≥ 0, elementwise."""
    pos = (ratio - 1.0) * advantage
    neg = jnp.log(ratio) * advantage
    f_pos = jax.nn.relu(pos - alpha * jnp.tanh(pos / alpha))
    f_neg = jax.nn.relu(neg - beta * jnp.tanh(neg / beta))
    return jnp.where(advantage >= 0, f_pos, f_neg)


def init(rng: jax.Array) -> dict:
    """No meta-parameters."""
    del rng
    return {}


def to_objective(alpha: float = 2.0, beta: float = 0.6) -> Objective:
    """The DPO surrogate −[r·A − f(r, A)], to minimise."""
    if not (alpha > 0 and beta > 0):
        raise ValueError(f"alpha={alpha} and beta={beta} must be > 0")

    def loss(meta_params, x: ObjectiveInputs) -> jax.Array:
        del meta_params
        return drift_loss(lambda r, a, _: dpo_drift(r, a, alpha, beta), x)

    return Objective(loss, KIND)
