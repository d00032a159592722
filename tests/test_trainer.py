"""The PPO/A2C trainer: results, determinism, vmap, and the hooks learned rules use."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalearn.envs import make_env
from metalearn.inner import TrainConfig, Trainer, default_optimizer, get_preset, make_train, resolve_task
from objectives import ObjectiveInputs, ppo_clip

from .conftest import TINY


def assert_same_result(a, b, rtol=0.0):
    chex.assert_trees_all_close(a, b, rtol=rtol, atol=rtol)  # same structure, leaves equal within rtol


def test_result_shapes_and_finiteness(tiny_result):
    r = tiny_result
    n = TINY.num_updates
    assert r.curve.shape == (2, n) and r.final_return.shape == (2,) and r.eval_return.shape == (2,)
    for name, values in r.metrics._asdict().items():
        assert values.shape == (2, n), name
        assert np.isfinite(np.asarray(values)).all(), name
    assert not np.asarray(r.diverged).any()
    np.testing.assert_allclose(r.final_return, np.asarray(r.curve)[:, -TINY.final_window :].mean(1), rtol=1e-6)
    assert (np.asarray(r.eval_return) > 0).all()  # CartPole pays +1 per step
    assert r.params is None  # not requested


def test_same_seed_gives_same_numbers(tiny_train, tiny_result):
    again = tiny_train(None, jax.random.split(jax.random.PRNGKey(0), 2))
    assert_same_result(again, tiny_result)


def test_vmap_over_seeds_equals_separate_runs(cartpole, tiny_result):
    single = jax.jit(make_train(cartpole, TINY))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    for i in range(2):
        alone = single(None, keys[i])
        assert_same_result(alone, jax.tree.map(lambda x, i=i: x[i], tiny_result), rtol=1e-4)


def test_explicit_optax_optimizer_equals_default(cartpole, tiny_result):
    train = jax.vmap(make_train(cartpole, TINY, optimizer=default_optimizer(TINY)), in_axes=(None, 0))
    assert_same_result(jax.jit(train)(None, jax.random.split(jax.random.PRNGKey(0), 2)), tiny_result)


def progress_annealed_adam(lr: float, num_updates: int) -> optax.GradientTransformationExtraArgs:
    """A 'learned optimizer'-shaped rule: Adam whose step size reads training_progress.

    lr · (1 − progress·(N−1)/N) is PureJaxRL's annealing, so with the trainer's
    progress this must reproduce the default annealed Adam.
    """
    adam = optax.scale_by_adam(eps=1e-5)

    def update(updates, state, params=None, *, training_progress, **extra):
        updates, state = adam.update(updates, state, params)
        step = -lr * (1.0 - training_progress * (num_updates - 1) / num_updates)
        return jax.tree.map(lambda u: step * u, updates), state

    return optax.GradientTransformationExtraArgs(adam.init, update)


@pytest.mark.slow
def test_learned_optimizer_receives_training_progress(cartpole, tiny_result):
    rule = lambda meta_params: progress_annealed_adam(meta_params, TINY.num_updates)
    train = jax.jit(jax.vmap(make_train(cartpole, TINY, optimizer=rule), in_axes=(None, 0)))
    result = train(jnp.float32(TINY.lr), jax.random.split(jax.random.PRNGKey(0), 2))
    assert_same_result(result, tiny_result, rtol=1e-4)


class Seen(NamedTuple):
    training_progress: jax.Array
    batch_progress: jax.Array
    layer_props: dict
    actor_mask: dict
    activations: dict
    key: jax.Array
    steps: jax.Array


def recording_sgd() -> optax.GradientTransformationExtraArgs:
    """SGD that keeps the extra arguments of its latest step in its state."""

    def init(params):
        scalars = jax.tree.map(lambda p: jnp.zeros(()), params)
        units = jax.tree.map(lambda p: jnp.zeros(p.shape[-1:]), params)
        return Seen(
            jnp.zeros(()), jnp.zeros(()), scalars, scalars, units, jax.random.PRNGKey(0), jnp.zeros((), jnp.int32)
        )

    def update(updates, state, params=None, **extra):
        assert set(extra) == {"training_progress", "batch_progress", "layer_props", "activations", "actor_mask", "key"}
        seen = Seen(steps=state.steps + 1, **extra)
        return jax.tree.map(lambda g: -1e-3 * g, updates), seen

    return optax.GradientTransformationExtraArgs(init, update)


def test_learned_optimizer_receives_documented_extra_args(cartpole):
    config = TINY.replace(update_epochs=3)
    trainer = Trainer(cartpole, config, optimizer=recording_sgd())
    update = jax.jit(trainer.update)
    state, _ = update(None, trainer.init(None, jax.random.PRNGKey(0)))  # update 0
    state, _ = update(None, state)  # update 1
    seen = state.opt_state
    assert int(seen.steps) == 2 * config.steps_per_update
    assert float(seen.training_progress) == pytest.approx(1 / (config.num_updates - 1))
    assert float(seen.batch_progress) == 1.0  # last epoch of three: 2 / (3 - 1)
    assert {float(x) for x in jax.tree.leaves(seen.actor_mask["actor"])} == {1.0}
    assert {float(x) for x in jax.tree.leaves(seen.actor_mask["critic"])} == {0.0}
    props = seen.layer_props["actor"]["params"]
    assert [float(props[f"Dense_{i}"]["kernel"]) for i in range(3)] == [0.0, 0.5, 1.0]
    for p, a in zip(jax.tree.leaves(state.params), jax.tree.leaves(seen.activations), strict=True):
        assert jnp.broadcast_shapes(p.shape, a.shape) == p.shape
        assert (np.asarray(a) >= 0).all()
    key_before = seen.key
    state, _ = update(None, state)
    assert not np.array_equal(np.asarray(state.opt_state.key), np.asarray(key_before))


def scaled_ppo_clip(meta_params, x: ObjectiveInputs):
    return meta_params * ppo_clip(0.2)(None, x)


@pytest.mark.slow
def test_objective_hook_and_population_vmap(cartpole, tiny_result):
    train = make_train(cartpole, TINY, objective=scaled_ppo_clip)
    population = jnp.array([1.0, jnp.nan])
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    result = jax.jit(jax.vmap(jax.vmap(train, in_axes=(None, 0)), in_axes=(0, None)))(population, keys)
    assert result.curve.shape == (2, 2, TINY.num_updates)
    assert_same_result(jax.tree.map(lambda x: x[0], result), tiny_result)  # scale 1 is plain PPO
    np.testing.assert_array_equal(result.diverged, [[False, False], [True, True]])  # NaN objective is flagged


def test_objective_inputs_carry_progress_and_horizon(cartpole):
    seen = {}

    def spy(meta_params, x: ObjectiveInputs):
        seen["shapes"] = (x.ratio.shape, x.advantage.shape, x.progress.shape, x.num_updates.shape)
        return ppo_clip(0.2)(None, x) + 0.0 * x.progress * x.num_updates

    trainer = Trainer(cartpole, TINY, objective=spy)
    jax.eval_shape(trainer.train, None, jax.random.PRNGKey(0))
    assert seen["shapes"] == ((TINY.minibatch_size,), (TINY.minibatch_size,), (), ())


def test_returned_params_and_a2c(cartpole):
    config = TINY.replace(algorithm="a2c", update_epochs=1, num_minibatches=1, clip_value=False, return_params=True)
    result = jax.jit(make_train(cartpole, config))(None, jax.random.PRNGKey(0))
    assert set(result.params) == {"actor", "critic"}
    assert np.isfinite(np.asarray(result.curve)).all() and not bool(result.diverged)


def test_continuous_ppo_on_pendulum_is_finite():
    config = TINY.replace(normalize_obs=True, normalize_reward=True, eval_steps=200)
    result = jax.jit(make_train(make_env("Pendulum-v1"), config))(None, jax.random.PRNGKey(0))
    assert not bool(result.diverged)
    for leaf in jax.tree.leaves(result):
        assert np.isfinite(np.asarray(leaf)).all()
    assert float(result.eval_return) < 0  # Pendulum's rewards are costs


@pytest.mark.slow  # building brax/ant and compiling PPO on its physics
def test_continuous_ppo_on_brax_is_finite():
    config = TINY.replace(num_steps=8, total_timesteps=4 * 4 * 8, normalize_obs=True, eval_steps=20)
    result = jax.jit(make_train(make_env("brax/ant"), config))(None, jax.random.PRNGKey(0))
    assert not bool(result.diverged)
    for leaf in jax.tree.leaves(result):
        assert np.isfinite(np.asarray(leaf)).all()


def test_bad_optimizer_type_is_rejected(cartpole):
    with pytest.raises(TypeError, match=r"optimizer must be None, an optax\.GradientTransformation"):
        Trainer(cartpole, TINY, optimizer=0.001)


def test_env_name_string_is_accepted():
    assert Trainer("cartpole-v1", TrainConfig()).spec.name == "CartPole-v1"


def test_resolve_task_is_the_preset_with_its_overrides():
    p = get_preset("gridworld-lpg")
    assert resolve_task("gridworld-lpg") == (p.env, dict(p.env_kwargs), p.config)
    env, kwargs, config = resolve_task("cartpole", overrides=["lr=0.001", "num_envs=8"])
    assert (env, kwargs) == ("CartPole-v1", {}) and (config.lr, config.num_envs) == (0.001, 8)
    assert resolve_task("cartpole", overrides={"lr": 0.001, "num_envs": 8})[2] == config
    # Another env drops the preset's env kwargs unless new ones are given.
    assert resolve_task("gridworld-lpg", env="CartPole-v1")[:2] == ("CartPole-v1", {})
    assert resolve_task("gridworld-lpg", env_kwargs={"size": 5})[:2] == (p.env, {"size": 5})
    with pytest.raises(ValueError, match=r"unknown preset 'cartpol'; did you mean: cartpole"):
        resolve_task("cartpol")
