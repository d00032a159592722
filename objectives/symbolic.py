"""A drift objective written as a closed-form expression (what ``metalearn distill --into symbolic`` writes).

The expression e reads the probability ratio ``r``, the advantage ``A`` and, for
temporally-aware rules, the training progress ``p`` = n/(N−1) and ``logN`` = log N.
The drift is anchored at r = 1 as LPO's network is (``objectives.lpo``), with
one-sided derivatives so that kinks (max, min, abs) keep the invariants too:

    h(r, A) = e(r, A) − e(1, A) − |r − 1| · D_s e(1, A),    s = sign(r − 1)
    f(r, A) = relu(h(r, A))

where D_s is the one-sided derivative along r in direction s
(:func:`objectives.expression.directional`). For *any* expression finite at
r = 1 with one-sided derivatives there (every expression of the grammar away
from a pole or a log/sqrt of 0 at r = 1):

* f ≥ 0 (a relu) and f(1, A) = 0 (h(1) = 0);
* ∂f/∂r(1±, A) = 0: h(1 + s·t) = e(1 + s·t) − e(1) − t·D_s e(1) = o(t) as t ↓ 0
  on each side, and 0 ≤ f ≤ |h|.

meta_params = {"c": (k,) float32}, the expression's numbers in reading order
(``init`` reads them from the text), so the constants can be tuned further —
by ES, say — while the expression's form stays fixed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from objectives.base import Objective, ObjectiveInputs
from objectives.drift import drift_loss
from objectives.expression import Node, constants, directional, evaluate
from objectives.expression import parse as parse_expression

KIND = "drift"
VARIABLES = ("r", "A", "p", "logN")


def parse(text: str) -> Node:
    """The expression's tree; only ``VARIABLES`` and ``objectives.expression.FUNCTIONS`` are allowed."""
    return parse_expression(text, VARIABLES)


def init(rng: jax.Array, expression: str = "0") -> dict:
    """The constants written in ``expression`` (``rng`` is unused)."""
    del rng
    return {"c": constants(parse(expression))}


def symbolic_drift(tree: Node, c: jax.Array, ratio: jax.Array, advantage: jax.Array, x: ObjectiveInputs):
    """f(r, A) = relu(h) ≥ 0 with f(1, A) = 0 and zero one-sided slopes at r = 1 (module docstring)."""
    progress = jnp.broadcast_to(jnp.asarray(x.progress, jnp.float32), jnp.shape(ratio))
    log_n = jnp.broadcast_to(jnp.log(jnp.maximum(jnp.asarray(x.num_updates, jnp.float32), 1.0)), jnp.shape(ratio))
    env = {"r": ratio, "A": advantage, "p": progress, "logN": log_n}
    at_one = {**env, "r": jnp.ones_like(ratio)}
    e = evaluate(tree, c, env)
    e1, d_up = directional(tree, c, at_one, "r", 1.0)
    _, d_down = directional(tree, c, at_one, "r", -1.0)
    # (r − 1)·slope with the slope of r's own side: |r − 1|·D_s e(1), and ∂h/∂r(1) = 0 under autodiff too.
    slope = jnp.where(ratio >= 1.0, d_up, -d_down)
    h = jnp.where(ratio == 1.0, 0.0, e - e1 - (ratio - 1.0) * slope)  # exactly 0 at r = 1, whatever rounding
    return jax.nn.relu(jnp.broadcast_to(h, jnp.shape(ratio)))


def to_objective(expression: str = "0") -> Objective:
    """−[r·A − f(r, A)] for the drift written as ``expression``, to minimise."""
    tree = parse(expression)

    def loss(meta_params: dict, x: ObjectiveInputs) -> jax.Array:
        c = meta_params["c"]
        return drift_loss(lambda r, a, ctx: symbolic_drift(tree, c, r, a, ctx), x)

    return Objective(loss, KIND)
