"""OPEN's step as compiled programs: launch-like operations that do not grow with the number of
parameter leaves (issue 41), on the XLA:CPU proxy and in the program exported for CUDA."""

from __future__ import annotations

import re
from collections import Counter

import jax
import jax.numpy as jnp
import optax
import pytest

from learned_optimizers import open_opt
from metalearn.hlo import launched, opcode, result_shape

LEAVES = (4, 12, 40)


@pytest.fixture
def accelerator_form(monkeypatch):
    """The per-leaf work as accelerators lower it (one segment reduction, gathers), compiled on CPU."""
    monkeypatch.setattr(open_opt, "PER_LEAF_ON_CPU", False)


def _params(leaves: int) -> dict:
    return {f"l{i:02d}": {"bias": jnp.zeros(16), "kernel": jnp.full((16, 16), 0.1)} for i in range(leaves // 2)}


def _training_loop(optimizer, extra):
    """Three steps of ``optimizer`` in a scan, as the inner trainer runs them (gradients of a toy loss)."""

    def run(meta, params, state):
        def step(carry, key):
            p, s = carry
            grads = jax.tree.map(lambda x: 0.5 * x, p)
            updates, s = optimizer(meta).update(grads, s, p, **extra(p, key))
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(step, (params, state), jax.random.split(jax.random.PRNGKey(0), 3))[0]

    return run


def _open_extra(p, key):
    ones = jax.tree.map(lambda x: jnp.ones(x.shape[-1:]), p)
    return {"activations": ones, "actor_mask": jax.tree.map(lambda _: 1.0, p), "key": key, "training_progress": 0.5}


def _step(leaves: int, which: str) -> list[str]:
    """The launch-like operations of one training step (a scan's body) with OPEN or Adam."""
    meta = open_opt.init(jax.random.PRNGKey(0))
    params = _params(leaves)
    if which == "open":
        run, state = _training_loop(open_opt.to_optax, _open_extra), open_opt.to_optax(meta).init(params)
    else:
        run, state = _training_loop(lambda _: optax.adam(1e-3), lambda p, k: {}), optax.adam(1e-3).init(params)
    return launched(jax.jit(run).lower(meta, params, state).compile().as_text(), loop_body=True)


# What a leaf's own operations write: its gradient or update, as shaped or raveled.
LEAF_SHAPES = {"f32[16]", "f32[16,16]", "f32[256]"}


def test_open_step_does_not_grow_with_the_leaves(accelerator_form):
    """Per training step, OPEN's operations on whole-model arrays (P elements, per-leaf tables, scalars) are
    as many at 40 leaves as at 12 (give or take the few that XLA fuses differently as sizes change: 31 and
    33 here; 25 at 4 leaves); what grows is at most two per
    leaf that read its gradient and write its parameters, per-leaf work Adam has too, with a third for its
    moments. One random draw (XLA:CPU's rolled threefry loop) whatever the number of leaves. Before this
    step was flat, it had about 15 operations per leaf, a random draw each (bench/results/open.json)."""
    steps = {n: _step(n, "open") for n in LEAVES}
    whole = {n: Counter(result_shape(x) for x in steps[n] if result_shape(x) not in LEAF_SHAPES) for n in LEAVES}
    per_leaf = {n: len(steps[n]) - whole[n].total() for n in LEAVES}
    assert whole[4].total() <= whole[12].total() <= whole[40].total() <= whole[12].total() + 4, whole
    assert all(per_leaf[n] <= 2 * n for n in LEAVES), per_leaf
    assert all(Counter(map(opcode, ops))["while"] == 1 for ops in steps.values())
    adam = {n: len(_step(n, "adam")) for n in LEAVES}
    assert adam[40] - adam[12] == 3 * 28, adam
    assert len(steps[40]) <= adam[40], (len(steps[40]), adam)


def _cuda_module(leaves: int) -> str:
    meta = open_opt.init(jax.random.PRNGKey(0))
    params = _params(leaves)
    tx = open_opt.to_optax(meta)

    def step(p, s, key):
        return tx.update(jax.tree.map(jnp.sin, p), s, p, **_open_extra(p, key))

    exported = jax.export.export(jax.jit(step), platforms=["cuda"])(params, tx.init(params), jax.random.PRNGKey(0))
    return exported.mlir_module()


def test_open_step_exported_for_cuda_has_no_loop_and_no_per_leaf_reductions(accelerator_form):
    """The program a GPU would compile (exported without one): the random draw is unrolled (no loop), and
    the reductions, scatters and gathers are the same few at 4 and 40 leaves."""
    counts = {}
    for n in (4, 40):
        ops = Counter(re.findall(r"stablehlo\.([a-z_]+)", _cuda_module(n)))
        counts[n] = {k: ops[k] for k in ("while", "reduce", "scatter", "gather", "case")}
    assert counts[4] == counts[40], counts
    assert counts[4]["while"] == 0 and counts[4]["case"] == 0, counts
