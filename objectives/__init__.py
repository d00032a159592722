"""Actor objectives: hand-designed (PPO-clip, A2C) and, later, learned ones.

A new objective is one module here plus one line in ``OBJECTIVES``; the
contract is in :mod:`objectives.base`. This package imports nothing from
``metalearn``.
"""

from objectives.a2c import a2c
from objectives.base import ActorObjective, ObjectiveInputs
from objectives.ppo import ppo_clip

# name -> factory(**hyper_params) -> ActorObjective
OBJECTIVES = {
    "ppo_clip": ppo_clip,
    "a2c": a2c,
}

__all__ = ["OBJECTIVES", "ActorObjective", "ObjectiveInputs", "a2c", "ppo_clip"]
