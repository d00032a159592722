"""Actor objectives: hand-designed (PPO-clip, A2C, DPO) and learned (LPO, TA-LPO).

Each objective is a module with ``init(rng, **hyper) -> meta_params`` and
``to_objective(meta_params, **hyper) -> loss(inputs: ObjectiveInputs) ->
per-sample loss (B,)``; a new one is one module here plus one line in
``OBJECTIVES`` (a variant is a line with other default hyper-parameters).
Hand-designed objectives have no meta-parameters (``init`` returns ``{}``).
The contract with the inner trainer is in :mod:`objectives.base`; drift-based
objectives share :mod:`objectives.drift`. This package imports nothing from
``metalearn``.
"""

from types import ModuleType
from typing import Any, NamedTuple

from objectives import a2c as a2c_obj
from objectives import dpo, lpo
from objectives import ppo as ppo_obj
from objectives.a2c import a2c
from objectives.base import ActorObjective, ObjectiveInputs
from objectives.dpo import dpo_drift
from objectives.drift import drift_loss
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
}

__all__ = [
    "OBJECTIVES",
    "ActorObjective",
    "ObjectiveInputs",
    "Variant",
    "a2c",
    "dpo",
    "dpo_drift",
    "drift_loss",
    "lpo",
    "lpo_drift",
    "ppo_clip",
    "ppo_drift",
]
