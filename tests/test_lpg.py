"""LPG / TA-LPG: the backward pass over trajectories, the agent loss, and the rule inside the trainer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.inner import TrainConfig, make_train
from metalearn.rules import make_rule
from objectives import Objective, ObjectiveInputs, TrajectoryInputs, lpg

T, E, K = 10, 2, 4
TERMINAL = 4  # env 0's episode ends at step 4; env 1 has no terminal


def trajectory(seed: int = 0, progress: float = 0.5) -> TrajectoryInputs:
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    done = jnp.zeros((T, E), bool).at[TERMINAL, 0].set(True)
    return TrajectoryInputs(
        reward=jax.random.normal(k[0], (T, E)),
        done=done,
        pi=jax.random.uniform(k[1], (T, E), minval=0.1, maxval=0.9),
        prediction=jax.nn.softmax(jax.random.normal(k[2], (T, E, K))),
        next_prediction=jax.nn.softmax(jax.random.normal(k[3], (T, E, K))),
        progress=jnp.float32(progress),
        num_updates=jnp.float32(100.0),
    )


@pytest.fixture(scope="module")
def meta():
    # Scaled up so every dependency is far from zero (the checks below must not pass by vanishing weights).
    return jax.tree.map(lambda w: 2.0 * w, lpg.init(jax.random.PRNGKey(1), hidden=16, embed=8, target_dim=K))


def test_targets_shapes_and_simplex(meta):
    out = lpg.targets(meta, trajectory())
    assert out["pi_hat"].shape == (T, E) and out["y_hat"].shape == (T, E, K)
    np.testing.assert_allclose(out["y_hat"].sum(-1), 1.0, rtol=1e-5)
    assert bool(jnp.all(out["y_hat"] >= 0))


@pytest.mark.slow
def test_backward_pass_respects_episode_boundaries(meta):
    """A target at t ≤ terminal reads steps t … terminal only; y(s_{t+1}) is masked at the terminal."""
    traj = trajectory()

    def jac(field: str, t: int):
        def f(x):
            return lpg.targets(meta, traj._replace(**{field: x}))["pi_hat"][t, 0]

        return jax.grad(f)(getattr(traj, field))

    for t in range(TERMINAL + 1):
        for field in ("reward", "pi", "prediction", "next_prediction"):
            g = jac(field, t)
            # Nothing after the terminal, nothing before t (the pass runs backward), nothing in env 1.
            assert float(jnp.abs(g[TERMINAL + 1 :]).sum()) == 0.0, (field, t)
            assert float(jnp.abs(g[:t]).sum()) == 0.0, (field, t)
            assert float(jnp.abs(g[:, 1]).max()) == 0.0, (field, t)
        # y(s_{t+1}) at the terminal step is the next episode's first state: masked out.
        assert float(jnp.abs(jac("next_prediction", t)[TERMINAL, 0]).max()) == 0.0
        # Not vacuous: within the episode every later step's reward matters.
        r = jac("reward", t)
        assert all(abs(float(r[s, 0])) > 1e-6 for s in range(t, TERMINAL + 1)), (t, r[:, 0])
    # Steps after the terminal do depend on the rest of their own episode.
    assert abs(float(jac("reward", TERMINAL + 1)[T - 1, 0])) > 1e-6


def test_temporal_variant_reads_progress_and_horizon():
    meta = lpg.init(jax.random.PRNGKey(2), hidden=16, embed=8, target_dim=K, temporal=True)
    a = lpg.targets(meta, trajectory(progress=0.0))["pi_hat"]
    b = lpg.targets(meta, trajectory(progress=1.0))["pi_hat"]
    c = lpg.targets(meta, trajectory(progress=0.0)._replace(num_updates=jnp.float32(1e4)))["pi_hat"]
    assert float(jnp.abs(a - b).max()) > 1e-4 and float(jnp.abs(a - c).max()) > 1e-4
    plain = lpg.init(jax.random.PRNGKey(2), hidden=16, embed=8, target_dim=K)
    np.testing.assert_array_equal(
        lpg.targets(plain, trajectory(progress=0.0))["pi_hat"], lpg.targets(plain, trajectory(progress=1.0))["pi_hat"]
    )


def test_agent_loss_matches_formula_and_gradients():
    B = 6
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    pi_hat = jax.random.normal(k[0], (B,))
    y_hat = jax.nn.softmax(jax.random.normal(k[1], (B, K)))
    logits = jax.random.normal(k[2], (B, K))
    log_prob = jnp.log(jax.random.uniform(k[3], (B,), minval=0.1, maxval=0.9))

    def x(lp, lg):
        return ObjectiveInputs(
            ratio=jnp.exp(lp - log_prob),
            advantage=jnp.zeros(B),
            log_prob=lp,
            old_log_prob=log_prob,
            progress=jnp.float32(0.0),
            num_updates=jnp.float32(10.0),
            rule_targets={"pi_hat": pi_hat, "y_hat": y_hat},
            prediction=lg,
        )

    objective = lpg.to_objective(y_coef=0.5)
    assert objective.kind == "trajectory"

    def loss(inputs):
        return objective({}, inputs)

    y = np.asarray(jax.nn.softmax(logits), np.float64)
    yh = np.asarray(y_hat, np.float64)
    expected = -np.asarray(pi_hat) * np.asarray(log_prob) + 0.5 * (yh * (np.log(yh) - np.log(y))).sum(-1)
    np.testing.assert_allclose(loss(x(log_prob, logits)), expected, rtol=1e-5, atol=1e-6)
    # ∂/∂log π = −π̂; ∂/∂logits = 0.5 (softmax(logits) − ŷ) (the KL's gradient in closed form).
    g_lp, g_lg = jax.grad(lambda lp, lg: loss(x(lp, lg)).sum(), argnums=(0, 1))(log_prob, logits)
    np.testing.assert_allclose(g_lp, -pi_hat, rtol=1e-6)
    np.testing.assert_allclose(g_lg, 0.5 * (jax.nn.softmax(logits) - y_hat), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="aux_head_dim"):
        loss(x(log_prob, logits)._replace(prediction=None))


LPG_TINY = TrainConfig(
    total_timesteps=6 * 4 * 16,
    num_envs=4,
    num_steps=16,
    update_epochs=1,
    num_minibatches=1,
    vf_coef=0.0,
    aux_head_dim=K,
    eval_envs=0,
)


@pytest.mark.slow
def test_lpg_rule_trains_an_agent_and_bad_configs_fail(cartpole):
    rule = make_rule("ta_lpg", hidden=16, embed=8, target_dim=K)
    assert isinstance(rule.objective, Objective) and rule.objective.kind == "trajectory"
    meta = rule.init(jax.random.PRNGKey(0))
    train = make_train(cartpole, LPG_TINY.replace(return_params=True), objective=rule.objective)
    result = train(meta, jax.random.PRNGKey(0))
    assert not bool(result.diverged) and np.isfinite(float(result.final_return))
    # The targets reach the prediction head: its parameters moved from their initial values.
    init = make_train(cartpole, LPG_TINY.replace(total_timesteps=4 * 16, return_params=True))
    head0 = init(None, jax.random.PRNGKey(0)).params["actor"]["params"]["aux_head"]["kernel"]
    assert float(jnp.abs(result.params["actor"]["params"]["aux_head"]["kernel"] - head0).max()) > 1e-4
    with pytest.raises(ValueError, match=r"aux_head_dim=0 is invalid for it"):
        make_train(cartpole, LPG_TINY.replace(aux_head_dim=0), objective=rule.objective)
    with pytest.raises(ValueError, match=r"predict k=4 values but the agent's prediction head has 3"):
        make_train(cartpole, LPG_TINY.replace(aux_head_dim=3), objective=rule.objective)(meta, jax.random.PRNGKey(0))


@pytest.mark.slow
def test_lpg_is_a_rule_the_meta_trainer_evolves():
    from .conftest import assert_meta_training_moves_the_rule, tiny_meta_dict

    d = tiny_meta_dict(population=4)
    d["rule"] = {"name": "ta_lpg", "kwargs": {"hidden": 8, "embed": 4, "target_dim": K}}
    d["tasks"][0]["preset"] = "cartpole-lpg"
    d["tasks"][0]["train"].update(update_epochs=1, num_minibatches=1, aux_head_dim=K)
    d["strategy"].update(sigma=0.1)
    assert_meta_training_moves_the_rule(d)


def test_rule_inputs_with_wrong_shapes_fail_at_the_boundary(meta):
    """chex names the bad input when a rule is called (at trace time), instead of an XLA shape error later."""
    objective = lpg.to_objective()
    traj = trajectory()
    assert objective.rule_targets(meta, traj)["pi_hat"].shape == (T, E)
    with pytest.raises(AssertionError):
        objective.rule_targets(meta, traj._replace(done=traj.done.astype(jnp.float32)))  # done must be bool
    with pytest.raises(AssertionError):
        objective.rule_targets(meta, traj._replace(reward=traj.reward[:-1]))  # (T-1, E) next to (T, E)
    with pytest.raises(AssertionError):
        objective.rule_targets(meta, traj._replace(prediction=traj.prediction[0]))  # rank 2, not (T, E, k)
    x = ObjectiveInputs(
        ratio=jnp.ones(3),
        advantage=jnp.ones(4),
        log_prob=jnp.zeros(3),
        old_log_prob=jnp.zeros(3),
        progress=jnp.float32(0.0),
        num_updates=jnp.float32(1.0),
    )
    with pytest.raises(AssertionError):
        objective({}, x)  # advantage (4,) next to ratio (3,)
