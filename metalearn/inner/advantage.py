"""Generalised advantage estimation (Schulman et al. 2016)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    last_value: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets of a time-major rollout.

    Args:
      rewards, values, dones: (T, ...) — ``dones[t]`` says the episode ended
        at step t, so step t+1 starts a new one and is not bootstrapped from.
      last_value: (...) value of the observation after the last step.
    Returns:
      advantages (T, ...), targets = advantages + values (T, ...).
    """
    not_done = 1.0 - dones.astype(values.dtype)

    def step(carry, x):
        adv_next, value_next = carry
        reward, value, nd = x
        delta = reward + gamma * value_next * nd - value
        adv = delta + gamma * gae_lambda * nd * adv_next
        return (adv, value), adv

    _, advantages = jax.lax.scan(
        step, (jnp.zeros_like(last_value), last_value), (rewards, values, not_done), reverse=True, unroll=16
    )
    return advantages, advantages + values
