"""Probing an optimizer with synthetic inputs: one place that builds the tree and the extra arguments.

A probe feeds an optax transformation a history of gradients for a *probe
tree* shaped like the inner trainer's parameters,

    {"actor": {"probe": x}, "critic": {"probe": x}}     x: any shape S,

with the same values on an actor leaf (where OPEN may add learned noise) and
a critic leaf (never noisy), and returns the update of the last step. The
parameters are held fixed while the history is fed, so the update depends
only on the gradients, the extra arguments and the optimizer's own state.
The extra arguments (``learned_optimizers.base``) are those of a network
whose units are all equally active (dormancy 1), at a chosen training
progress, batch progress and layer proportion.

Any ``optax.GradientTransformation`` works; plain ones ignore the extra
arguments (they are wrapped with ``optax.with_extra_args_support``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

NETWORKS = ("actor", "critic")


def probe_tree(x: jax.Array) -> dict:
    """``{"actor": {"probe": x}, "critic": {"probe": x}}``."""
    return {net: {"probe": x} for net in NETWORKS}


def probe_extra_args(
    params: dict,
    training_progress: jax.Array | float = 0.0,
    batch_progress: jax.Array | float = 0.0,
    layer_prop: jax.Array | float = 0.0,
    noise: bool | jax.Array = True,
    key: jax.Array | None = None,
) -> dict[str, Any]:
    """The trainer's extra arguments for a probe tree.

    ``noise`` sets ``actor_mask`` to 1 on the actor leaf (learned noise on, as in
    training) or to 0 everywhere (off); it may be a traced 0./1. Activations are
    all ones, so every unit's dormancy feature is 1.
    """
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    mask = {net: f32(noise) if net == "actor" else f32(0.0) for net in params}
    return {
        "training_progress": f32(training_progress),
        "batch_progress": f32(batch_progress),
        "layer_props": jax.tree.map(lambda _: f32(layer_prop), params),
        "activations": jax.tree.map(lambda p: jnp.ones(jnp.shape(p)[-1:] or (1,), jnp.float32), params),
        "actor_mask": {net: jax.tree.map(lambda _, m=mask[net]: m, params[net]) for net in params},
        "key": jax.random.PRNGKey(0) if key is None else key,
    }


def as_extra_args(tx: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``tx`` in the extra-args form (plain transformations ignore the extra arguments)."""
    return optax.with_extra_args_support(tx)


def probe_fn(tx: optax.GradientTransformation) -> Callable[..., dict]:
    """A jitted ``f(params, grads (T, *S), progress (T,), key, noise=0.) -> {"actor": S, "critic": S}``.

    Feeds the T gradients in order (step t at training progress ``progress[t]``,
    optimizer key ``fold_in(key, t)``) from a fresh optimizer state, and
    returns the update of the last step. ``params`` broadcasts to S and is held
    fixed; ``noise`` (1. or 0.) is the actor leaf's ``actor_mask``. vmap it over
    any argument to sweep. ``batch_progress`` and ``layer_prop`` default to 0.
    """
    tx = as_extra_args(tx)

    def run(params, grads, progress, key, noise=0.0, batch_progress=0.0, layer_prop=0.0):
        tree = probe_tree(jnp.broadcast_to(jnp.asarray(params, jnp.float32), grads.shape[1:]))
        state = tx.init(tree)

        def step(state, xs):
            g, p, t = xs
            extra = probe_extra_args(tree, p, batch_progress, layer_prop, noise, jax.random.fold_in(key, t))
            updates, state = tx.update(probe_tree(g), state, tree, **extra)
            return state, updates

        steps = jnp.arange(grads.shape[0])
        _, updates = jax.lax.scan(step, state, (grads, jnp.asarray(progress, jnp.float32), steps))
        return jax.tree.map(lambda u: u[-1], {net: updates[net]["probe"] for net in NETWORKS})

    return jax.jit(run)


def probe_updates(
    tx: optax.GradientTransformation,
    grads: jax.Array,
    params: jax.Array | float = 0.0,
    training_progress: jax.Array | float = 0.0,
    noise: bool = False,
    key: jax.Array | None = None,
    batch_progress: float = 0.0,
    layer_prop: float = 0.0,
) -> dict[str, jax.Array]:
    """The last update after feeding ``grads`` (T, *S); ``{"actor": S, "critic": S}``.

    ``params`` broadcasts to S (held fixed); ``training_progress`` is a scalar or
    (T,) per step. With ``noise`` OPEN's learned noise is on for the actor leaf.
    """
    grads = jnp.asarray(grads, jnp.float32)
    progress = jnp.broadcast_to(jnp.asarray(training_progress, jnp.float32), grads.shape[:1])
    key = jax.random.PRNGKey(0) if key is None else key
    return probe_fn(tx)(params, grads, progress, key, float(noise), batch_progress, layer_prop)
