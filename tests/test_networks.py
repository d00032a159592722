"""Actor/critic networks, their activity trees, layer proportions and distributions."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.inner import Actor, Critic, layer_proportions
from metalearn.inner.distributions import Categorical, DiagGaussian


def test_activity_tree_matches_params_and_broadcasts():
    actor = Actor(action_dim=3, discrete=False, hidden_size=8, aux_head_dim=5)
    obs = jax.random.normal(jax.random.PRNGKey(0), (10, 4))
    params = actor.init(jax.random.PRNGKey(1), obs[0])
    dist, aux, acts = actor.apply(params, obs)
    assert jax.tree.structure(acts) == jax.tree.structure(params)
    for p, a in zip(jax.tree.leaves(params), jax.tree.leaves(acts), strict=True):
        assert jnp.broadcast_shapes(p.shape, a.shape) == p.shape
    assert aux.shape == (10, 5) and dist.mean.shape == (10, 3)
    # Hidden-unit activity is the batch mean of |post-activation| (tanh by default).
    h0 = jnp.tanh(obs @ params["params"]["Dense_0"]["kernel"] + params["params"]["Dense_0"]["bias"])
    np.testing.assert_allclose(acts["params"]["Dense_0"]["kernel"], jnp.abs(h0).mean(0), rtol=1e-5)


def test_critic_outputs_scalar_value_and_activity():
    critic = Critic(hidden_size=8)
    obs = jnp.ones((6, 4))
    params = critic.init(jax.random.PRNGKey(0), obs[0])
    value, acts = critic.apply(params, obs)
    assert value.shape == (6,)
    assert acts["params"]["Dense_2"]["bias"].shape == (1,)


def test_layer_proportions_count_log_std_as_last_layer():
    actor = Actor(action_dim=2, discrete=False, hidden_size=4, num_hidden_layers=2)
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros(3))
    props = layer_proportions(params)["params"]
    got = {k: float(jax.tree.leaves(v)[0]) for k, v in props.items()}
    assert got == pytest.approx({"Dense_0": 0.0, "Dense_1": 1 / 3, "Dense_2": 2 / 3, "log_std": 1.0})
    critic = Critic(hidden_size=4, num_hidden_layers=11)  # Dense_10 must sort after Dense_9
    cprops = layer_proportions(critic.init(jax.random.PRNGKey(0), jnp.zeros(3)))["params"]
    assert float(cprops["Dense_10"]["kernel"]) == pytest.approx(10 / 11) and float(cprops["Dense_11"]["bias"]) == 1.0


def test_categorical_against_closed_form():
    logits = jnp.array([[0.3, -1.0, 2.0]])
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    d = Categorical(logits)
    np.testing.assert_allclose(d.log_prob(jnp.array([2])), np.log(p[2]), rtol=1e-6)
    np.testing.assert_allclose(d.entropy(), -(p * np.log(p)).sum(), rtol=1e-6)
    samples = Categorical(jnp.tile(logits, (20000, 1))).sample(jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.bincount(np.asarray(samples), minlength=3) / 20000, p, atol=0.015)


def test_gaussian_against_closed_form():
    mean, log_std = jnp.array([[0.5, -1.0]]), jnp.array([0.2, -0.3])
    a = jnp.array([[1.0, 0.0]])
    d = DiagGaussian(mean, log_std)
    std = np.exp(np.asarray(log_std))
    want = sum(
        -0.5 * ((a[0, i] - mean[0, i]) / std[i]) ** 2 - math.log(std[i] * math.sqrt(2 * math.pi)) for i in range(2)
    )
    np.testing.assert_allclose(d.log_prob(a), want, rtol=1e-6)
    np.testing.assert_allclose(d.entropy(), sum(0.5 * math.log(2 * math.pi * math.e * s**2) for s in std), rtol=1e-6)
