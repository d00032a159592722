"""The options that make LPG's meta-gradient follow the GROOVE reference (issue 37's "faithful LPG meta-gradients"):
a separate y network with its own clip and learning rate, the KL direction, and the experiment that combines them.
(The frozen critic, the unclipped meta-Adam and the float64 meta-gradient check are in test_metagrad.py.)"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalearn.inner import Actor, TrainConfig, Trainer, layer_proportions
from metalearn.rules import make_rule
from objectives import ObjectiveInputs, lpg

K = 4  # prediction size


def _inputs(logits: jax.Array, y_hat: jax.Array, pi_hat: jax.Array | None = None) -> ObjectiveInputs:
    b = logits.shape[0]
    zero = jnp.zeros((b,), logits.dtype)
    return ObjectiveInputs(
        ratio=jnp.ones((b,)),
        advantage=zero,
        log_prob=jnp.full((b,), -1.0),
        old_log_prob=jnp.full((b,), -1.0),
        progress=jnp.float32(0.0),
        num_updates=jnp.float32(10.0),
        rule_targets={"pi_hat": zero if pi_hat is None else pi_hat, "y_hat": y_hat},
        prediction=logits,
    )


# ------------------------------------------------------------------ the y network
def _actor(separate: bool) -> Actor:
    return Actor(action_dim=3, discrete=True, hidden_size=8, aux_head_dim=K, separate_prediction=separate)


def test_a_separate_prediction_network_takes_no_gradient_from_the_y_loss_to_the_policy():
    """The y term of LPG's loss (π̂ = 0) through the actor: with a shared torso it moves the policy's hidden
    layers; with its own torso, not one of the policy's parameters (exactly 0), while its own layers move."""
    obs = jax.random.normal(jax.random.PRNGKey(0), (16, 5))
    y_hat = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (16, K)))

    def y_loss_grads(separate: bool) -> dict:
        actor = _actor(separate)
        params = actor.init(jax.random.PRNGKey(2), obs[0])

        def loss(p):
            _, prediction, _ = actor.apply(p, obs)
            return lpg.agent_loss(_inputs(prediction, y_hat)).mean()

        return params, jax.grad(loss)(params)["params"]

    shared_params, shared = y_loss_grads(False)
    own_params, own = y_loss_grads(True)
    assert sorted(shared) == ["Dense_0", "Dense_1", "Dense_2", "aux_head"]
    assert sorted(own) == ["Dense_0", "Dense_1", "Dense_2", "aux_Dense_0", "aux_Dense_1", "aux_head"]
    for layer in ("Dense_0", "Dense_1"):
        assert float(jnp.abs(shared[layer]["kernel"]).max()) > 1e-6, layer  # the shared torso moves
    for layer in ("Dense_0", "Dense_1", "Dense_2"):
        for leaf in jax.tree.leaves(own[layer]):
            assert not np.any(np.asarray(leaf)), layer  # exactly zero
    for layer in ("aux_Dense_0", "aux_Dense_1", "aux_head"):
        assert float(jnp.abs(own[layer]["kernel"]).max()) > 1e-6, layer
    # The option adds layers and changes none: the policy's initial parameters (flax derives them from each
    # layer's name) are the same with it, so an agent seeded alike starts from the same policy.
    for layer in ("Dense_0", "Dense_1", "Dense_2", "aux_head"):
        np.testing.assert_array_equal(
            shared_params["params"][layer]["kernel"], own_params["params"][layer]["kernel"], err_msg=layer
        )


def test_layer_proportions_give_the_prediction_torso_its_policy_twins_proportion():
    params = _actor(True).init(jax.random.PRNGKey(0), jnp.zeros(5))
    _, _, acts = _actor(True).apply(params, jnp.ones((3, 5)))
    assert jax.tree.structure(acts) == jax.tree.structure(params)  # a learned optimizer reads both alike (OPEN)
    props = {k: float(jax.tree.leaves(v)[0]) for k, v in layer_proportions(params)["params"].items()}
    # three dense layers 0, 1/2, 1; y's hidden layers as the policy's, its head as the output layer
    want = {"Dense_0": 0.0, "Dense_1": 0.5, "Dense_2": 1.0, "aux_Dense_0": 0.0, "aux_Dense_1": 0.5, "aux_head": 1.0}
    assert props == pytest.approx(want)


def _one_update(config: TrainConfig, lr: float):
    """(initial actor params, actor params after one SGD step at ``lr``) of an LPG agent on CartPole."""
    rule = make_rule("lpg", hidden=8, embed=4, target_dim=K)
    trainer = Trainer("CartPole-v1", config, optimizer=optax.sgd(lr), objective=rule.objective)
    meta = rule.init(jax.random.PRNGKey(0))
    state = trainer.init(meta, jax.random.PRNGKey(1))
    after, _ = jax.jit(trainer.update)(meta, state)
    return state.params["actor"]["params"], after.params["actor"]["params"]


def _norm(before: dict, after: dict, prediction: bool) -> float:
    moved = [
        a - b
        for name in before
        if name.startswith("aux_") == prediction
        for a, b in zip(jax.tree.leaves(after[name]), jax.tree.leaves(before[name]), strict=True)
    ]
    return float(optax.tree.norm(moved))


def test_the_prediction_network_has_its_own_clip_and_learning_rate():
    """One SGD step (lr 10) with every gradient clipped to norm c = 1e-4 (the raw norms are far above it): with
    its own clip and lr scale 0.1, the policy moves by exactly lr·c and the y network by 0.1·lr·c; one clip over
    both (the default) shares c between them (their norms² sum to (lr·c)²)."""
    c, lr = 1e-4, 10.0
    config = TrainConfig(
        total_timesteps=4 * 16, num_envs=4, num_steps=16, update_epochs=1, num_minibatches=1, vf_coef=0.0,
        aux_head_dim=K, eval_envs=0, max_grad_norm=c, separate_prediction=True, prediction_lr_scale=0.1,
    )  # fmt: skip
    before, after = _one_update(config, lr)
    np.testing.assert_allclose(_norm(before, after, prediction=False), lr * c, rtol=1e-3)
    np.testing.assert_allclose(_norm(before, after, prediction=True), 0.1 * lr * c, rtol=1e-3)
    before, after = _one_update(config.replace(separate_prediction=False, prediction_lr_scale=1.0), lr)
    joint = np.hypot(_norm(before, after, prediction=False), _norm(before, after, prediction=True))
    np.testing.assert_allclose(joint, lr * c, rtol=1e-3)  # the default: one clip for the whole actor


def test_prediction_options_without_a_prediction_head_are_refused():
    with pytest.raises(ValueError, match=r"TrainConfig.separate_prediction=True is invalid; allowed: False with aux"):
        TrainConfig(separate_prediction=True)
    with pytest.raises(ValueError, match=r"TrainConfig.prediction_lr_scale=0.1 is invalid; allowed: 1.0 with aux"):
        TrainConfig(prediction_lr_scale=0.1)
    with pytest.raises(ValueError, match=r"TrainConfig.prediction_lr_scale=0 is invalid; allowed: a number > 0"):
        TrainConfig(aux_head_dim=K, prediction_lr_scale=0)


# ------------------------------------------------------------------ KL direction
LOGITS = np.array([[0.2, -1.0, 0.5, 0.0], [1.5, 0.0, -0.3, 0.7]])
Y_HAT = np.array([[0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.4, 0.1]])


def test_kl_directions_against_hand_computed_values_and_gradients():
    """y_coef·KL per sample: KL(y ‖ ŷ) for "y_yhat" (the reference), KL(ŷ ‖ y) for "yhat_y" (the default), with
    y = softmax(logits); the gradient on the logits in closed form: y_j·(log y_j − log ŷ_j − KL(y ‖ ŷ)) for the
    first, y − ŷ for the second."""
    y = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    kl_y_yhat = (y * np.log(y / Y_HAT)).sum(-1)
    kl_yhat_y = (Y_HAT * np.log(Y_HAT / y)).sum(-1)
    assert np.all(np.abs(kl_y_yhat - kl_yhat_y) > 1e-2)  # the two directions differ on these arrays
    cases = {
        "y_yhat": (kl_y_yhat, y * (np.log(y / Y_HAT) - kl_y_yhat[:, None])),
        "yhat_y": (kl_yhat_y, y - Y_HAT),
    }
    for direction, (kl, grad) in cases.items():
        loss = lambda lg, d=direction: lpg.agent_loss(_inputs(lg, jnp.asarray(Y_HAT, jnp.float32)), 0.5, d)
        logits = jnp.asarray(LOGITS, jnp.float32)
        np.testing.assert_allclose(loss(logits), 0.5 * kl, rtol=1e-5, err_msg=direction)
        np.testing.assert_allclose(jax.grad(lambda lg, f=loss: f(lg).sum())(logits), 0.5 * grad, atol=1e-6)
    default = make_rule("lpg", target_dim=K).objective({}, _inputs(jnp.asarray(LOGITS), jnp.asarray(Y_HAT)))
    np.testing.assert_allclose(default, 0.5 * kl_yhat_y, rtol=1e-5)  # the stored rules' direction stays the default
    reference = make_rule("lpg", target_dim=K, kl_direction="y_yhat").objective
    np.testing.assert_allclose(
        reference({}, _inputs(jnp.asarray(LOGITS), jnp.asarray(Y_HAT))), 0.5 * kl_y_yhat, rtol=1e-5
    )
    # a ŷ that underflowed to 0 gives a finite loss and gradient (log ŷ at the smallest normal float)
    zero = jnp.asarray([[1.0, 0.0, 0.0, 0.0]], jnp.float32)
    f = lambda lg: lpg.agent_loss(_inputs(lg, zero), 0.5, "y_yhat").sum()
    assert np.isfinite(float(f(jnp.zeros((1, K))))) and np.isfinite(np.asarray(jax.grad(f)(jnp.zeros((1, K))))).all()


def test_a_bad_kl_direction_is_refused():
    with pytest.raises(ValueError, match=r"LPG kl_direction='yy' is invalid; allowed: yhat_y \| y_yhat"):
        make_rule("lpg", kl_direction="yy")


# ------------------------------------------------------------------ the experiment
@pytest.mark.slow  # compiles a gridworld meta-gradient generation (~45 s on 1 core) and a 2-update evaluation
def test_the_faithful_experiment_trains_from_the_command_line_at_a_tiny_budget(tmp_path, capsys):
    """`metalearn train lpg_gridworld_metagrad_faithful --set ...` at a tiny budget: it runs, with its options."""
    from metalearn.cli import main
    from metalearn.runs import read_jsonl

    tiny = [
        "generations=1", "eval_seeds=1", "held_out_tasks=[]", "rule.kwargs.hidden=8",
        "meta_gradient.num_agents=2", "meta_gradient.steps_per_generation=1", "tasks.0.train.num_envs=2",
        "tasks.0.train.num_steps=8", "tasks.0.train.total_timesteps=32", "tasks.0.train.eval_envs=1",
    ]  # fmt: skip
    run_dir = tmp_path / "run"
    args = ["train", "lpg_gridworld_metagrad_faithful", "--run-dir", str(run_dir), "--quiet"]
    assert main([*args, *(x for s in tiny for x in ("--set", s))]) == 0, capsys.readouterr().err
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["rule"]["kwargs"]["kl_direction"] == "y_yhat"
    assert config["meta_gradient"]["freeze_critic"] and config["meta_gradient"]["max_grad_norm"] == 0
    assert config["tasks"][0]["train"]["separate_prediction"]
    (row,) = read_jsonl(run_dir / "metrics.jsonl")
    assert row["nan_count"] == 0 and np.isfinite(row["meta_gradient"]["meta_loss"])
    assert row["meta_gradient"]["grad_norm"] > 0
