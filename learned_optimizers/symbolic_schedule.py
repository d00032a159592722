"""Adam with a learning-rate schedule written as a closed-form expression of training progress.

What ``metalearn distill`` writes for a learned LR schedule (``lr_schedule``)
``--into symbolic``: the step size at progress p = n/(N−1) (clipped to [0, 1])
is

    lr(p) = exp(e(p))

for an expression ``e`` in the variable ``p``, for example ``log(0.01) - 2 * p``
(an exponential decay from 1e-2). The exponential keeps every step size
positive whatever the expression, as the knots of ``lr_schedule`` (log step
sizes) do. With a constant expression it is exactly Adam at that step size.

meta_params = {"c": (k,) float32}, the expression's numbers in reading order
(``init`` reads them from the text), so ES can tune them further while the
form stays fixed. The grammar and its evaluator are the drift expressions'
(``objectives.expression``): one safe parser for every closed-form rule, no
``eval`` — a sibling leaf package, still nothing from ``metalearn``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from learned_optimizers.lr_schedule import scheduled_adam
from objectives.expression import Node, constants, evaluate
from objectives.expression import parse as parse_expression

VARIABLES = ("p",)


def parse(text: str) -> Node:
    """The expression's tree; only ``p`` and ``objectives.expression.FUNCTIONS`` are allowed."""
    return parse_expression(text, VARIABLES)


def init(rng: jax.Array, expression: str = "log(0.00025)") -> dict:
    """The constants written in ``expression`` (``rng`` is unused)."""
    del rng
    return {"c": constants(parse(expression))}


def learning_rate(tree: Node, c: jax.Array, progress: jax.Array) -> jax.Array:
    """exp(e(p)) at progress (any shape; clipped to [0, 1])."""
    p = jnp.clip(jnp.asarray(progress, jnp.float32), 0.0, 1.0)
    return jnp.exp(jnp.broadcast_to(evaluate(tree, c, {"p": p}), jnp.shape(p)))


def to_optax(
    meta_params: dict,
    expression: str = "log(0.00025)",
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-5,
    eps_root: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """Adam at lr(p) = exp(e(p)) (``learned_optimizers.lr_schedule.scheduled_adam``)."""
    tree = parse(expression)
    return scheduled_adam(lambda progress: learning_rate(tree, meta_params["c"], progress), b1, b2, eps, eps_root)
