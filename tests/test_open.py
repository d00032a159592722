"""OPEN: weight layout, published weights, a hand-set reduction to sign-SGD, ablations, optax use."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_optimizers import load_published, open_opt, published_names
from learned_optimizers.published import DIRECTORY
from metalearn.pytree_io import flatten_with_names
from metalearn.rules import make_rule

# The published flat vector's layout (../shared/reference/OPEN.md), in ravel order.
SMALL_LAYOUT = [
    ("gru_params/params/hn/bias", (8,)),
    ("gru_params/params/hn/kernel", (8, 8)),
    ("gru_params/params/hr/kernel", (8, 8)),
    ("gru_params/params/hz/kernel", (8, 8)),
    ("gru_params/params/in/bias", (8,)),
    ("gru_params/params/in/kernel", (19, 8)),
    ("gru_params/params/ir/bias", (8,)),
    ("gru_params/params/ir/kernel", (19, 8)),
    ("gru_params/params/iz/bias", (8,)),
    ("gru_params/params/iz/kernel", (19, 8)),
    ("params/params/layers_0/bias", (16,)),
    ("params/params/layers_0/kernel", (8, 16)),
    ("params/params/layers_1/bias", (16,)),
    ("params/params/layers_1/scale", (16,)),
    ("params/params/layers_3/bias", (16,)),
    ("params/params/layers_3/kernel", (16, 16)),
    ("params/params/layers_4/bias", (16,)),
    ("params/params/layers_4/scale", (16,)),
    ("params/params/layers_6/bias", (3,)),
    ("params/params/layers_6/kernel", (16, 3)),
]


def test_meta_parameter_layout_matches_the_published_one():
    names, leaves, _ = flatten_with_names(open_opt.init(jax.random.PRNGKey(0)))
    assert list(zip(names, [x.shape for x in leaves], strict=True)) == SMALL_LAYOUT
    assert sum(x.size for x in leaves) == 1211
    large = open_opt.init(jax.random.PRNGKey(0), gru_features=16, hidden_size=32)
    assert sum(x.size for x in jax.tree.leaves(large)) == 3571


def test_every_published_file_loads_with_its_sizes():
    assert set(published_names()) == {"ant", "asterix", "breakout", "freeway", "gridworld", "multi", "spaceinvaders"}
    for name in published_names():
        params, sizes = load_published(name)
        assert sizes == (
            {"gru_features": 16, "hidden_size": 32} if name == "multi" else {"gru_features": 8, "hidden_size": 16}
        )
        flat = np.load(DIRECTORY / f"{name}_OPEN.npy")
        np.testing.assert_array_equal(jax.flatten_util.ravel_pytree(params)[0], flat)
    assert (DIRECTORY / "LICENSE-Apache-2.0.txt").is_file()


def test_bad_published_files_name_the_sizes(tmp_path):
    np.save(tmp_path / "short.npy", np.zeros(1000, np.float32))
    with pytest.raises(
        ValueError, match=r"has 1000 values; OPEN meta-parameter vectors we know have 1211 \(GRU 8, MLP 16\), 3571"
    ):
        load_published(tmp_path / "short.npy")
    np.save(tmp_path / "matrix.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected a flat float vector .* shape \(2, 3\)"):
        load_published(tmp_path / "matrix.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"not a plain \.npy array"):
        load_published(tmp_path / "obj.npy")
    with pytest.raises(ValueError, match="no published OPEN weights 'pong'; known: ant, asterix"):
        load_published("pong")


def reference_updates(meta, steps, ablate=(), use_gru=True):
    """OPEN written directly from the paper with flax's own GRUCell and MLP, one tensor at a time
    in flax's (elements, 19) layout: the oracle for the fused, feature-major ``to_optax``."""
    import flax.linen as nn

    gru, mlp = nn.GRUCell(features=8), open_opt._mlp(16)
    keep = np.ones(19)
    keep[[i for g in ablate for i in open_opt.FEATURE_GROUPS[g]]] = 0.0
    decays = jnp.asarray(open_opt.DECAYS)
    state, out = {}, []
    for params, grads, extra in steps:
        names = sorted(params)  # the tree order
        # One normal draw over all elements, cut into the leaves in tree order.
        sizes = [jnp.size(params[n]) for n in names]
        draws = jnp.split(jax.random.normal(extra["key"], (sum(sizes),)), np.cumsum(sizes)[:-1])
        raw = {}
        for name, eps in zip(names, draws, strict=True):
            p, g = jnp.atleast_1d(params[name]), jnp.atleast_1d(grads[name])
            m = decays * state.get((name, "m"), 0.0) + (1 - decays) * g[..., None]
            first = jnp.concatenate(
                [
                    p[..., None],
                    jnp.sign(m),
                    jnp.log(jnp.abs(m) + 1e-13),
                    jnp.sign(g)[..., None],
                    jnp.log(jnp.abs(g) + 1e-13)[..., None],
                ],
                axis=-1,
            )
            first = first / jnp.sqrt(1e-5 + jnp.mean(first**2, axis=tuple(range(p.ndim)), keepdims=True))
            a = extra["activations"][name] + 1e-11
            dormancy = jnp.broadcast_to(a / jnp.mean(jnp.abs(a)), p.shape)[..., None]
            const = jnp.array([extra["training_progress"], extra["layer_props"][name], extra["batch_progress"]])
            x = jnp.concatenate([first, jnp.broadcast_to(const, (*p.shape, 3)), dormancy], axis=-1) * keep
            if use_gru:
                h, x = gru.apply(meta["gru_params"], state.get((name, "h"), jnp.zeros((*p.shape, 8))), x)
                state[name, "h"] = h
            o = mlp.apply(meta["params"], x)
            noise = o[..., 2] * extra["actor_mask"][name] * eps.reshape(p.shape)
            raw[name] = 1e-3 * (o[..., 0] * jnp.exp(1e-3 * o[..., 1]) + noise)
            state[name, "m"] = m
        mean = sum(u.sum() for u in raw.values()) / sum(u.size for u in raw.values())
        out.append({n: -(u - mean).reshape(jnp.shape(params[n])) for n, u in raw.items()})
    return out


@pytest.mark.parametrize("variant", ["open", "ablated", "mlp"])
def test_fused_open_matches_the_flax_reference(variant):
    """Random weights and inputs, learned noise on, a matrix, a vector and a scalar, 3 steps."""
    kw = {"ablated": {"ablate": ("momentum", "layer_prop")}, "mlp": {"use_gru": False}}.get(variant, {})
    template = open_opt.init(jax.random.PRNGKey(0), use_gru=kw.get("use_gru", True))
    leaves, treedef = jax.tree.flatten(template)
    meta = treedef.unflatten([jax.random.normal(jax.random.PRNGKey(i), x.shape) for i, x in enumerate(leaves)])
    tx = open_opt.to_optax(meta, **kw)
    params = {
        "b": jnp.linspace(-1.0, 1.0, 5),
        "s": jnp.asarray(0.3),
        "w": jax.random.normal(jax.random.PRNGKey(1), (7, 5)),
    }
    state, steps, ours = tx.init(params), [], []
    for t in range(3):
        grads = {n: jax.random.normal(jax.random.PRNGKey(10 + t), jnp.shape(p)) for n, p in params.items()}
        extra = {
            "training_progress": 0.3 * t,
            "batch_progress": 0.5,
            "layer_props": {"b": 1.0, "s": 0.5, "w": 0.0},
            "activations": {"b": jnp.arange(1.0, 6.0), "s": jnp.ones(1), "w": jnp.array([0.1, 2.0, 0.0, 3.0, 1.0])},
            "actor_mask": {"b": 1.0, "s": 0.0, "w": 1.0},
            "key": jax.random.PRNGKey(100 + t),
        }
        updates, state = tx.update(grads, state, params, **extra)
        steps.append((params, grads, extra))
        ours.append(updates)
        params = optax.apply_updates(params, updates)
    for want, got in zip(reference_updates(meta, steps, **kw), ours, strict=True):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-4 * float(jnp.abs(want[name]).max()))


def test_both_lowerings_of_the_per_leaf_work_agree(monkeypatch):
    """Per-leaf statistics, columns and dormancy by slices and broadcasts (CPU) or by one segment
    reduction and gathers (accelerators): the same step, up to float summation order."""
    meta = jax.tree.map(
        lambda x: jax.random.normal(jax.random.PRNGKey(x.size), x.shape), open_opt.init(jax.random.PRNGKey(0))
    )
    tx = open_opt.to_optax(meta)
    params = {
        "b": jnp.linspace(-1.0, 1.0, 5),
        "s": jnp.asarray(0.3),
        "w": jax.random.normal(jax.random.PRNGKey(1), (7, 5)),
    }
    grads = jax.tree.map(lambda p: jnp.cos(3.0 * p) * 0.1, params)
    extra = {
        "layer_props": {"b": 1.0, "s": 0.5, "w": 0.0},
        "activations": {"b": jnp.arange(1.0, 6.0), "s": jnp.ones(1), "w": jnp.array([0.1, 2.0, 0.0, 3.0, 1.0])},
        "actor_mask": {"b": 1.0, "s": 0.0, "w": 1.0},
        "key": jax.random.PRNGKey(7),
        "training_progress": 0.25,
        "batch_progress": 0.5,
    }
    steps = []
    for on_cpu in (True, False):
        monkeypatch.setattr(open_opt, "PER_LEAF_ON_CPU", on_cpu)
        steps.append(jax.jit(lambda s: tx.update(grads, s, params, **extra))(tx.init(params)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), *steps)
    assert not np.allclose(steps[0][0]["w"], 0.0)


def test_bad_activations_name_the_leaf():
    tx = open_opt.to_optax(open_opt.init(jax.random.PRNGKey(0)))
    params = {"a": jnp.ones((4, 3)), "b": jnp.ones((4, 2))}
    with pytest.raises(
        ValueError, match=r"activations of parameter leaf 1 have shape \(4,\), which does not broadcast"
    ):
        tx.update(params, tx.init(params), params, activations={"a": jnp.ones(3), "b": jnp.ones(4)})


def sign_sgd_weights(gain: float, noise: float = 0.0) -> dict:
    """OPEN weights whose output is o0 = gain · d · sign(g), o1 = 0, o2 = noise.

    GRU: the update gate is shut (z ≈ 0, bias −30), so h' = n = tanh(x̂_13),
    x̂_13 the normalised gradient sign. MLP: unit 0 carries +h, unit 1 −h; each
    LayerNorm maps [v, −v, 0 …] to ±v/√(v²/8 + 1e-6); the relus then split the
    sign across units 0 and 1, and the head takes their difference.
    """
    p = jax.tree.map(jnp.zeros_like, open_opt.init(jax.random.PRNGKey(0)))
    gru = p["gru_params"]["params"]
    gru["iz"]["bias"] = jnp.full((8,), -30.0)
    gru["in"]["kernel"] = gru["in"]["kernel"].at[13, 0].set(1.0)
    mlp = p["params"]["params"]
    for ln in ("layers_1", "layers_4"):
        mlp[ln]["scale"] = jnp.ones(16)
    mlp["layers_0"]["kernel"] = mlp["layers_0"]["kernel"].at[0, 0].set(1.0).at[0, 1].set(-1.0)
    mlp["layers_3"]["kernel"] = mlp["layers_3"]["kernel"].at[0, 0].set(1.0).at[1, 0].set(-1.0)
    mlp["layers_3"]["kernel"] = mlp["layers_3"]["kernel"].at[0, 1].set(-1.0).at[1, 1].set(1.0)
    mlp["layers_6"]["kernel"] = mlp["layers_6"]["kernel"].at[0, 0].set(gain).at[1, 0].set(-gain)
    mlp["layers_6"]["bias"] = mlp["layers_6"]["bias"].at[2].set(noise)
    return p


def sign_sgd_step() -> float:
    """Closed form of the step size those weights give: 1e-3 · gain · d with gain 1."""
    v = math.tanh(1.0 / math.sqrt(1.0 + 1e-5))  # x̂_13 = sign(g) / sqrt(1e-5 + mean(sign²))
    c = v / math.sqrt(v * v / 8 + 1e-6)
    d = c / math.sqrt(c * c / 8 + 1e-6)
    return 1e-3 * d


def test_hand_set_weights_reduce_to_sign_sgd():
    """With the weights above OPEN is p ← p − η·(sign(g) − mean(sign(g))), η in closed form."""
    tx = open_opt.to_optax(sign_sgd_weights(gain=2.0), stochastic=False)
    params = {"actor": {"w": jax.random.normal(jax.random.PRNGKey(0), (7, 5))}, "critic": {"b": jnp.ones(3)}}
    state = tx.init(params)
    for step in range(3):  # the GRU state and momenta must not change the result
        grads = jax.tree.map(lambda p, s=step: jax.random.normal(jax.random.PRNGKey(10 + s), p.shape), params)
        updates, state = tx.update(grads, state, params)
        signs = jax.tree.map(jnp.sign, grads)
        mean_sign = jnp.mean(jnp.concatenate([x.ravel() for x in jax.tree.leaves(signs)]))
        eta = 2.0 * sign_sgd_step()
        for u, s in zip(jax.tree.leaves(updates), jax.tree.leaves(signs), strict=True):
            np.testing.assert_allclose(u, -eta * (s - mean_sign), rtol=1e-5, atol=1e-9)


def test_learned_noise_only_on_the_actor():
    tx = open_opt.to_optax(sign_sgd_weights(gain=0.0, noise=1.0))  # pure noise, scale step_mult
    params = {"actor": {"w": jnp.zeros((200, 50))}, "critic": {"w": jnp.zeros((200, 50))}}
    grads = jax.tree.map(jnp.ones_like, params)
    mask = {"actor": {"w": 1.0}, "critic": {"w": 0.0}}
    updates, _ = tx.update(grads, tx.init(params), params, actor_mask=mask, key=jax.random.PRNGKey(3))
    actor, critic = np.asarray(updates["actor"]["w"]), np.asarray(updates["critic"]["w"])
    np.testing.assert_allclose(actor.std(), 1e-3, rtol=0.03)  # ε · step_mult
    np.testing.assert_allclose(critic, critic.flat[0])  # only the (shared) mean correction
    np.testing.assert_allclose(actor.mean() * actor.size + critic.sum(), 0.0, atol=1e-6)  # zero-mean overall


@pytest.mark.parametrize(
    "rule,change",
    [
        ("open_no_param", "params"),
        ("open_no_dormancy", "activations"),
        ("open_no_training_prop", "training_progress"),
        ("open_no_layer_prop", "layer_props"),
        ("open_no_batch_prop", "batch_progress"),
    ],
)
def test_ablations_ignore_their_feature(rule, change):
    r = make_rule(rule, stochastic=False)
    tx = r.optimizer(r.init(jax.random.PRNGKey(1)))
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (6, 4))}
    grads = {"w": jax.random.normal(jax.random.PRNGKey(1), (6, 4))}
    extra = {
        "training_progress": 0.2,
        "batch_progress": 0.0,
        "layer_props": {"w": 0.0},
        "activations": {"w": jnp.arange(1.0, 5.0)},
    }
    other = dict(
        extra, training_progress=0.9, batch_progress=1.0, layer_props={"w": 1.0}, activations={"w": jnp.ones(4)}
    )
    p2 = {"w": params["w"] * 3.0} if change == "params" else params
    kw2 = {**extra, change: other[change]} if change != "params" else extra
    a, _ = tx.update(grads, tx.init(params), params, **extra)
    b, _ = tx.update(grads, tx.init(p2), p2, **kw2)
    np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)
    full = make_rule("open", stochastic=False)
    tx_full = full.optimizer(r.init(jax.random.PRNGKey(1)))  # same weights, feature switched on
    c, _ = tx_full.update(grads, tx_full.init(p2), p2, **kw2)
    assert not np.allclose(a["w"], c["w"], rtol=1e-6)


def test_mlp_only_variant_has_no_recurrent_state():
    r = make_rule("open_mlp")
    tx = r.optimizer(r.init(jax.random.PRNGKey(0)))
    state = tx.init({"w": jnp.zeros(3)})
    assert state.carry is None
    updates, _ = tx.update({"w": jnp.ones(3)}, state, {"w": jnp.zeros(3)})
    assert np.isfinite(np.asarray(updates["w"])).all()


@pytest.mark.slow
def test_published_open_in_a_plain_supervised_flax_loop():
    """No extra arguments at all: the documented fallbacks apply, and scalars work."""
    import flax.linen as nn

    model = nn.Dense(1)
    x = jax.random.normal(jax.random.PRNGKey(0), (128, 4))
    y = x @ jnp.array([[1.0], [-1.0], [0.5], [2.0]])
    params = {"dense": model.init(jax.random.PRNGKey(1), x), "scale": jnp.ones(())}
    loss = lambda p: jnp.mean((p["scale"] * model.apply(p["dense"], x) - y) ** 2)
    meta, sizes = load_published("multi")
    for tx in (open_opt.to_optax(meta, **sizes, total_steps=300), open_opt.to_optax(sign_sgd_weights(5.0))):
        p, state = params, tx.init(params)
        start = float(loss(p))
        for _ in range(300):
            updates, state = tx.update(jax.grad(loss)(p), state, p)
            p = optax.apply_updates(p, updates)
        assert np.isfinite(float(loss(p)))
    assert float(loss(p)) < 0.5 * start  # the sign-SGD weights optimise


@pytest.mark.slow
def test_published_open_runs_inside_our_ppo(cartpole, tiny_config):
    from metalearn.inner import make_train
    from metalearn.rules import published_rule

    rule, meta = published_rule("breakout")
    result = jax.jit(make_train(cartpole, tiny_config, optimizer=rule.optimizer))(meta, jax.random.PRNGKey(0))
    assert not bool(result.diverged)
    assert np.isfinite(np.asarray(result.curve)).all()


def test_bad_open_hyper_parameters():
    with pytest.raises(ValueError, match=r"unknown feature group\(s\) \['grad'\] in ablate; allowed: param, momentum"):
        make_rule("open", ablate=("grad",))
    with pytest.raises(ValueError, match="OPEN reads the parameters"):
        tx = open_opt.to_optax(open_opt.init(jax.random.PRNGKey(0)))
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))


@pytest.mark.slow
def test_open_is_a_rule_the_meta_trainer_evolves():
    from metalearn.meta import ESTrainer, MetaConfig

    from .conftest import tiny_meta_dict

    d = tiny_meta_dict(population=4)
    d["rule"] = {"name": "open", "kwargs": {"zero_init": True}}
    d["strategy"].update(sigma=0.03, optimizer_kwargs={"b1": 0.99})
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state = trainer.init()
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(trainer.mean_params(state)))
    state, metrics = trainer.generation(state)
    assert int(metrics.nan_count) == 0 and np.isfinite(float(metrics.mean_fitness))
    assert any(float(jnp.abs(x).max()) > 0.0 for x in jax.tree.leaves(trainer.mean_params(state)))
