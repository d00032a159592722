"""Drift-based actor objectives (Mirror Learning; Kuba et al. 2022, Lu et al. 2022).

A drift objective maximises r·A − f(r, A) per sample, i.e. its loss is

    loss = −[ r·A − f(r, A) ]

where r = π/π_old and the *drift* f satisfies f ≥ 0, f(1, A) = 0 and
∂f/∂r (1, A) = 0 (so the objective's gradient at r = 1 is the plain policy
gradient). A drift here is ``f(ratio, advantage, inputs) -> (B,)``; ``inputs``
(an :class:`~objectives.base.ObjectiveInputs`) gives context such as training
progress to temporally-aware drifts, and its own ratio/advantage fields are
not read by the drift.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from objectives.base import ObjectiveInputs

Drift = Callable[[jax.Array, jax.Array, ObjectiveInputs], jax.Array]


def drift_loss(f: Drift, inputs: ObjectiveInputs) -> jax.Array:
    """Per-sample loss −[r·A − f(r, A)] for the drift ``f``."""
    r, adv = inputs.ratio, inputs.advantage
    return -(r * adv - f(r, adv, inputs))
