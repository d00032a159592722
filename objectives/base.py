"""The contract between an actor objective and the inner trainer.

An actor objective is an :class:`Objective`, called

    objective(meta_params, inputs: ObjectiveInputs) -> per-sample loss (B,)

that the trainer averages over the minibatch and *minimises*. The entropy
bonus and the value loss are added by the trainer (coefficients in its
config), so an objective only states the policy surrogate. Learned objectives
read their parameters from ``meta_params``; hand-designed ones ignore it.
An objective of kind ``"trajectory"`` (LPG) also has
``targets(meta_params, TrajectoryInputs)``, run once per rollout; its outputs
reach the loss per sample as ``inputs.rule_targets``.

Inputs are checked with chex when a rule is called (trace time under ``jit``:
no cost per step), so a wrong shape fails here with the field's name rather
than deep inside XLA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax

# What an objective is, declared by each objective module as ``KIND`` (analysis reads it):
#   "surrogate":  a per-sample policy surrogate (A2C's policy gradient);
#   "drift":      loss = −[r·A − f(r, A)] with a drift f (PPO-clip, DPO, LPO), see objectives.drift;
#   "trajectory": reads whole rollouts first and emits per-sample targets (LPG);
#   "agent":      brings its own agent and learning step (DiscoRL: extra heads, a target
#                 network, replay, the rule's own state); ``Objective.agent`` names that agent
#                 (the engine's ``metalearn.inner.AGENTS``), which trains it instead of PPO/A2C.
KINDS = ("surrogate", "drift", "trajectory", "agent")


class ObjectiveInputs(NamedTuple):
    """Per-sample inputs for a minibatch of B transitions.

    ratio:        (B,) π(a|s) / π_old(a|s), differentiable through π.
    advantage:    (B,) GAE advantage (normalised per minibatch when the
                  trainer's config says so); not differentiated.
    log_prob:     (B,) log π(a|s) under the current parameters.
    old_log_prob: (B,) log π_old(a|s) recorded at rollout time.
    progress:     ()  training progress n / (N - 1) in [0, 1].
    num_updates:  ()  the horizon N (temporally-aware rules read log N).
    rule_targets: per-sample outputs of a trajectory objective's ``targets``
                  (leaves (B, ...)), else None.
    prediction:   (B, k) logits of the agent's prediction head y(s),
                  differentiable, when the agent has one (``aux_head_dim``), else None.
    """

    ratio: jax.Array
    advantage: jax.Array
    log_prob: jax.Array
    old_log_prob: jax.Array
    progress: jax.Array
    num_updates: jax.Array
    rule_targets: Any = None
    prediction: jax.Array | None = None


class TrajectoryInputs(NamedTuple):
    """One rollout of T steps in E envs, as recorded (nothing here is differentiated).

    reward:          (T, E)
    done:            (T, E) bool, the step ended an episode (terminated or truncated).
    pi:              (T, E) π(a_t|s_t) of the action taken.
    prediction:      (T, E, k) y(s_t), the softmax of the agent's prediction head.
    next_prediction: (T, E, k) y(s_{t+1}); after a terminal step this is the next
                     episode's first state, so rules must mask it with ``done``.
    progress:        () training progress n / (N - 1).
    num_updates:     () the horizon N.
    """

    reward: jax.Array
    done: jax.Array
    pi: jax.Array
    prediction: jax.Array
    next_prediction: jax.Array
    progress: jax.Array
    num_updates: jax.Array


def check_objective_inputs(x: ObjectiveInputs) -> None:
    """Shapes and ranks of :class:`ObjectiveInputs` (see its docstring); raises AssertionError."""
    chex.assert_rank(x.ratio, 1)
    chex.assert_equal_shape([x.ratio, x.advantage, x.log_prob, x.old_log_prob])
    chex.assert_rank([x.progress, x.num_updates], 0)
    (batch,) = x.ratio.shape
    if x.prediction is not None:
        chex.assert_rank(x.prediction, 2)
        chex.assert_shape(x.prediction, (batch, None))
    if x.rule_targets is not None:
        chex.assert_tree_shape_prefix(x.rule_targets, (batch,))


def check_trajectory_inputs(traj: TrajectoryInputs) -> None:
    """Shapes, ranks and ``done``'s dtype of :class:`TrajectoryInputs`; raises AssertionError."""
    chex.assert_rank(traj.reward, 2)
    chex.assert_equal_shape([traj.reward, traj.done, traj.pi])
    chex.assert_type(traj.done, bool)
    chex.assert_rank(traj.prediction, 3)
    chex.assert_equal_shape([traj.prediction, traj.next_prediction])
    chex.assert_equal_shape_prefix([traj.reward, traj.prediction], 2)
    chex.assert_rank([traj.progress, traj.num_updates], 0)


Loss = Callable[[Any, ObjectiveInputs], jax.Array]
Targets = Callable[[Any, TrajectoryInputs], Any]


@dataclasses.dataclass(frozen=True)
class Objective:
    """An actor objective with its hyper-parameters bound: what every objective module's
    ``to_objective(**hyper)`` returns, what a rule carries and what the trainer runs.

    ``objective(meta_params, inputs)`` -> (B,) per-sample loss to minimise (every kind but ``"agent"``).
    ``targets(meta_params, TrajectoryInputs)`` -> a pytree with leaves (T, E, ...),
    for kind ``"trajectory"`` only (else None); call it through :meth:`rule_targets`.

    A rule of kind ``"agent"`` has no per-sample loss: it brings its own agent, ``agent`` (a name in
    the engine's agent registry), which reads the rule's own hyper-parameters ``hyper`` and its own
    settings ``agent_config`` (None: that agent's defaults; the engine's rule registry fills it from
    the rule's keywords), kept apart as the reference keeps ``hyper_params`` and ``net_settings``.
    """

    loss: Loss | None = None
    kind: str = "surrogate"
    targets: Targets | None = None
    agent: str | None = None
    hyper: Any = None
    agent_config: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Objective.kind={self.kind!r} is invalid; allowed: {' | '.join(KINDS)}")
        if (self.kind == "trajectory") != (self.targets is not None):
            raise ValueError("an Objective has targets exactly when its kind is 'trajectory'")
        if (self.kind == "agent") != (self.agent is not None):
            raise ValueError("an Objective names the agent it brings exactly when its kind is 'agent'")
        if (self.kind == "agent") != (self.loss is None):
            raise ValueError("an Objective has a per-sample loss exactly when its kind is not 'agent'")

    def __call__(self, meta_params: Any, inputs: ObjectiveInputs) -> jax.Array:
        if self.loss is None:
            raise ValueError(
                f"this rule brings its own agent ({self.agent!r}) and has no per-sample loss for a PPO/A2C agent; "
                "train it with metalearn.inner.make_trainer(env, config, objective=rule.objective)"
            )
        check_objective_inputs(inputs)
        return self.loss(meta_params, inputs)

    def rule_targets(self, meta_params: Any, traj: TrajectoryInputs) -> Any:
        """The trajectory rule's per-step outputs for one rollout (leaves (T, E, ...))."""
        if self.targets is None:
            raise ValueError(f"a {self.kind!r} objective has no trajectory targets")
        check_trajectory_inputs(traj)
        return self.targets(meta_params, traj)


@dataclasses.dataclass(frozen=True)
class BoundObjective:
    """An objective with its meta-parameters bound: a plain loss for your own training loop.

    ``loss(inputs: ObjectiveInputs) -> (B,)`` per-sample loss to minimise (average
    it and add your own value loss and entropy bonus). Trajectory objectives (LPG)
    first need ``loss.targets(TrajectoryInputs)`` (leaves (T, E, ...)) for the
    rollout, passed per sample as ``inputs.rule_targets``; ``targets`` is None
    for the others. ``name`` and ``manifest`` say where it came from (a rule file).
    """

    objective: Objective
    meta_params: Any
    name: str = ""
    manifest: dict = dataclasses.field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.objective.kind

    def __call__(self, inputs: ObjectiveInputs) -> jax.Array:
        return self.objective(self.meta_params, inputs)

    @property
    def targets(self) -> Callable[[TrajectoryInputs], Any] | None:
        if self.objective.targets is None:
            return None
        return lambda traj: self.objective.rule_targets(self.meta_params, traj)
