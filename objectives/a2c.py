"""The advantage actor-critic policy gradient (Mnih et al. 2016)."""

from __future__ import annotations

import jax

from objectives.base import Objective, ObjectiveInputs

KIND = "surrogate"


def a2c() -> Objective:
    """−log π(a|s)·A per sample: the vanilla policy-gradient surrogate."""

    def loss(meta_params, x: ObjectiveInputs):
        del meta_params
        return -x.log_prob * jax.lax.stop_gradient(x.advantage)

    return Objective(loss, KIND)


# The rule interface (see objectives/__init__.py): no meta-parameters.
def init(rng: jax.Array) -> dict:
    del rng
    return {}


def to_objective() -> Objective:
    """The policy-gradient surrogate."""
    return a2c()
