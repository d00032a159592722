"""Rules: the learned LR-schedule optimizer against Adam, rule files, registry errors."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_optimizers import lr_schedule
from metalearn.pytree_io import PytreeFileError, save_pytree
from metalearn.rules import list_rules, load_rule, make_rule, save_rule, with_kwargs


def regression_loop(tx, steps=50):
    """A plain supervised loop a user might write (no extra arguments passed)."""
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    state = tx.init(params)

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    for _ in range(steps):
        grads = jax.grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, float(loss(params))


def test_constant_schedule_is_exactly_adam():
    meta = lr_schedule.init(jax.random.PRNGKey(0), knots=5, init_lr=0.05)
    ours, loss = regression_loop(lr_schedule.to_optax(meta))
    adam, _ = regression_loop(optax.adam(0.05, eps=1e-5))
    chex.assert_trees_all_close(ours, adam, rtol=1e-5, atol=1e-6)
    assert loss < 0.5


def test_schedule_interpolates_log_lr_over_progress():
    meta = {"log_lr": jnp.log(jnp.array([1e-2, 1e-4, 1e-3]))}
    lrs = [float(lr_schedule.learning_rate(meta, jnp.float32(p))) for p in (0.0, 0.25, 0.5, 1.0, 2.0)]
    np.testing.assert_allclose(lrs, [1e-2, 1e-3, 1e-4, 1e-3, 1e-3], rtol=1e-5)


def test_rule_file_round_trip_and_errors(tmp_path):
    rule = make_rule("lr_schedule", knots=4, init_lr=1e-3)
    meta = {"log_lr": jnp.arange(4.0)}
    save_rule(tmp_path / "r.npz", rule, meta, generation=7)
    loaded, params, manifest = load_rule(tmp_path / "r.npz")
    assert loaded.name == "lr_schedule" and manifest["generation"] == 7 and manifest["kwargs"]["knots"] == 4
    np.testing.assert_array_equal(params["log_lr"], np.arange(4.0))

    # Wrong size for the rule it names: the message gives both shapes.
    save_rule(tmp_path / "wrong.npz", make_rule("lr_schedule", knots=4), {"log_lr": jnp.zeros(6)})
    with pytest.raises(PytreeFileError, match=r"leaf 'log_lr' has shape \(6,\) float32, expected \(4,\) float32"):
        load_rule(tmp_path / "wrong.npz")
    # Another kind of file, a truncated one, and one that is not ours at all.
    save_pytree(tmp_path / "ckpt.npz", meta, format="metalearn-checkpoint")
    with pytest.raises(PytreeFileError, match="holds a 'metalearn-checkpoint' file, expected 'metalearn-rule'"):
        load_rule(tmp_path / "ckpt.npz")
    data = (tmp_path / "r.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(PytreeFileError, match="corrupt or truncated"):
        load_rule(tmp_path / "cut.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(PytreeFileError, match=r"a single array, not a metalearn \.npz file"):
        load_rule(tmp_path / "plain.npy")


def test_pickled_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", log_lr=np.array([object()], dtype=object))
    with pytest.raises(PytreeFileError):
        load_rule(tmp_path / "obj.npz")


def test_unknown_rule_and_hyper_parameter():
    assert "lr_schedule" in list_rules()
    with pytest.raises(ValueError, match="unknown rule 'lr_schedul'; did you mean: lr_schedule"):
        make_rule("lr_schedul")
    with pytest.raises(
        ValueError,
        match=r"no hyper-parameter\(s\) \['knotz'\]; allowed: \['b1', 'b2', 'eps', 'eps_root', 'init_lr', 'knots'\]",
    ):
        make_rule("lr_schedule", knotz=3)
    with pytest.raises(ValueError, match="knots=0 must be >= 1"):
        make_rule("lr_schedule", knots=0)


def test_a_rule_takes_new_hyper_parameters_that_fit_its_meta_parameters():
    rule = make_rule("lr_schedule", knots=4)
    meta_params = rule.init(jax.random.PRNGKey(0))
    changed = with_kwargs(rule, meta_params, init_lr=3e-3, b1=0.8)
    assert changed.kwargs["knots"] == 4 and changed.kwargs["b1"] == 0.8
    ours, _ = regression_loop(changed.optimizer(meta_params))
    adam, _ = regression_loop(optax.adam(2.5e-4, b1=0.8, eps=1e-5))  # the knots keep init's lr
    chex.assert_trees_all_close(ours, adam, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\{'knots': 5\} change\(s\) the shapes of its meta-parameters"):
        with_kwargs(rule, meta_params, knots=5)
    with pytest.raises(ValueError, match=r"no hyper-parameter\(s\) \['knotz'\]"):
        with_kwargs(rule, meta_params, knotz=5)
