"""Drift-based actor objectives: PPO-clip as a drift, DPO, LPO / TA-LPO invariants and evolvability."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalearn.rules import list_rules, load_objective, load_rule, make_rule, save_rule
from objectives import OBJECTIVES, ObjectiveInputs, drift_loss, lpo, ppo_clip, ppo_drift

# A grid of ratios and advantages, kept off PPO's kinks at 1 ± 0.2 (where the two forms pick other subgradients).
R, A = (
    x.ravel()
    for x in np.meshgrid(
        np.array([0.05, 0.3, 0.79, 0.81, 0.95, 1.0, 1.05, 1.19, 1.21, 1.7, 3.0], np.float32),
        np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0], np.float32),
    )
)


def inputs(ratio, advantage, progress=0.3, num_updates=100.0) -> ObjectiveInputs:
    ratio = jnp.asarray(ratio, jnp.float32)
    return ObjectiveInputs(
        ratio=ratio,
        advantage=jnp.asarray(advantage, jnp.float32),
        log_prob=jnp.log(ratio),
        old_log_prob=jnp.zeros_like(ratio),
        progress=jnp.float32(progress),
        num_updates=jnp.float32(num_updates),
    )


def dpo_numpy(r, a, alpha=2.0, beta=0.6):
    """The closed form, evaluated sample by sample in float64."""
    out = []
    for ri, ai in zip(r.astype(np.float64), a.astype(np.float64), strict=True):
        if ai >= 0:
            x = (ri - 1.0) * ai
            f = max(0.0, x - alpha * np.tanh(x / alpha))
        else:
            x = np.log(ri) * ai
            f = max(0.0, x - beta * np.tanh(x / beta))
        out.append(-(ri * ai - f))
    return np.array(out)


def test_dpo_matches_numpy_closed_form():
    loss = make_rule("dpo").objective({}, inputs(R, A))
    np.testing.assert_allclose(loss, dpo_numpy(R, A), rtol=1e-5, atol=1e-6)
    loss = make_rule("dpo", alpha=1.0, beta=0.3).objective({}, inputs(R, A))
    np.testing.assert_allclose(loss, dpo_numpy(R, A, 1.0, 0.3), rtol=1e-5, atol=1e-6)


def test_ppo_clip_as_a_drift_is_the_clipped_surrogate():
    def textbook(r):
        return ppo_clip(0.2)(None, inputs(r, A)).sum()

    def as_drift(r):
        return drift_loss(lambda r, a, _: ppo_drift(r, a, 0.2), inputs(r, A)).sum()

    r = jnp.asarray(R)
    np.testing.assert_allclose(
        jax.vmap(lambda ri, ai: -jnp.minimum(ri * ai, jnp.clip(ri, 0.8, 1.2) * ai))(r, A),
        drift_loss(lambda r, a, _: ppo_drift(r, a, 0.2), inputs(r, A)),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_allclose(jax.grad(textbook)(r), jax.grad(as_drift)(r), rtol=1e-6, atol=1e-7)
    assert float(np.abs(jax.grad(as_drift)(r)).max()) > 0  # not vacuous
    # The ppo_clip rule gives the textbook loss too.
    np.testing.assert_allclose(make_rule("ppo_clip").objective({}, inputs(r, A)), textbook_vec(r), rtol=1e-6)


def textbook_vec(r):
    return -jnp.minimum(r * A, jnp.clip(r, 0.8, 1.2) * A)


@functools.partial(jax.jit, static_argnums=0)
def drift_checks(clip_eps, meta, ratio, adv, progress, num_updates):
    """f(r, A), f(1, A), ∂f/∂r(1, A), and u and ∂u/∂r at (1, A) and (r, A) (u: the part under the relu)."""
    ctx = inputs(ratio, adv, progress, num_updates)

    def f(r, a):
        return lpo.lpo_drift(meta, r[None], a[None], ctx, clip_eps)[0]

    def u(r, a):
        return lpo.unrectified_drift(meta, r[None], a[None], ctx, clip_eps)[0]

    ones = jnp.ones_like(ratio)
    per_sample = [f, jax.grad(f), u, jax.grad(u)]
    at_one = [jax.vmap(fn)(ones, adv) for fn in per_sample]
    return jax.vmap(f)(ratio, adv), at_one, jax.vmap(jax.grad(u))(ratio, adv)


def random_lpo_params(seed: int, temporal: bool, scale: float, hidden: int = 16) -> dict:
    """Arbitrary meta-parameters: scaled random weights and a non-zero hidden bias."""
    k_init, k_b = jax.random.split(jax.random.PRNGKey(seed))
    meta = jax.tree.map(lambda w: scale * w, lpo.init(k_init, hidden=hidden, temporal=temporal, zero_init=False))
    return {**meta, "b1": scale * jax.random.normal(k_b, (hidden,))}


def random_batch(seed: int, n: int = 64):
    k_r, k_a = jax.random.split(jax.random.PRNGKey(seed + 1))
    return jnp.exp(jax.random.uniform(k_r, (n,), minval=-3.0, maxval=3.0)), 3.0 * jax.random.normal(k_a, (n,))


@pytest.mark.parametrize("name", ["lpo", "ta_lpo"])
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 2),
    scale=st.floats(0.1, 10.0),
    clip_eps=st.sampled_from([0.0, 0.2]),
    progress=st.floats(0.0, 1.0),
    num_updates=st.floats(1.0, 1e5),
)
def test_lpo_drift_invariants_hold_for_any_meta_params(name, seed, scale, clip_eps, progress, num_updates):
    meta = random_lpo_params(seed, name == "ta_lpo", scale)
    assert meta["w1"].shape[0] == (10 if name == "ta_lpo" else 8)
    ratio, adv = random_batch(seed)
    f, (f1, df1, u1, du1), _ = drift_checks(clip_eps, meta, ratio, adv, progress, num_updates)
    assert bool(jnp.all(f >= 0.0))
    np.testing.assert_allclose(f1, 0.0, atol=1e-5)
    np.testing.assert_allclose(df1, 0.0, atol=1e-5)
    # relu'(0) = 0 would make the last check pass on its own: the part under the relu is flat at r = 1 too.
    np.testing.assert_allclose(u1, 0.0, atol=1e-5)
    np.testing.assert_allclose(du1, 0.0, atol=1e-4)


@pytest.mark.parametrize("temporal", [False, True])
def test_lpo_drift_checks_are_not_vacuous(temporal):
    """At moderate weights the learned drift is non-zero and not flat away from r = 1."""
    meta = random_lpo_params(0, temporal, 1.0)
    ratio, adv = random_batch(0)
    f, _, du = drift_checks(0.0, meta, ratio, adv, 0.5, 100.0)
    assert float(f.max()) > 1e-3 and float(jnp.abs(du).max()) > 1e-3


def test_lpo_starts_as_ppo_clip_and_temporal_inputs_matter():
    x = inputs(jnp.asarray(R), A)
    zero = make_rule("lpo", hidden=8)
    np.testing.assert_allclose(zero.objective(zero.init(jax.random.PRNGKey(1)), x), textbook_vec(x.ratio), atol=1e-6)
    meta = lpo.init(jax.random.PRNGKey(2), hidden=8, temporal=True, zero_init=False)
    meta = jax.tree.map(lambda w: 3.0 * w, meta)
    ta = make_rule("ta_lpo", hidden=8, clip_eps=0.0)
    early, late = ta.objective(meta, x._replace(progress=jnp.float32(0.0))), ta.objective(meta, x)
    assert float(jnp.abs(early - late).max()) > 1e-4


def test_registry_errors_and_rule_files(tmp_path):
    assert {"ppo_clip", "a2c", "dpo", "lpo", "ta_lpo", "lpg", "ta_lpg"} <= set(OBJECTIVES) <= set(list_rules())
    with pytest.raises(ValueError, match=r"unknown rule 'lpoo'; did you mean: lpo.*allowed: .*dpo.*ta_lpo"):
        make_rule("lpoo")
    with pytest.raises(ValueError, match=r"no hyper-parameter\(s\) \['width'\]; allowed: \['clip_eps', 'hidden'"):
        make_rule("lpo", width=3)
    with pytest.raises(ValueError, match="hidden=0 must be >= 1"):
        make_rule("lpo", hidden=0)
    with pytest.raises(ValueError, match="must be > 0"):
        make_rule("dpo", alpha=-1.0)
    rule = make_rule("ta_lpo", hidden=4)
    assert rule.optimizer is None and rule.objective is not None
    meta = lpo.init(jax.random.PRNGKey(3), hidden=4, temporal=True, zero_init=False)
    save_rule(tmp_path / "ta.npz", rule, meta, generation=2)
    loaded, params, manifest = load_rule(tmp_path / "ta.npz")
    assert loaded.name == "ta_lpo" and manifest["kwargs"] == {"temporal": True, "hidden": 4}
    x = inputs(jnp.asarray(R), A)
    np.testing.assert_array_equal(loaded.objective(params, x), rule.objective(meta, x))


@pytest.mark.slow
def test_lpo_is_a_rule_the_meta_trainer_evolves():
    from .conftest import assert_meta_training_moves_the_rule, tiny_meta_dict

    d = tiny_meta_dict(population=4)
    d["rule"] = {"name": "lpo", "kwargs": {"hidden": 8}}
    d["strategy"].update(sigma=0.1)
    assert_meta_training_moves_the_rule(d)


def test_load_objective_gives_a_plain_loss(tmp_path):
    from metalearn.pytree_io import read_manifest, save_pytree

    x = inputs(jnp.asarray(R), A)
    rule = make_rule("lpo", hidden=4, clip_eps=0.1)
    meta = lpo.init(jax.random.PRNGKey(4), hidden=4, zero_init=False)
    save_rule(tmp_path / "lpo.npz", rule, meta)
    loss = load_objective(tmp_path / "lpo.npz")
    assert loss.name == "lpo" and loss.kind == "drift" and loss.targets is None
    np.testing.assert_array_equal(loss(x), rule.objective(meta, x))
    assert float(jnp.abs(loss(x) - textbook_vec(x.ratio)).max()) > 1e-4  # the learned drift, not PPO's

    lpg_rule = make_rule("lpg", hidden=4, embed=2, target_dim=3)
    save_rule(tmp_path / "lpg.npz", lpg_rule, lpg_rule.init(jax.random.PRNGKey(0)))
    assert load_objective(tmp_path / "lpg.npz").targets is not None

    open_rule = make_rule("open")
    save_rule(tmp_path / "open.npz", open_rule, open_rule.init(jax.random.PRNGKey(0)))
    with pytest.raises(ValueError, match="optimizer rule 'open', not an objective"):
        load_objective(tmp_path / "open.npz")
    save_pytree(tmp_path / "ckpt.npz", {"a": jnp.zeros(2)}, format="metalearn-checkpoint")
    with pytest.raises(ValueError, match="holds a 'metalearn-checkpoint' file, expected 'metalearn-rule'"):
        load_objective(tmp_path / "ckpt.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk.npz: not a metalearn-rule \.npz file \(text or another format"):
        load_objective(tmp_path / "junk.npz")
    # A manifest that disagrees with its arrays (hidden 4 declared, 5 stored).
    path = tmp_path / "wide.npz"
    save_rule(path, make_rule("lpo", hidden=5), lpo.init(jax.random.PRNGKey(0), hidden=5))
    manifest = read_manifest(path)
    arrays = {k: v for k, v in np.load(path).items() if k != "__manifest__"}
    save_pytree(path, arrays, format=manifest["format"], manifest={"rule": "lpo", "kwargs": {"hidden": 4}})
    with pytest.raises(ValueError, match=r"leaf 'b1' has shape \(5,\) float32, expected \(4,\)"):
        load_objective(path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_es_improves_lpo_from_random_init(seed):
    """OpenES on a randomly initialised, strongly wrong LPO drift: population fitness rises within 8 generations.

    Measured (population mean fitness, mean of the first 3 vs the last 3 of 8 generations): seed 0
    0.174 → 0.262, seed 1 0.209 → 0.269, seed 2 0.136 → 0.249; the margin asserted is 0.03.
    """
    from metalearn.meta import ESTrainer, MetaConfig

    config = MetaConfig.from_dict(
        {
            "rule": {"name": "lpo", "kwargs": {"zero_init": False, "hidden": 16, "init_scale": 30.0}},
            "strategy": {"name": "open_es", "population_size": 16, "sigma": 0.5, "lr": 0.1, "antithetic": True},
            "tasks": [
                {"preset": "cartpole", "train": {"total_timesteps": 16384, "eval_envs": 0}, "reference_return": 500.0}
            ],
            "generations": 8,
            "seed": seed,
        }
    )
    trainer = ESTrainer(config)
    state = trainer.init()
    fitness = []
    for _ in range(config.generations):
        state, metrics = trainer.generation(state)
        fitness.append(float(metrics.mean_fitness))
    assert np.mean(fitness[-3:]) > np.mean(fitness[:3]) + 0.03, np.round(fitness, 3)


class JitAndEagerAgree(chex.TestCase):
    """The drift invariants and the closed forms hold with and without jit (XLA may fuse and reorder)."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_drift_objectives(self):
        meta = random_lpo_params(3, temporal=True, scale=3.0, hidden=8)
        ta_lpo = make_rule("ta_lpo", hidden=8)
        loss = self.variant(lambda mp, r, a: ta_lpo.objective(mp, inputs(r, a)))
        ones = jnp.ones_like(jnp.asarray(A))
        # At r = 1 the drift and its slope vanish: the loss is −A and its gradient in r is −A.
        np.testing.assert_allclose(loss(meta, ones, A), -A, atol=1e-5)
        grad = self.variant(jax.grad(lambda mp, r, a: ta_lpo.objective(mp, inputs(r, a)).sum(), argnums=1))
        np.testing.assert_allclose(grad(meta, ones, A), -A, atol=1e-4)
        dpo = self.variant(lambda r, a: make_rule("dpo").objective({}, inputs(r, a)))
        np.testing.assert_allclose(dpo(jnp.asarray(R), A), dpo_numpy(R, A), rtol=1e-5, atol=1e-6)
