"""The advantage actor-critic policy gradient (Mnih et al. 2016)."""

from __future__ import annotations

import jax

from objectives.base import ActorObjective, ObjectiveInputs


def a2c() -> ActorObjective:
    """−log π(a|s)·A per sample: the vanilla policy-gradient surrogate."""

    def objective(meta_params, x: ObjectiveInputs):
        del meta_params
        return -x.log_prob * jax.lax.stop_gradient(x.advantage)

    return objective


# The rule interface (see objectives/__init__.py): no meta-parameters.
def init(rng: jax.Array) -> dict:
    del rng
    return {}


def to_objective(meta_params: dict):
    """``loss(inputs) -> (B,)``: the policy-gradient surrogate."""
    objective = a2c()
    return lambda x: objective(meta_params, x)
