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
    targets:      per-sample targets from a :class:`TrajectoryObjective`'s
                  ``targets`` (leaves (B, ...)), else None.
    prediction:   (B, k) logits of the agent's prediction head y(s),
                  differentiable, when the agent has one (``aux_head_dim``), else None.
    """

    ratio: jax.Array
    advantage: jax.Array
    log_prob: jax.Array
    old_log_prob: jax.Array
    progress: jax.Array
    num_updates: jax.Array
    targets: Any = None
    prediction: jax.Array | None = None


ActorObjective = Callable[[Any, ObjectiveInputs], jax.Array]


class TrajectoryInputs(NamedTuple):
    """One rollout of T steps in E envs, as recorded (nothing here is differentiated).

    reward:      (T, E)
    done:        (T, E) bool, the step ended an episode (terminated or truncated).
    pi:          (T, E) π(a_t|s_t) of the action taken.
    y:           (T, E, k) the prediction y(s_t) (softmax of the agent's head).
    y_next:      (T, E, k) y(s_{t+1}); after a terminal step this is the next
                 episode's first state, so rules must mask it with ``done``.
    progress:    () training progress n / (N - 1).
    num_updates: () the horizon N.
    """

    reward: jax.Array
    done: jax.Array
    pi: jax.Array
    y: jax.Array
    y_next: jax.Array
    progress: jax.Array
    num_updates: jax.Array


class TrajectoryObjective(NamedTuple):
    """An objective that reads whole trajectories first (LPG-style).

    After each rollout the trainer calls ``targets(meta_params, TrajectoryInputs)``
    once -> a pytree with leaves (T, E, ...); those are shuffled into minibatches
    with the transitions and reach ``loss(meta_params, ObjectiveInputs)`` as
    ``inputs.targets`` (leaves (B, ...)).
    """

    targets: Callable[[Any, TrajectoryInputs], Any]
    loss: ActorObjective
