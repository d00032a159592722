"""``objectives.load(path)``: a learned objective from a rule file, as a plain loss function."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from objectives.base import ObjectiveInputs, TrajectoryInputs, TrajectoryObjective


@dataclasses.dataclass(frozen=True)
class LoadedObjective:
    """A rule file's objective with its meta-parameters bound.

    Call it as ``loss(inputs: ObjectiveInputs) -> (B,)`` per-sample loss to
    minimise (average it and add your own value loss and entropy bonus).
    Trajectory objectives (LPG) first need ``targets(TrajectoryInputs)``
    (leaves (T, E, ...)) for the rollout, passed per sample as
    ``inputs.targets``; ``targets`` is None for the others.
    """

    name: str
    meta_params: Any
    manifest: dict
    _loss: Callable[[Any, ObjectiveInputs], jax.Array]
    _targets: Callable[[Any, TrajectoryInputs], Any] | None = None

    def __call__(self, inputs: ObjectiveInputs) -> jax.Array:
        return self._loss(self.meta_params, inputs)

    @property
    def targets(self) -> Callable[[TrajectoryInputs], Any] | None:
        if self._targets is None:
            return None
        return lambda traj: self._targets(self.meta_params, traj)


def load(path: str | Path) -> LoadedObjective:
    """The objective saved in ``path`` (a rule ``.npz`` from training or ``metalearn.rules.save_rule``).

    Files are arrays plus a JSON manifest (never pickle). A missing, corrupt or
    foreign file, an optimizer's rule file, or meta-parameters whose shapes do
    not fit the named rule fail with a ``ValueError`` that says which.
    """
    # The rule-file format is the engine's (one format for optimizers and objectives);
    # imported here, at call time, so importing this package never pulls in the engine.
    from metalearn.rules import load_rule

    rule, meta_params, manifest = load_rule(path)
    objective = rule.objective
    if objective is None:
        raise ValueError(
            f"{path}: holds the optimizer rule {rule.name!r}, not an objective; load it with metalearn.rules.load_rule"
        )
    if isinstance(objective, TrajectoryObjective):
        return LoadedObjective(rule.name, meta_params, manifest, objective.loss, objective.targets)
    return LoadedObjective(rule.name, meta_params, manifest, objective)
