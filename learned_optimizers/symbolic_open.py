"""OPEN's inputs with its network replaced by a closed-form expression.

What ``metalearn distill`` writes for OPEN ``--into symbolic``. Per parameter
element the step is

    u = step_mult · e(features),    then u ← u − mean(u) over all parameters, p ← p − u

with OPEN's 19 features (``learned_optimizers.open``, computed by the same code)
as the variables, named:

    w                     the parameter
    sm1 … sm6, lm1 … lm6  sign and log-magnitude of the momenta at β = 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999
    sg, lg                sign and log-magnitude of the gradient
                          (these 15 normalised per tensor by their second moment, as OPEN does)
    tprop, lprop, bprop   training, layer and batch proportion
    dorm                  dormancy of the unit the parameter feeds

It is deterministic: OPEN's learned noise (o2) is not part of the formula.
``e`` is the teacher's deterministic step d = o0·exp(0.001·o1). The state is
OPEN's without the GRU (the momenta carry the history).

meta_params = {"c": (k,) float32}, the expression's numbers in reading order.
The grammar and its evaluator are ``objectives.expression``'s (no ``eval``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from learned_optimizers import open as open_opt
from objectives.expression import Node, constants, evaluate
from objectives.expression import parse as parse_expression

VARIABLES = (
    "w",
    *(f"sm{i}" for i in range(1, 7)),
    *(f"lm{i}" for i in range(1, 7)),
    "sg",
    "lg",
    "tprop",
    "lprop",
    "bprop",
    "dorm",
)  # OPEN's 19 features in its published order
assert len(VARIABLES) == open_opt.NUM_FEATURES


def parse(text: str) -> Node:
    """The expression's tree; only ``VARIABLES`` and ``objectives.expression.FUNCTIONS`` are allowed."""
    return parse_expression(text, VARIABLES)


def init(rng: jax.Array, expression: str = "0") -> dict:
    """The constants written in ``expression`` (``rng`` is unused)."""
    del rng
    return {"c": constants(parse(expression))}


def step(tree: Node, c: jax.Array, features: jax.Array) -> jax.Array:
    """e(features) for features (19, ...) in OPEN's order: (...)."""
    env = dict(zip(VARIABLES, features, strict=True))
    return jnp.broadcast_to(evaluate(tree, c, env), features.shape[1:])


def to_optax(
    meta_params: dict, expression: str = "0", total_steps: int | None = None
) -> optax.GradientTransformationExtraArgs:
    """The rule as an optax transformation; extra arguments as OPEN's (``learned_optimizers.open.to_optax``:
    ``training_progress``, ``batch_progress``, ``layer_props``, ``activations``; ``actor_mask`` and ``key``
    are accepted and unused)."""
    tree = parse(expression)

    def update_fn(
        grads,
        state,
        params=None,
        *,
        training_progress=None,
        batch_progress=None,
        layer_props=None,
        activations=None,
        **extra,
    ):
        del extra
        if training_progress is None:
            training_progress = state.count / total_steps if total_steps else 0.0
        inp = open_opt.read_inputs(
            grads, state.momentum, params, training_progress, batch_progress, layer_props, activations
        )
        u = open_opt.STEP_MULT * step(tree, meta_params["c"], open_opt.all_features(inp))
        return open_opt.apply_step(u, inp), open_opt.OPENState(inp.momentum, None, state.count + 1)

    return optax.GradientTransformationExtraArgs(open_opt.initial_state, update_fn)
