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

The step runs on all P parameter elements at once, leaves raveled in tree order (:class:`Layout`): per-leaf
statistics, per-leaf features and dormancy come from a static leaf-id array, and the learned noise is one
normal draw over all P elements. (Before 2026-12-07 it was one draw per parameter tensor: the same
distribution, a different random stream; bench/open_stream.py trains the published Breakout weights
both ways.)

meta_params = {"gru_params": flax GRUCell params, "params": flax MLP params}, whose
``ravel_pytree`` is the published flat vector (``load_published``). Variants:
``gru_features``/``hidden_size`` (8/16 small, 16/32 large), ``ablate`` (feature
groups set to zero), ``stochastic=False`` (no learned noise), ``use_gru=False``
(the MLP reads the features directly).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
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
    momentum: jax.Array  # (6, P): all P parameter elements, leaves raveled and concatenated in tree order
    carry: jax.Array | None  # (gru_features, P), or None without a GRU
    count: jax.Array  # () optimizer steps taken


# The network runs feature-major, (features, P), on all parameter elements at
# once: elementwise ops and the LayerNorm reductions stream over long contiguous
# rows. flax's parameter-major (P, 19) layout, one tensor at a time, made PPO
# training with OPEN 1.2-1.4x slower on CPU, and meta-training 1.3x slower (minor
# axes of 3-19 defeat vectorisation).
_PER_ELEMENT = (*range(15), 18)  # features that vary per element; 15-17 are constant per tensor
_PER_TENSOR = (15, 16, 17)  # training, layer and batch proportion: folded into a per-tensor bias


def _matmul(kernel: jax.Array, y: jax.Array, rows: tuple[int, ...] | None = None) -> jax.Array:
    """kernel[rows]ᵀ y for kernel (in, out), y (len(rows), P) -> (out, P), as a sum of broadcast products.

    XLA fuses this into one loop. As a dot_general it was 1.45x slower in OPEN
    meta-training on CPU (kernels batched over the population, y over the
    population and seeds), though 1.2x faster in one PPO run on Breakout.
    ``rows`` (static; default all) picks kernel rows by static slices, which fuse (an index array would not).
    """
    rows = range(kernel.shape[0]) if rows is None else rows
    return sum(kernel[r][:, None] * y[i] for i, r in enumerate(rows))


def _dense(p: dict, y: jax.Array) -> jax.Array:
    """flax ``Dense`` on feature-major y: (in, P) -> (out, P)."""
    return _matmul(p["kernel"], y) + p["bias"][:, None]


def _layer_norm(p: dict, y: jax.Array) -> jax.Array:
    """flax ``LayerNorm`` (epsilon 1e-6, fast variance) over the feature axis 0 of (H, P)."""
    mean = jnp.mean(y, axis=0, keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(y), axis=0, keepdims=True) - jnp.square(mean), 0.0)
    return (y - mean) * jax.lax.rsqrt(var + 1e-6) * p["scale"][:, None] + p["bias"][:, None]


def _mlp_after_first_dense(mlp: dict, y: jax.Array) -> jax.Array:
    """``_mlp`` from its first Dense's output on: y (H, P) -> (3, P)."""
    y = jax.nn.relu(_layer_norm(mlp["layers_1"], y))
    y = jax.nn.relu(_layer_norm(mlp["layers_4"], _dense(mlp["layers_3"], y)))
    return _dense(mlp["layers_6"], y)


def _gru_apply(gru: dict, gx: jax.Array, h: jax.Array) -> jax.Array:
    """flax ``GRUCell`` with the input projection gx = [ir; iz; in](x) (3G, P) given; h (G, P) -> new h."""
    g = h.shape[0]
    gh = _matmul(jnp.concatenate([gru[n]["kernel"] for n in ("hr", "hz", "hn")], axis=1), h)
    r = jax.nn.sigmoid(gx[:g] + gh[:g])
    z = jax.nn.sigmoid(gx[g : 2 * g] + gh[g : 2 * g])
    n = jnp.tanh(gx[2 * g :] + r * (gh[2 * g :] + gru["hn"]["bias"][:, None]))
    return (1.0 - z) * n + z * h


def _first_layer(kernel: jax.Array, bias: jax.Array, inp: Inputs) -> jax.Array:
    """A Dense (19, out) on the features of every element -> (out, P): the per-element features as products
    over P; the per-tensor ones folded into a per-leaf bias (out, L), repeated over each leaf's elements (3
    fewer products per output and element; 3% faster than the features repeated, at 940k parameters on CPU).
    All three GRU gates in one kernel: as separate kernels the features were read three times (8% slower at
    340k parameters on CPU)."""
    per_leaf = _matmul(kernel, inp.per_tensor, _PER_TENSOR) + bias[:, None]  # (out, L)
    return _matmul(kernel, inp.x, _PER_ELEMENT) + inp.layout.columns(per_leaf)


# Per-leaf work has two lowerings with the same values (tests check both on CPU). On accelerators every
# op is a kernel launch, so it is one segment reduction and gathers by a static leaf-id array: the step's
# operations do not grow with the number of leaves. On CPU launches cost little, while XLA:CPU runs
# scatter-add as a serial loop and gathers at ~0.7 ns per element and row: that form made an OPEN step
# of a PPO actor-critic 1.09-1.76x slower on a 2-core Xeon (13k-340k parameters; `bench_open.py --forms`,
# bench/results/open_forms.json), so CPU programs keep slices and broadcasts per leaf.
# ``PER_LEAF_ON_CPU = False`` compiles the accelerators' form on CPU too (tests/test_open_program.py
# counts its operations).
PER_LEAF_ON_CPU = True


def _by_platform(cpu: Callable, accelerator: Callable, *args):
    """``cpu(*args)`` in programs lowered for CPU, ``accelerator(*args)`` elsewhere (same values)."""
    if not PER_LEAF_ON_CPU:
        return accelerator(*args)
    return jax.lax.platform_dependent(*args, cpu=cpu, default=accelerator)


class Layout(NamedTuple):
    """Where each parameter leaf sits in the flat vector of all P elements (leaves raveled in tree order).

    Static: numpy, built at trace time from the shapes.
    """

    structure: Any  # the parameters' tree structure
    leaf_shapes: tuple  # per leaf, its own shape (() for a 0-d parameter)
    sizes: tuple  # per leaf, its number of elements (1 for a 0-d parameter)
    leaf_ids: np.ndarray  # (P,) int32: the leaf of each element

    @property
    def num_leaves(self) -> int:
        return len(self.sizes)

    @property
    def ends(self) -> np.ndarray:
        """(L,) one past each leaf's last element."""
        return np.cumsum(self.sizes)

    def leaves(self, tree, default) -> list:
        """``tree``'s leaves in parameter order, or ``default`` for each leaf when ``tree`` is None."""
        return [default] * self.num_leaves if tree is None else self.structure.flatten_up_to(tree)

    def flatten(self, tree) -> jax.Array:
        """A tree with the parameters' structure and shapes -> (P,)."""
        return jnp.concatenate([jnp.ravel(x) for x in self.structure.flatten_up_to(tree)])

    def unflatten(self, flat: jax.Array):
        """(P,) -> a tree with the parameters' structure and shapes."""
        parts = jnp.split(flat, self.ends[:-1])
        return self.structure.unflatten([jnp.reshape(x, s) for x, s in zip(parts, self.leaf_shapes, strict=True)])

    def per_leaf(self, tree, default: float) -> jax.Array:
        """One scalar per leaf (a tree of them, or None for ``default`` everywhere) -> (L,) float32."""
        out = jnp.stack([jnp.asarray(v, jnp.float32) for v in self.leaves(tree, default)])
        chex.assert_shape(out, (self.num_leaves,))  # scalars, one per leaf
        return out

    def columns(self, values: jax.Array) -> jax.Array:
        """Per-leaf values (k, L) -> (k, P): each leaf's value repeated over its elements."""

        def broadcasts(v):
            return jnp.concatenate(
                [jnp.broadcast_to(v[:, i : i + 1], (v.shape[0], n)) for i, n in enumerate(self.sizes)], axis=1
            )

        return _by_platform(broadcasts, lambda v: v[:, self.leaf_ids], values)

    def segment_mean(self, rows: jax.Array) -> jax.Array:
        """(k, P) -> (k, L): each row's mean over each leaf's elements."""

        def slices(r):
            return jnp.stack(
                [jnp.mean(r[:, e - n : e], axis=1) for e, n in zip(self.ends, self.sizes, strict=True)], axis=1
            )

        def segment_sum(r):
            sums = jax.vmap(lambda x: jax.ops.segment_sum(x, self.leaf_ids, self.num_leaves, indices_are_sorted=True))
            return sums(r) / np.asarray(self.sizes, np.float32)

        return _by_platform(slices, segment_sum, rows)


def layout(params) -> Layout:
    """The :class:`Layout` of a parameter tree."""
    structure = jax.tree.structure(params)
    leaf_shapes = tuple(jnp.shape(p) for p in structure.flatten_up_to(params))
    sizes = tuple(math.prod(s) for s in leaf_shapes)  # a 0-d parameter is a tensor of one element
    leaf_ids = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    return Layout(structure, leaf_shapes, sizes, leaf_ids)


def _dormancy_columns(activations, lay: Layout) -> jax.Array:
    """(P,) dormancy a_j / mean_k a_k of the unit each element feeds; ones when ``activations`` is None.

    Each leaf's activity (units,) broadcasts against the leaf (a kernel (in, units)); the mean is over its
    last axis. All leaves at once: one segment sum over the concatenated activities (A,), then each element
    reads its unit's value.
    """
    if activations is None:
        return jnp.ones(lay.leaf_ids.shape, jnp.float32)
    acts = [jnp.atleast_1d(jnp.asarray(a, jnp.float32)) for a in lay.leaves(activations, None)]
    index, first = [], 0  # for every element, which of the A activities it reads
    for i, (a, shape) in enumerate(zip(acts, lay.leaf_shapes, strict=True)):
        try:
            index.append(first + np.broadcast_to(np.arange(a.size).reshape(a.shape), shape or (1,)).ravel())
        except ValueError:
            raise ValueError(
                f"activations of parameter leaf {i} have shape {a.shape}, which does not broadcast against the "
                f"leaf's shape {shape}; allowed: (units,) with units the leaf's last axis, or (1,)"
            ) from None
        first += a.size
    units = [a.shape[-1] for a in acts for _ in range(a.size // a.shape[-1])]  # per row of units
    rows = np.repeat(np.arange(len(units)), units)  # (A,) the row each activity belongs to
    a = jnp.concatenate([jnp.ravel(x) for x in acts]) + _EPS_DORMANCY
    totals = jax.ops.segment_sum(jnp.abs(a), rows, len(units), indices_are_sorted=True)
    dormancy = a / totals[rows] * np.asarray(units, np.float32)[rows]  # (A,)
    starts = np.cumsum([0] + [x.size for x in acts])[:-1]

    def broadcasts(d):
        return jnp.concatenate(
            [
                jnp.ravel(jnp.broadcast_to(d[s : s + x.size].reshape(x.shape), shape or (1,)))
                for x, s, shape in zip(acts, starts, lay.leaf_shapes, strict=True)
            ]
        )

    return _by_platform(broadcasts, lambda d: d[np.concatenate(index)], dormancy)


class Inputs(NamedTuple):
    """What OPEN's network reads at one step, over all P parameter elements (leaves raveled in tree order)."""

    x: jax.Array  # (16, P) the per-element features _PER_ELEMENT
    per_tensor: jax.Array  # (3, L) training, layer and batch proportion of each leaf (_PER_TENSOR)
    momentum: jax.Array  # (6, P) the momenta after this step's gradient
    layout: Layout  # where each leaf's elements sit


def initial_state(params, gru_features: int | None = None) -> OPENState:
    """Zero momenta (6, P) and step count, and a zero GRU carry (gru_features, P) unless ``gru_features`` is None."""
    total = sum(jnp.size(p) for p in jax.tree.leaves(params))
    return OPENState(
        momentum=jnp.zeros((len(DECAYS), total), jnp.float32),
        carry=None if gru_features is None else jnp.zeros((gru_features, total), jnp.float32),
        count=jnp.zeros((), jnp.int32),
    )


def read_inputs(
    grads, momentum, params, training_progress, batch_progress=None, layer_props=None, activations=None
) -> Inputs:
    """OPEN's features of every parameter element (see the module docstring), and the updated momenta.

    ``momentum`` (6, P): the previous step's. ``batch_progress`` None reads as 0, ``layer_props`` None as 0
    for every leaf, ``activations`` None as dormancy 1 everywhere.
    """
    if params is None:
        raise ValueError("OPEN reads the parameters: call update(grads, state, params)")
    batch_progress = 0.0 if batch_progress is None else batch_progress
    # Trace-time checks (no cost per step): a wrong shape fails here, naming the input, not inside XLA.
    chex.assert_trees_all_equal_shapes(grads, params)
    lay = layout(params)
    p, g = lay.flatten(params), lay.flatten(grads)
    decays = jnp.asarray(DECAYS, jnp.float32)[:, None]
    m = decays * momentum + (1.0 - decays) * g
    raw = jnp.concatenate(
        [
            p[None],
            jnp.sign(m),
            jnp.log(jnp.abs(m) + _EPS_LOG),
            jnp.sign(g)[None],
            jnp.log(jnp.abs(g) + _EPS_LOG)[None],
        ]
    )  # (15, P)
    # Normalised by each row's second moment over its own tensor.
    x = jnp.concatenate(
        [
            raw * lay.columns(jax.lax.rsqrt(_EPS_NORM + lay.segment_mean(jnp.square(raw)))),
            _dormancy_columns(activations, lay)[None],
        ]
    )
    chex.assert_shape(x, (len(_PER_ELEMENT), p.shape[0]))  # the features _PER_ELEMENT
    progress = [jnp.asarray(training_progress, jnp.float32), jnp.asarray(batch_progress, jnp.float32)]
    chex.assert_shape(progress, ())  # progresses are scalars
    ones = np.ones(lay.num_leaves, np.float32)
    per_tensor = jnp.stack([progress[0] * ones, lay.per_leaf(layer_props, 0.0), progress[1] * ones])
    return Inputs(x=x, per_tensor=per_tensor, momentum=m, layout=lay)


def all_features(inp: Inputs) -> jax.Array:
    """(19, P): the features of every element in the published order (``FEATURES``)."""
    features = jnp.zeros((NUM_FEATURES, inp.x.shape[1]), jnp.float32)
    return (
        features.at[np.array(_PER_ELEMENT)].set(inp.x).at[np.array(_PER_TENSOR)].set(inp.layout.columns(inp.per_tensor))
    )


def apply_step(u: jax.Array, inp: Inputs):
    """The updates tree of a step u (P,): made zero-mean over all parameters together (actor and critic), as
    OPEN does, and negated (p ← p − u)."""
    return inp.layout.unflatten(jnp.mean(u) - u)


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
    return _transformation(meta_params, gru_features, hidden_size, ablate, stochastic, use_gru, total_steps)


# tap(features (19, P), outputs (3, P), count ()): called (traced) on every step of a tapped OPEN.
Tap = Callable[[jax.Array, jax.Array, jax.Array], None]


def tapped(meta_params: dict, tap: Tap, **hyper) -> optax.GradientTransformationExtraArgs:
    """``to_optax(meta_params, **hyper)`` that also hands every step's network inputs and outputs to ``tap``.

    ``tap(features, outputs, count)``: the 19 features of every parameter element in the published order
    (``FEATURES``; (19, P), unablated), the network's (o0, o1, o2) for them ((3, P)) and the step count.
    It runs at trace time inside the update: read values out with ``jax.debug.callback``. Distillation
    records OPEN this way; the update itself is unchanged.
    """
    defaults = {k: p.default for k, p in inspect.signature(to_optax).parameters.items() if k != "meta_params"}
    unknown = sorted(set(hyper) - set(defaults))
    if unknown:
        raise ValueError(f"unknown OPEN hyper-parameter(s) {unknown}; allowed: {', '.join(defaults)}")
    return _transformation(meta_params, **{**defaults, **hyper}, tap=tap)


def _transformation(
    meta_params: dict,
    gru_features: int,
    hidden_size: int,
    ablate: tuple[str, ...],
    stochastic: bool,
    use_gru: bool,
    total_steps: int | None,
    tap: Tap | None = None,
) -> optax.GradientTransformationExtraArgs:
    _check(gru_features, hidden_size, tuple(ablate))
    keep = jnp.ones(NUM_FEATURES).at[jnp.array([i for g in ablate for i in FEATURE_GROUPS[g]], int)].set(0.0)

    def init_fn(params):
        return initial_state(params, gru_features if use_gru else None)

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
        if training_progress is None:
            training_progress = state.count / total_steps if total_steps else 0.0
        inp = read_inputs(grads, state.momentum, params, training_progress, batch_progress, layer_props, activations)
        lay = inp.layout
        if key is None:
            key = jax.random.fold_in(jax.random.PRNGKey(0), state.count)

        # First layer (GRU input projection, or the MLP's first Dense without a GRU) with ablated
        # features' weights zeroed.
        mlp = meta_params["params"]["params"]
        if use_gru:
            gru = meta_params["gru_params"]["params"]
            kernel = jnp.concatenate([gru[n]["kernel"] for n in ("ir", "iz", "in")], axis=1)
            bias = jnp.concatenate([gru[n]["bias"] for n in ("ir", "iz", "in")])
        else:
            kernel, bias = mlp["layers_0"]["kernel"], mlp["layers_0"]["bias"]
        first = _first_layer(kernel * keep[:, None], bias, inp)
        if use_gru:
            carry = _gru_apply(gru, first, state.carry)
            o = _mlp_after_first_dense(mlp, _dense(mlp["layers_0"], carry))
        else:
            carry = None
            o = _mlp_after_first_dense(mlp, first)

        if tap is not None:
            tap(all_features(inp), o, state.count)
        u = o[0] * STEP_MULT * jnp.exp(o[1] * EXP_MULT)
        if stochastic:
            # One draw over all P elements (before 2026-12 one per leaf: a different random stream).
            mask = lay.columns(lay.per_leaf(actor_mask, 0.0)[None])[0]
            u = u + o[2] * mask * jax.random.normal(key, lay.leaf_ids.shape) * STEP_MULT
        return apply_step(u, inp), OPENState(momentum=inp.momentum, carry=carry, count=state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
