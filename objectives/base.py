"""The contract between an actor objective and the inner trainer.

An actor objective is a pure function

    objective(meta_params, inputs: ObjectiveInputs) -> per-sample loss (B,)

that the trainer averages over the minibatch and *minimises*. The entropy
bonus and the value loss are added by the trainer (coefficients in its
config), so an objective only states the policy surrogate. Learned objectives
read their parameters from ``meta_params``; hand-designed ones ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class ObjectiveInputs(NamedTuple):
    """Per-sample inputs for a minibatch of B transitions.

    ratio:        (B,) π(a|s) / π_old(a|s), differentiable through π.
    advantage:    (B,) GAE advantage (normalised per minibatch when the
                  trainer's config says so); not differentiated.
    log_prob:     (B,) log π(a|s) under the current parameters.
    old_log_prob: (B,) log π_old(a|s) recorded at rollout time.
    progress:     ()  training progress n / (N - 1) in [0, 1].
    num_updates:  ()  the horizon N (temporally-aware rules read log N).
    """

    ratio: jax.Array
    advantage: jax.Array
    log_prob: jax.Array
    old_log_prob: jax.Array
    progress: jax.Array
    num_updates: jax.Array


ActorObjective = Callable[[Any, ObjectiveInputs], jax.Array]
