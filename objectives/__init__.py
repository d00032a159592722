"""Actor objectives: hand-designed (PPO-clip, A2C, DPO) and learned (LPO, TA-LPO, LPG, TA-LPG, DiscoRL),
and distilled closed forms (``symbolic_drift``).

Every objective is a module with one calling convention:

* ``KIND``: what it is, one of :data:`objectives.base.KINDS` ("surrogate",
  "drift", "trajectory" or "agent"); analysis reads it (through ``OBJECTIVES[name].kind``
  or ``Objective.kind``) instead of lists of names;
* ``init(rng, **hyper) -> meta_params`` (``{}`` for hand-designed objectives);
* ``to_objective(**hyper) -> Objective``: the objective with its
  hyper-parameters checked and bound, called ``objective(meta_params,
  ObjectiveInputs) -> per-sample loss (B,)``; a trajectory objective (LPG) also
  has ``objective.rule_targets(meta_params, TrajectoryInputs)``;
* kind "agent" only: ``AGENT``, the name of the agent the rule brings (DiscoRL's),
  which the engine trains instead of PPO/A2C.

``BoundObjective(objective, meta_params)`` is the same objective as a plain loss
``loss(inputs)`` for your own training loop (``metalearn.rules.load_objective``
reads one from a rule file). A new objective is one module here plus one line in
``OBJECTIVES`` (a variant is a line with other default hyper-parameters). The
contract with the inner trainer is in :mod:`objectives.base`; drift-based
objectives share :mod:`objectives.drift`. This package imports nothing from
``metalearn``.
"""

from types import ModuleType
from typing import Any, NamedTuple

from objectives import a2c as a2c_obj
from objectives import disco, dpo, lpg, lpo, symbolic
from objectives import ppo as ppo_obj
from objectives.a2c import a2c
from objectives.base import (
    KINDS,
    BoundObjective,
    Objective,
    ObjectiveInputs,
    TrajectoryInputs,
    check_objective_inputs,
    check_trajectory_inputs,
)
from objectives.dpo import dpo_drift
from objectives.drift import drift_loss
from objectives.lpo import lpo_drift
from objectives.ppo import ppo_clip, ppo_drift


class Variant(NamedTuple):
    module: ModuleType
    defaults: dict[str, Any]

    @property
    def kind(self) -> str:
        """The module's declared ``KIND``."""
        return self.module.KIND

    @property
    def agent(self) -> str | None:
        """The agent the rule brings (the module's ``AGENT``, kind "agent"), else None: PPO/A2C trains it."""
        return getattr(self.module, "AGENT", None)


OBJECTIVES = {
    "ppo_clip": Variant(ppo_obj, {}),
    "a2c": Variant(a2c_obj, {}),
    "dpo": Variant(dpo, {}),
    "lpo": Variant(lpo, {}),
    "ta_lpo": Variant(lpo, {"temporal": True}),
    "lpg": Variant(lpg, {}),
    "ta_lpg": Variant(lpg, {"temporal": True}),
    "disco": Variant(disco, {}),
    "symbolic_drift": Variant(symbolic, {}),
}


def names_of_kind(kind: str) -> list[str]:
    """The registered objectives of one kind, in registry order."""
    return [name for name, v in OBJECTIVES.items() if v.kind == kind]


__all__ = [
    "KINDS",
    "OBJECTIVES",
    "BoundObjective",
    "Objective",
    "ObjectiveInputs",
    "TrajectoryInputs",
    "Variant",
    "a2c",
    "check_objective_inputs",
    "check_trajectory_inputs",
    "disco",
    "dpo",
    "dpo_drift",
    "drift_loss",
    "lpg",
    "lpo",
    "lpo_drift",
    "names_of_kind",
    "ppo_clip",
    "ppo_drift",
    "symbolic",
]
