"""The two action distributions PPO needs, as tiny pure classes.

Shapes: a batch of B states gives ``logits`` (B, A) or ``mean``/``log_std``
(B, A) / (A,); ``sample`` and ``log_prob`` work on the leading batch shape.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


class Categorical:
    def __init__(self, logits: jax.Array):
        self.logits = logits
        self._log_p = jax.nn.log_softmax(logits, axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1)

    def log_prob(self, action: jax.Array) -> jax.Array:
        action = action.astype(jnp.int32)
        return jnp.take_along_axis(self._log_p, action[..., None], axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        return -jnp.sum(jnp.exp(self._log_p) * self._log_p, axis=-1)


class DiagGaussian:
    def __init__(self, mean: jax.Array, log_std: jax.Array):
        self.mean = mean
        self.log_std = jnp.broadcast_to(log_std, mean.shape)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)

    def mode(self) -> jax.Array:
        return self.mean

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(self.log_std + 0.5 * (1.0 + math.log(2 * math.pi)), axis=-1)
