"""Hand-designed optimizers to compare learned ones against, one name each."""

from __future__ import annotations

from typing import Any

import optax

BASELINES = ("adam", "rmsprop", "sgd", "lion")


def make_baseline(
    name: str, learning_rate: Any, eps: float = 1e-5, eps_root: float = 0.0
) -> optax.GradientTransformation:
    """``adam`` | ``rmsprop`` | ``sgd`` (momentum 0.9) | ``lion``; ``learning_rate`` may be a schedule.

    ``eps_root`` (Adam only) is added inside the square root: > 0 keeps a gradient *through* the
    update finite where a gradient is exactly zero (for meta-gradients).
    """
    if name == "adam":
        return optax.adam(learning_rate, eps=eps, eps_root=eps_root)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, eps=eps)
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=0.9)
    if name == "lion":
        return optax.lion(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(BASELINES)}")
