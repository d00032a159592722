"""Environment registry, adapters and wrappers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.envs import (
    GYMNAX_ENVS,
    LogWrapper,
    NormalizeObservation,
    RunningMeanStd,
    VecEnv,
    list_envs,
    make_env,
    resolve_env_name,
    wrap_for_training,
)


def test_registry_covers_gymnax_families_and_brax():
    import gymnax

    names = list_envs()
    assert set(GYMNAX_ENVS) == set(gymnax.registered_envs)  # nothing lost or renamed by a gymnax upgrade
    for expected in ("CartPole-v1", "Breakout-MinAtar", "Catch-bsuite", "FourRooms-misc", "brax/ant", "brax/humanoid"):
        assert expected in names


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown environment 'CartPol-v1'.*CartPole-v1"):
        make_env("CartPol-v1")
    with pytest.raises(ValueError, match="brax/ant"):
        make_env("brax/ants")


def test_names_are_case_insensitive():
    assert resolve_env_name("breakout-minatar") == "Breakout-MinAtar"


def test_bad_brax_backend_names_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown brax backend 'warp'.*spring"):
        make_env("brax/ant", backend="warp")


@pytest.mark.parametrize("name", [n for n in GYMNAX_ENVS if n != "MNISTBandit-bsuite"])
def test_every_gymnax_env_has_a_flat_spec(name):
    spec = make_env(name).spec
    assert spec.obs_dim >= 1 and spec.action_dim >= 1 and spec.max_episode_steps >= 1
    if not spec.discrete:
        assert len(spec.action_low) == len(spec.action_high) == spec.action_dim


@pytest.mark.parametrize("name", ["Breakout-MinAtar", "Pendulum-v1", "Catch-bsuite"])
def test_reset_and_step_shapes(name):
    env = make_env(name)
    obs, state = env.reset(jax.random.PRNGKey(0), env.default_params)
    assert obs.shape == (env.spec.obs_dim,) and obs.dtype == jnp.float32
    action = jnp.zeros((), jnp.int32) if env.spec.discrete else jnp.zeros((env.spec.action_dim,))
    obs, state, reward, terminated, truncated, _ = env.step(jax.random.PRNGKey(1), state, action, env.default_params)
    assert obs.shape == (env.spec.obs_dim,)
    assert reward.shape == () and terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_


def test_log_wrapper_reports_episode_returns(cartpole):
    """CartPole pays 1 per step, so a finished episode's return equals its length."""
    env = VecEnv(LogWrapper(cartpole))
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    _obs, state = env.reset(keys, cartpole.default_params)

    def step(carry, key):
        state, seen = carry
        actions = jax.random.randint(key, (8,), 0, 2)
        _, state, _, _, _, info = env.step(jax.random.split(key, 8), state, actions, cartpole.default_params)
        done = info["returned_episode"]
        ret, length = info["returned_episode_returns"], info["returned_episode_lengths"]
        ok = jnp.where(done, ret == length, True)
        return (state, seen + done.sum()), ok

    (_, seen), ok = jax.lax.scan(step, (state, 0), jax.random.split(jax.random.PRNGKey(1), 200))
    assert int(seen) > 8  # random play ends episodes within ~20 steps
    assert bool(ok.all())


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32) for n in (7, 1, 30, 12)]
    stats = RunningMeanStd.create((5,))
    for b in batches:
        stats = stats.update(jnp.asarray(b))
    data = np.concatenate(batches)
    # The 1e-4 pseudo-count of the initial (0, 1) estimate shifts results by ~1e-5.
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-4, atol=1e-4)


def test_normalize_observation_freezes_stats_for_evaluation(cartpole):
    keys = jax.random.split(jax.random.PRNGKey(0), 16)
    train_env = NormalizeObservation(VecEnv(LogWrapper(cartpole)))
    eval_env = NormalizeObservation(VecEnv(LogWrapper(cartpole)), update_stats=False)
    _, state = train_env.reset(keys, cartpole.default_params)
    stats = state.obs_stats
    obs, eval_state = eval_env.reset_with_stats(keys, cartpole.default_params, stats)
    _, eval_state, *_ = eval_env.step(keys, eval_state, jnp.zeros(16, jnp.int32), cartpole.default_params)
    assert eval_state.obs_stats.count == stats.count  # frozen
    raw, _ = VecEnv(cartpole).reset(keys, cartpole.default_params)
    np.testing.assert_allclose(obs, (raw - stats.mean) / jnp.sqrt(stats.var + 1e-8), rtol=1e-5)


def test_clip_action_keeps_pendulum_in_bounds():
    pend = make_env("Pendulum-v1")
    env = wrap_for_training(pend)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    _, state = env.reset(keys, pend.default_params)
    _, state, *_ = env.step(keys, state, jnp.array([[100.0], [-100.0]]), pend.default_params)
    np.testing.assert_allclose(state.env_state.last_u, [2.0, -2.0])


@pytest.mark.slow
def test_brax_env_truncates_at_episode_length_and_resets():
    env = make_env("brax/inverted_pendulum", episode_length=5)
    obs, state = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    flags = []
    for t in range(7):
        obs, state, reward, terminated, truncated, _ = step(jax.random.PRNGKey(t), state, jnp.zeros(1))
        flags.append((bool(terminated), bool(truncated), int(state.time)))
        assert np.isfinite(np.asarray(obs)).all() and np.isfinite(float(reward))
    # Zero force keeps the pole up for 5 steps: truncation (not termination) at t=5, then a fresh episode.
    assert flags[4] == (False, True, 0)
    assert flags[5] == (False, False, 1)
