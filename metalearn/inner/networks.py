"""Separate actor and critic MLPs (as in the OPEN paper), exposing activations.

Each network returns, beside its output, an *activity* pytree with the same
structure as its params: for every parameter leaf, the mean over the batch of
|post-activation| of the units that parameter feeds, shaped to broadcast
against the leaf (a kernel (in, out) gets (out,), a bias (out,) gets (out,)).
Output layers report |logits| / |value|; a continuous actor's ``log_std``
reports mean(exp(log_std)) as shape (1,). A learned optimizer computes neuron
dormancy from it (OPEN feature 9); when no rule reads it, XLA drops it.

Parameter names are ``Dense_0 … Dense_L`` (L hidden layers, then the output
layer), then ``log_std`` (continuous) and ``aux_head`` (extra head, if any).
An actor whose prediction head has its own torso (``separate_prediction``)
also has ``aux_Dense_0 … aux_Dense_{L-1}``: every prediction parameter's
name starts with :data:`PREDICTION_PREFIX`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.initializers import constant, orthogonal

from metalearn.inner.distributions import Categorical, DiagGaussian

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}
PREDICTION_PREFIX = "aux_"  # the prediction head's parameters (and its own torso's, when separate)


def _unit_activity(x: jax.Array) -> jax.Array:
    """Mean |x| over every axis but the last: (..., units) -> (units,)."""
    return jnp.mean(jnp.abs(x).reshape(-1, x.shape[-1]), axis=0)


def _dense_activity(x: jax.Array) -> dict[str, jax.Array]:
    a = _unit_activity(x)
    return {"kernel": a, "bias": a}


def _torso(x: jax.Array, hidden: int, layers: int, activation: str, prefix: str = "") -> tuple[jax.Array, dict]:
    act = _ACTIVATIONS[activation]
    acts = {}
    for i in range(layers):
        name = f"{prefix}Dense_{i}"
        x = act(nn.Dense(hidden, kernel_init=orthogonal(math.sqrt(2)), bias_init=constant(0.0), name=name)(x))
        acts[name] = _dense_activity(x)
    return x, acts


class Actor(nn.Module):
    """obs (..., obs_dim) -> (distribution, prediction, activity).

    ``prediction`` is the prediction head's logits (..., aux_head_dim), or None:
    LPG-style agents use it as their prediction vector y(s). The head's
    parameters keep the name ``aux_head`` (as the config field ``aux_head_dim``):
    flax derives their initial values from that name. With ``separate_prediction``
    the head reads its own torso (``aux_Dense_i``, the policy's shape) instead of
    the policy's, so a loss on the prediction moves none of the policy's
    parameters (the GROOVE reference's separate y network).
    """

    action_dim: int
    discrete: bool
    hidden_size: int = 64
    num_hidden_layers: int = 2
    activation: str = "tanh"
    aux_head_dim: int = 0
    separate_prediction: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array):
        h, acts = _torso(obs, self.hidden_size, self.num_hidden_layers, self.activation)
        out_name = f"Dense_{self.num_hidden_layers}"
        out = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0), name=out_name)(h)
        acts[out_name] = _dense_activity(out)
        if self.discrete:
            dist = Categorical(out)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            acts["log_std"] = jnp.mean(jnp.exp(log_std))[None]
            dist = DiagGaussian(out, log_std)
        prediction = None
        if self.aux_head_dim:
            if self.separate_prediction:
                prefix = PREDICTION_PREFIX
                h, y_acts = _torso(obs, self.hidden_size, self.num_hidden_layers, self.activation, prefix)
                acts.update(y_acts)
            head = nn.Dense(self.aux_head_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0), name="aux_head")
            prediction = head(h)
            acts["aux_head"] = _dense_activity(prediction)
        return dist, prediction, {"params": acts}


class Critic(nn.Module):
    """obs (..., obs_dim) -> (value (...,), activity)."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array):
        h, acts = _torso(obs, self.hidden_size, self.num_hidden_layers, self.activation)
        out_name = f"Dense_{self.num_hidden_layers}"
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0), name=out_name)(h)
        acts[out_name] = _dense_activity(value)
        return value[..., 0], {"params": acts}


def layer_proportions(net_params: Any) -> Any:
    """Per-leaf layer proportion i / (L - 1) for one network's flax params.

    Layers are ``Dense_i`` in index order, then ``log_std`` as the last layer
    (as OPEN counts a continuous actor). ``aux_head`` shares the output
    layer's proportion, and a separate prediction torso's ``aux_Dense_i`` that
    of ``Dense_i``. Kernel and bias of a layer share it. Returns float32
    scalars in a pytree like ``net_params``.
    """
    layers = net_params["params"]
    dense = sorted(int(m.group(1)) for k in layers if (m := re.fullmatch(r"Dense_(\d+)", k)))
    order = [f"Dense_{i}" for i in dense] + (["log_std"] if "log_std" in layers else [])
    denom = max(len(order) - 1, 1)
    prop = {name: i / denom for i, name in enumerate(order)}
    if "aux_head" in layers:
        prop["aux_head"] = prop[f"Dense_{dense[-1]}"]
    for name in layers:
        if re.fullmatch(rf"{PREDICTION_PREFIX}Dense_\d+", name):
            prop[name] = prop[name.removeprefix(PREDICTION_PREFIX)]
    return {
        "params": {
            name: jax.tree.map(lambda _, p=prop[name]: jnp.asarray(p, jnp.float32), leaf)
            for name, leaf in layers.items()
        }
    }
