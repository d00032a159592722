"""Adam with a learned learning-rate schedule over training progress.

The smallest useful learned optimizer: its meta-parameters are the log
learning rate at K evenly spaced knots of training progress, and the step
size at progress p is exp of the piecewise-linear interpolation between
knots. With all knots equal it is exactly Adam at that learning rate.

meta_params = {"log_lr": (K,) float32}
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def init(rng: jax.Array, knots: int = 8, init_lr: float = 2.5e-4) -> dict:
    """Constant schedule at ``init_lr``. ``rng`` is unused (the start is deterministic)."""
    del rng
    if knots < 1:
        raise ValueError(f"knots={knots} must be >= 1")
    if not init_lr > 0:
        raise ValueError(f"init_lr={init_lr} must be > 0")
    return {"log_lr": jnp.full((knots,), math.log(init_lr), jnp.float32)}


def learning_rate(meta_params: dict, progress: jax.Array) -> jax.Array:
    """Step size at training progress in [0, 1] (clipped)."""
    log_lr = meta_params["log_lr"]
    knots = jnp.linspace(0.0, 1.0, log_lr.shape[-1]) if log_lr.shape[-1] > 1 else jnp.zeros(1)
    return jnp.exp(jnp.interp(jnp.clip(progress, 0.0, 1.0), knots, log_lr))


def to_optax(
    meta_params: dict, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-5, eps_root: float = 0.0
) -> optax.GradientTransformationExtraArgs:
    """The rule as an optax transformation (:func:`scheduled_adam` with this schedule)."""
    return scheduled_adam(lambda progress: learning_rate(meta_params, progress), b1, b2, eps, eps_root)


def scheduled_adam(
    lr_at: Callable[[jax.Array], jax.Array],
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-5,
    eps_root: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """Adam whose step size is ``lr_at(progress)`` (a () float32 of a () float32).

    Reads the extra argument ``training_progress`` (n / (N − 1)); a loop that
    cannot supply it gets the schedule at progress 0. ``eps_root`` > 0 (e.g.
    1e-8) keeps a meta-gradient through Adam finite where a gradient is
    exactly zero.
    """
    adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root)

    def update(updates, state, params=None, *, training_progress=0.0, **extra):
        del extra
        updates, state = adam.update(updates, state, params)
        lr = lr_at(jnp.asarray(training_progress, jnp.float32))
        return jax.tree.map(lambda u: -lr * u, updates), state

    return optax.GradientTransformationExtraArgs(adam.init, update)
