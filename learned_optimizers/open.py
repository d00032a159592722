"""OPEN (Goldie et al., NeurIPS 2024): a learned optimizer for reinforcement learning.

Per parameter element, a GRU + MLP reads 19 features and outputs
(o0, o1, o2); the update is

    u = o0 · step_mult · exp(o1 · exp_mult) + o2 · mask · ε · step_mult,   ε ~ N(0, 1)

with noise only on actor parameters (mask), then the mean of u over *all*
parameters is subtracted and p ← p − u.

Features, in the published order (``FEATURES``): the parameter; sign and
log-magnitude of momenta at 6 timescales; sign and log-magnitude of the
gradient — these 15 normalised per tensor by their second moment — then
training proportion, layer proportion, batch proportion and dormancy
(a_j / mean_k a_k of the unit the parameter feeds).

meta_params = {"gru_params": flax GRUCell params, "params": flax MLP params}, whose
``ravel_pytree`` is the published flat vector (``load_published``). Variants:
``gru_features``/``hidden_size`` (8/16 small, 16/32 large), ``ablate`` (feature
groups set to zero), ``stochastic=False`` (no learned noise), ``use_gru=False``
(the MLP reads the features directly).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

DECAYS = (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)
NUM_FEATURES = 19
# Feature groups (indices into the 19 inputs) that ablations switch off.
FEATURE_GROUPS = {
    "param": (0,),
    "momentum": tuple(range(1, 13)),
    "gradient": (13, 14),
    "training_prop": (15,),
    "layer_prop": (16,),
    "batch_prop": (17,),
    "dormancy": (18,),
}
STEP_MULT = EXP_MULT = 0.001
_EPS_LOG = 1e-13
_EPS_NORM = 1e-5
_EPS_DORMANCY = 1e-11


def _mlp(hidden_size: int) -> nn.Sequential:
    """Dense(H) → LayerNorm → relu → Dense(H) → LayerNorm → relu → Dense(3).

    A top-level ``nn.Sequential`` so its parameters are named ``layers_0 …
    layers_6`` as in the published weights: wrapped in another module, flax
    would name them ``Dense_0 … LayerNorm_1``, whose sorted order differs, and
    a flat published vector would load into the wrong layers without error.
    """
    return nn.Sequential(
        [nn.Dense(hidden_size), nn.LayerNorm(), nn.relu, nn.Dense(hidden_size), nn.LayerNorm(), nn.relu, nn.Dense(3)]
    )


def _check(gru_features: int, hidden_size: int, ablate: tuple[str, ...]) -> None:
    if gru_features < 1 or hidden_size < 1:
        raise ValueError(f"gru_features={gru_features} and hidden_size={hidden_size} must be >= 1")
    unknown = sorted(set(ablate) - set(FEATURE_GROUPS))
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown} in ablate; allowed: {', '.join(FEATURE_GROUPS)}")


def init(
    rng: jax.Array,
    gru_features: int = 8,
    hidden_size: int = 16,
    ablate: tuple[str, ...] = (),
    use_gru: bool = True,
    zero_init: bool = False,
) -> dict:
    """Meta-parameters: flax's default initialisers, or all zeros with ``zero_init``.

    The OPEN reference starts ES from all-zero meta-parameters (the optimizer
    then outputs no update until the search moves it).
    """
    _check(gru_features, hidden_size, tuple(ablate))
    k_mlp, k_gru = jax.random.split(rng)
    if not use_gru:
        params = {"params": _mlp(hidden_size).init(k_mlp, jnp.zeros(NUM_FEATURES))}
    else:
        gru = nn.GRUCell(features=gru_features)
        params = {
            "gru_params": gru.init(k_gru, jnp.zeros((gru_features,)), jnp.zeros(NUM_FEATURES)),
            "params": _mlp(hidden_size).init(k_mlp, jnp.zeros(gru_features)),
        }
    return jax.tree.map(jnp.zeros_like, params) if zero_init else params


class OPENState(NamedTuple):
    momentum: Any  # per leaf: param.shape + (6,)
    carry: Any  # per leaf: param.shape + (gru_features,), or None without a GRU
    count: jax.Array  # () optimizer steps taken


def _second_moment_normalise(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    return x * jax.lax.rsqrt(_EPS_NORM + jnp.mean(jnp.square(x), axis=axes, keepdims=True))


def _dormancy(activity: jax.Array) -> jax.Array:
    """a_j / mean_k(a_k) over a layer's units."""
    a = activity + _EPS_DORMANCY
    return a / jnp.sum(jnp.abs(a), axis=-1, keepdims=True) * a.shape[-1]


def features(
    p: jax.Array,
    g: jax.Array,
    momentum: jax.Array,
    training_progress: jax.Array,
    layer_prop: jax.Array,
    batch_progress: jax.Array,
    activity: jax.Array,
) -> jax.Array:
    """The 19 inputs for one tensor: p, g shaped S, momentum S + (6,) -> S + (19,)."""
    sign_m, log_m = jnp.sign(momentum), jnp.log(jnp.abs(momentum) + _EPS_LOG)
    first = jnp.concatenate(
        [p[..., None], sign_m, log_m, jnp.sign(g)[..., None], jnp.log(jnp.abs(g) + _EPS_LOG)[..., None]], axis=-1
    )
    first = _second_moment_normalise(first, tuple(range(p.ndim)))
    shape = (*p.shape, 1)
    rest = [
        jnp.broadcast_to(jnp.asarray(training_progress, jnp.float32), shape),
        jnp.broadcast_to(jnp.asarray(layer_prop, jnp.float32), shape),
        jnp.broadcast_to(jnp.asarray(batch_progress, jnp.float32), shape),
        jnp.broadcast_to(_dormancy(activity), p.shape)[..., None],
    ]
    return jnp.concatenate([first, *rest], axis=-1)


def to_optax(
    meta_params: dict,
    gru_features: int = 8,
    hidden_size: int = 16,
    ablate: tuple[str, ...] = (),
    stochastic: bool = True,
    use_gru: bool = True,
    total_steps: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    """OPEN as an optax transformation (extra-args form).

    Extra arguments (see ``learned_optimizers.base``) and what is used when a
    loop cannot pass them:

    * ``training_progress``: else ``count / total_steps`` if ``total_steps`` is
      given, else 0;
    * ``batch_progress``: else 0;
    * ``layer_props``: else 0 for every leaf;
    * ``activations`` (per-unit mean |activation|): else dormancy 1 everywhere;
    * ``actor_mask``: else 0 everywhere, i.e. no learned noise;
    * ``key``: else a key derived from the step count (only used with a mask).

    Scalars work: a 0-d parameter is treated as a tensor of one element.
    """
    _check(gru_features, hidden_size, tuple(ablate))
    keep = jnp.ones(NUM_FEATURES).at[jnp.array([i for g in ablate for i in FEATURE_GROUPS[g]], int)].set(0.0)
    gru = nn.GRUCell(features=gru_features)
    mlp = _mlp(hidden_size)
    decays = jnp.asarray(DECAYS, jnp.float32)

    def init_fn(params):
        zeros = lambda p, n: jnp.zeros((*jnp.shape(p), n), jnp.float32)
        return OPENState(
            momentum=jax.tree.map(lambda p: zeros(p, len(DECAYS)), params),
            carry=jax.tree.map(lambda p: zeros(p, gru_features), params) if use_gru else None,
            count=jnp.zeros((), jnp.int32),
        )

    def update_fn(
        grads,
        state: OPENState,
        params=None,
        *,
        training_progress=None,
        batch_progress=None,
        layer_props=None,
        activations=None,
        actor_mask=None,
        key=None,
        **extra,
    ):
        del extra
        if params is None:
            raise ValueError("OPEN reads the parameters: call update(grads, state, params)")
        if training_progress is None:
            training_progress = state.count / total_steps if total_steps else 0.0
        batch_progress = 0.0 if batch_progress is None else batch_progress
        structure = jax.tree.structure(params)
        leaves = lambda tree, default: (
            [default] * structure.num_leaves if tree is None else structure.flatten_up_to(tree)
        )
        if key is None:
            key = jax.random.fold_in(jax.random.PRNGKey(0), state.count)
        keys = list(jax.random.split(key, structure.num_leaves))

        p_l, g_l = structure.flatten_up_to(params), structure.flatten_up_to(grads)
        m_l = structure.flatten_up_to(state.momentum)
        c_l = structure.flatten_up_to(state.carry) if use_gru else [None] * len(p_l)
        lp_l = leaves(layer_props, 0.0)
        act_l = leaves(activations, jnp.ones(1))
        mask_l = leaves(actor_mask, 0.0)

        new_m, new_c, raw = [], [], []
        for p, g, m, c, lp, act, mask, k in zip(p_l, g_l, m_l, c_l, lp_l, act_l, mask_l, keys, strict=True):
            p1, g1 = jnp.atleast_1d(p), jnp.atleast_1d(g)  # a 0-d parameter is a tensor of one element
            m1 = decays * jnp.reshape(m, (*p1.shape, len(DECAYS))) + (1.0 - decays) * g1[..., None]
            x = features(p1, g1, m1, training_progress, lp, batch_progress, jnp.asarray(act, jnp.float32)) * keep
            if use_gru:
                c1, h = gru.apply(meta_params["gru_params"], jnp.reshape(c, (*p1.shape, gru_features)), x)
            else:
                c1, h = None, x
            o = mlp.apply(meta_params["params"], h)
            u = o[..., 0] * STEP_MULT * jnp.exp(o[..., 1] * EXP_MULT)
            if stochastic:
                u = u + o[..., 2] * mask * jax.random.normal(k, u.shape) * STEP_MULT
            raw.append(jnp.reshape(u, jnp.shape(p)))
            new_m.append(jnp.reshape(m1, jnp.shape(m)))
            new_c.append(None if c1 is None else jnp.reshape(c1, jnp.shape(c)))

        # Zero-mean update over all parameters together (actor and critic).
        total = sum(jnp.sum(u) for u in raw)
        mean = total / sum(u.size for u in raw)
        updates = structure.unflatten([-(u - mean) for u in raw])
        new_state = OPENState(
            momentum=structure.unflatten(new_m),
            carry=structure.unflatten(new_c) if use_gru else None,
            count=state.count + 1,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
