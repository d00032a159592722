"""GAE against an independent numpy loop."""

from __future__ import annotations

import numpy as np
import pytest

from metalearn.inner import gae


def gae_numpy(rewards, values, dones, last_value, gamma, lam):
    T = len(rewards)
    adv = np.zeros_like(rewards)
    next_adv = np.zeros_like(last_value)
    for t in reversed(range(T)):
        next_value = last_value if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        next_adv = delta + gamma * lam * nonterminal * next_adv
        adv[t] = next_adv
    return adv, adv + values


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 1.0), (1.0, 0.0)])
def test_gae_matches_numpy_loop(gamma, lam):
    rng = np.random.default_rng(0)
    T, E = 37, 5
    rewards = rng.normal(size=(T, E)).astype(np.float32)
    values = rng.normal(size=(T, E)).astype(np.float32)
    dones = (rng.random((T, E)) < 0.15).astype(np.float32)
    last_value = rng.normal(size=(E,)).astype(np.float32)
    adv, targets = gae(rewards, values, dones, last_value, gamma, lam)
    want_adv, want_targets = gae_numpy(rewards, values, dones, last_value, gamma, lam)
    np.testing.assert_allclose(adv, want_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, want_targets, rtol=1e-5, atol=1e-5)


def test_gae_lambda_one_is_discounted_return_minus_value():
    """With λ = 1 and no terminals, the target is the bootstrapped discounted return."""
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[0.5], [0.1], [-0.2]], np.float32)
    dones = np.zeros((3, 1), np.float32)
    _, targets = gae(rewards, values, dones, np.array([4.0], np.float32), 0.5, 1.0)
    expected0 = 1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4
    np.testing.assert_allclose(targets[0, 0], expected0, rtol=1e-6)
