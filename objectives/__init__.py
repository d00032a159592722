"""Actor objectives: hand-designed (PPO-clip, A2C, DPO) and learned (LPO, TA-LPO).

Each objective is a module with ``init(rng, **hyper) -> meta_params`` and
``to_objective(meta_params, **hyper) -> loss(inputs: ObjectiveInputs) ->
per-sample loss (B,)``; an objective that reads whole trajectories (LPG) also
has ``to_targets(meta_params, **hyper) -> targets(TrajectoryInputs)`` and is
used as a :class:`TrajectoryObjective`. A new one is one module here plus one line in
``OBJECTIVES`` (a variant is a line with other default hyper-parameters).
Hand-designed objectives have no meta-parameters (``init`` returns ``{}``).
The contract with the inner trainer is in :mod:`objectives.base`; drift-based
objectives share :mod:`objectives.drift`. This package imports nothing from
``metalearn`` at import time; :func:`load` reads the engine's rule-file format
when called.
"""

from types import ModuleType
from typing import Any, NamedTuple

from objectives import a2c as a2c_obj
from objectives import dpo, lpg, lpo
from objectives import ppo as ppo_obj
from objectives.a2c import a2c
from objectives.base import ActorObjective, ObjectiveInputs, TrajectoryInputs, TrajectoryObjective
from objectives.dpo import dpo_drift
from objectives.drift import drift_loss
from objectives.io import LoadedObjective, load
from objectives.lpo import lpo_drift
from objectives.ppo import ppo_clip, ppo_drift


class Variant(NamedTuple):
    module: ModuleType
    defaults: dict[str, Any]


OBJECTIVES = {
    "ppo_clip": Variant(ppo_obj, {}),
    "a2c": Variant(a2c_obj, {}),
    "dpo": Variant(dpo, {}),
    "lpo": Variant(lpo, {}),
    "ta_lpo": Variant(lpo, {"temporal": True}),
    "lpg": Variant(lpg, {}),
    "ta_lpg": Variant(lpg, {"temporal": True}),
}

__all__ = [
    "OBJECTIVES",
    "ActorObjective",
    "LoadedObjective",
    "ObjectiveInputs",
    "TrajectoryInputs",
    "TrajectoryObjective",
    "Variant",
    "a2c",
    "dpo",
    "dpo_drift",
    "drift_loss",
    "load",
    "lpg",
    "lpo",
    "lpo_drift",
    "ppo_clip",
    "ppo_drift",
]
