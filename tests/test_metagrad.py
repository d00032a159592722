"""Levels with lifetimes, and meta-gradients through K updates of persistent agents (issue 17)."""

from __future__ import annotations

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from metalearn.envs import level_family, make_env
from metalearn.inner import Trainer, get_preset
from metalearn.meta import (
    MetaConfig,
    MetaGradientTrainer,
    make_meta_trainer,
)
from metalearn.meta.config import MetaGradientConfig
from metalearn.meta.metagrad import meta_optimizer
from metalearn.runs import read_jsonl
from objectives import Objective

TINY = {"num_envs": 2, "num_steps": 8, "eval_envs": 1, "hidden_size": 8}


def metagrad_dict(rule: str = "lpg", k: int = 1, preset: str = "cartpole-lpg", updates: int = 20, **mg) -> dict:
    # the learned schedule's own Adam needs eps_root > 0 wherever an agent's gradient is exactly 0
    kwargs = {"hidden": 8, "embed": 4, "target_dim": 4} if rule == "lpg" else {"eps_root": 1e-8, "init_lr": 3e-3}
    train = {**TINY, "total_timesteps": 16 * updates}
    if rule == "lpg":
        train["aux_head_dim"] = 4
    else:
        train.update(update_epochs=1, num_minibatches=1)
    return {
        "rule": {"name": rule, "kwargs": kwargs},
        "tasks": [{"preset": preset, "train": train}],
        "regime": "meta_gradient",
        "meta_gradient": {"num_agents": 2, "updates_per_step": k, "steps_per_generation": 1, **mg},
        "generations": 2,
        "eval_seeds": 1,
        "eval_every": 10,
    }


@functools.cache
def trainer(rule: str = "lpg", k: int = 1, updates: int = 20) -> MetaGradientTrainer:
    return make_meta_trainer(MetaConfig.from_dict(metagrad_dict(rule, k, updates=updates)))


# ---------------------------------------------------------------- lifetimes
def _gridworld_trainer(objective=None, lifetime_from_level: bool = True) -> Trainer:
    preset = get_preset("gridworld-lpg")
    config = preset.config.replace(**TINY, aux_head_dim=8, total_timesteps=16 * 6, level_lifetime=lifetime_from_level)
    return Trainer(make_env("GridWorld", level="dense"), config, objective=objective)


def _probe_objective() -> Objective:
    """A trajectory objective whose targets are what it was shown: progress and log lifetime."""

    def targets(meta_params, traj):
        del meta_params
        return {
            "progress": jnp.full_like(traj.reward, traj.progress),
            "log_n": jnp.full_like(traj.reward, jnp.log(traj.num_updates)),
        }

    return Objective(lambda meta_params, x: 0.0 * x.log_prob, "trajectory", targets)


def test_updates_past_the_level_lifetime_are_discarded():
    t = _gridworld_trainer()
    level = t.base_env.default_params.replace(lifetime=jnp.asarray(3, jnp.int32))
    update = jax.jit(lambda s: t.update(None, s, level)[0])
    s = t.init(None, jax.random.PRNGKey(0), level)
    assert int(s.lifetime) == 3
    states = [s]
    for _ in range(5):
        states.append(update(states[-1]))
    assert [int(x.update_idx) for x in states] == [0, 1, 2, 3, 3, 3]

    def moved(a, b) -> bool:
        return not all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    assert moved(states[2].params, states[3].params)  # the third update counts
    for later in states[4:]:  # the fourth and fifth are computed and dropped
        assert not moved(states[3].params, later.params)
        assert not moved(states[3].opt_state, later.opt_state)
    assert moved(states[3].obs, states[4].obs)  # the envs still step


def test_without_level_lifetime_the_horizon_is_num_updates():
    t = _gridworld_trainer(lifetime_from_level=False)
    assert int(t.init(None, jax.random.PRNGKey(0)).lifetime) == t.config.num_updates == 6


def test_temporally_aware_inputs_are_progress_and_log_lifetime():
    t = _gridworld_trainer(_probe_objective())
    level = t.base_env.default_params.replace(lifetime=jnp.asarray(4, jnp.int32))
    step = jax.jit(lambda s: t.update_with_rollout(None, s, level))
    s = t.init(None, jax.random.PRNGKey(1), level)
    seen = []
    for _ in range(4):
        s, _, rollout = step(s)
        seen.append((float(rollout.rule_targets["progress"][0, 0]), float(rollout.rule_targets["log_n"][0, 0])))
    np.testing.assert_allclose(seen, [(n / 3, np.log(4)) for n in range(4)], rtol=1e-6)


def test_level_families_with_random_lifetimes():
    for name, lo, hi in (("all_shortlife", 250, 250), ("all_randlife", 50, 250), ("all_vrandlife", 10, 250)):
        family = level_family("GridWorld", name)
        assert family.max_lifetime == hi and family.distribution.lifetime_range == (lo, hi)
    # one family sampled (each compiles its own generator): log-uniform over the range
    family = level_family("GridWorld", "all_vrandlife")
    lifetimes = np.asarray(jax.vmap(family.random_level)(jax.random.split(jax.random.PRNGKey(0), 256)).lifetime)
    assert lifetimes.min() >= 10 and lifetimes.max() <= 250
    assert lifetimes.min() < 20 and lifetimes.max() > 125
    assert 0.35 < np.mean(lifetimes < np.sqrt(10 * 250)) < 0.65


def test_es_regime_refuses_too_few_updates_for_the_longest_lifetime():
    d = {
        "rule": {"name": "lpg", "kwargs": {"hidden": 8}},
        "tasks": [{"preset": "gridworld-lpg", "train": {"level_lifetime": True, "total_timesteps": 16 * 20 * 100}}],
        "curriculum": {"kind": "dr", "distribution": "all_vrandlife", "score": "random"},
    }
    with pytest.raises(ValueError, match=r"levels live up to 250 updates.*total_timesteps >= 80000"):
        make_meta_trainer(MetaConfig.from_dict(d))


def test_level_lifetime_on_an_env_without_lifetimes_is_refused():
    with pytest.raises(ValueError, match="level_lifetime=True is invalid for CartPole-v1"):
        Trainer("CartPole-v1", get_preset("cartpole").config.replace(level_lifetime=True))


# ------------------------------------------------------------ meta-gradients
PARTS = ("pg_loss", "policy_entropy", "target_entropy", "pi_hat_l2", "y_hat_l2")  # agent_meta_loss's parts[:5]


def _loss_and_parts(t: MetaGradientTrainer, agent):
    """(meta-loss, its 5 terms) of one agent as a function of the meta-parameters."""

    def f(meta_params):
        loss, (_, parts) = t.agent_meta_loss(meta_params, agent)
        return jnp.concatenate([loss[None], parts[:5]])

    return f


def _assert_loss_is_the_weighted_terms(t: MetaGradientTrainer, values: np.ndarray) -> None:
    """L = pg − β0·H[π] − β1·H[y] + β2·mean π̂² + β3·mean Σŷ², with the configured β (by hand)."""
    mg = t.mg
    pg, h_pi, h_y, pi_l2, y_l2 = values[1:]
    want = pg - mg.policy_entropy_coef * h_pi - mg.target_entropy_coef * h_y
    want += mg.policy_l2_coef * pi_l2 + mg.target_l2_coef * y_l2
    np.testing.assert_allclose(values[0], want, rtol=1e-5, atol=1e-7)


# Run with JAX_ENABLE_X64=1 in a subprocess: the learned LR schedule driving PPO through K = 3 updates, in float64
# (the agent's parameters, optimizer state and critic cast up; env observations stay float32, off the gradient's
# path). Nothing is held constant on this path, so autodiff must equal central differences to ~1e-8.
_X64_SCRIPT = """
import jax, numpy as np, jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from tests.test_metagrad import _assert_loss_is_the_weighted_terms, _loss_and_parts, metagrad_dict
from metalearn.meta import MetaConfig, make_meta_trainer
assert jax.config.jax_enable_x64
t = make_meta_trainer(MetaConfig.from_dict(metagrad_dict("lr_schedule", 3)))
state = t.init()
up = lambda tree: jax.tree.map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
agent = jax.tree.map(lambda x: x[0], state.agents)
r = agent.runner
agent = agent._replace(runner=r._replace(params=up(r.params), opt_state=up(r.opt_state)), critic=up(agent.critic),
                       critic_opt=up(agent.critic_opt))
mp = up(state.meta_params)
f = jax.jit(_loss_and_parts(t, agent))
values = np.asarray(f(mp))
assert values.dtype == np.float64
_assert_loss_is_the_weighted_terms(t, values)
jac = jax.jit(jax.jacrev(f))(mp)
flat, unravel = ravel_pytree(mp)
J = np.stack([np.asarray(ravel_pytree(jax.tree.map(lambda x: x[i], jac))[0]) for i in range(6)])
assert np.linalg.norm(J[:3], axis=1).min() > 1e-6, J  # the loss, pg_loss and H[pi] move with the schedule
rng = np.random.default_rng(0)
eps = 1e-5
for v in [J[0] / np.linalg.norm(J[0])] + [rng.standard_normal(flat.shape) for _ in range(3)]:
    v = v / np.linalg.norm(v)
    fd = (np.asarray(f(unravel(flat + eps * v))) - np.asarray(f(unravel(flat - eps * v)))) / (2 * eps)
    for i in range(3):  # loss, pg_loss, policy_entropy (this rule has no target terms)
        assert abs(fd[i] - J[i] @ v) <= 1e-5 * np.linalg.norm(J[i]), (i, fd[i], J[i] @ v)
print("ok")
"""


@pytest.mark.slow  # a float64 subprocess: ~20 s on 2 cores
def test_learned_optimizer_meta_gradient_through_k_updates_equals_finite_differences_in_float64():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", _X64_SCRIPT], cwd=root, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-4000:]


# LPG, K = 1, in float64 (objectives/lpg.py computes in its inputs' float type), for both KL directions of the
# agent's loss. At K = 1 the rule reads the agent before any update, so nothing on the path is held constant and
# autodiff must equal central differences to rounding. (K > 1 is not compared with differences for LPG: the agent's
# outputs enter the rule as constants, the reference's choice, a path differences would include.)
_LPG_X64_SCRIPT = """
import jax, numpy as np, jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from tests.test_metagrad import _assert_loss_is_the_weighted_terms, _loss_and_parts, metagrad_dict
from metalearn.meta import MetaConfig, make_meta_trainer
assert jax.config.jax_enable_x64
up = lambda tree: jax.tree.map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
for direction in ("yhat_y", "y_yhat"):
    d = metagrad_dict("lpg", 1)
    d["rule"]["kwargs"]["kl_direction"] = direction
    t = make_meta_trainer(MetaConfig.from_dict(d))
    state = t.init()
    agent = jax.tree.map(lambda x: x[0], state.agents)
    r = agent.runner
    agent = agent._replace(runner=r._replace(params=up(r.params), opt_state=up(r.opt_state)), critic=up(agent.critic),
                           critic_opt=up(agent.critic_opt))
    mp = up(state.meta_params)
    f = jax.jit(_loss_and_parts(t, agent))
    values = np.asarray(f(mp))
    assert values.dtype == np.float64
    _assert_loss_is_the_weighted_terms(t, values)
    jac = jax.jit(jax.jacrev(f))(mp)
    flat, unravel = ravel_pytree(mp)
    J = np.stack([np.asarray(ravel_pytree(jax.tree.map(lambda x, i=i: x[i], jac))[0]) for i in range(6)])
    assert np.linalg.norm(J, axis=1).min() > 1e-7, np.linalg.norm(J, axis=1)  # every term moves with the rule
    rng = np.random.default_rng(0)
    eps = 1e-4
    for _ in range(3):
        v = rng.standard_normal(flat.shape)
        v /= np.linalg.norm(v)
        fd = (np.asarray(f(unravel(flat + eps * v))) - np.asarray(f(unravel(flat - eps * v)))) / (2 * eps)
        for i in range(6):  # loss, pg_loss, H[pi], H[y], mean pi_hat^2, mean sum y_hat^2
            # 1e-6 of the gradient's norm, plus the differences' rounding floor (|f| ~ 1, eps_64 / eps ~ 1e-12)
            tol = 1e-6 * np.linalg.norm(J[i]) + 1e-11
            assert abs(fd[i] - J[i] @ v) <= tol, (direction, i, fd[i], J[i] @ v)
print("ok")
"""


@pytest.mark.slow  # a float64 subprocess compiling two LPG meta-gradients: ~50 s on 1 core
def test_lpg_meta_gradient_of_each_term_equals_finite_differences_in_float64():
    """LPG, K = 1, both KL directions: the meta-loss is its weighted terms (β by hand), and the gradient of each
    of its six values equals central differences in float64 within 1e-6 of its norm (measured: 1e-11 to 2e-6; the
    gradients of H[π] and H[y] are about 2e-6, the others 4e-5 to 1). Before the rule computed in its inputs' float
    type only the β2 and β3 terms could be checked, in float32, to 1e-3."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", _LPG_X64_SCRIPT], cwd=root, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-4000:]


@pytest.mark.slow
def test_agents_are_replaced_exactly_when_their_count_reaches_their_lifetime():
    t = trainer("lpg", 1)
    state = t.init()
    runner = state.agents.runner._replace(lifetime=jnp.asarray([1, 3], jnp.int32))
    state = state._replace(agents=state.agents._replace(runner=runner))
    step = t.meta_step
    counts, replaced = [], []
    for _ in range(4):
        state, metrics = step(state)
        counts.append(np.asarray(state.agents.runner.update_idx).tolist())
        replaced.append(int(metrics.replaced))
    # agent 0 (lifetime 1) is replaced after its first update, agent 1 (lifetime 3) after its third;
    # their successors live for the task's horizon (20 updates)
    assert counts == [[0, 1], [1, 2], [2, 0], [3, 1]]
    assert replaced == [1, 0, 1, 0]
    assert np.asarray(state.agents.runner.lifetime).tolist() == [20, 20]


@pytest.mark.slow
def test_advance_is_k_plain_updates_with_the_rule_held_fixed():
    """``advance`` (the regime without its meta-update) moves each agent exactly as ``Trainer.run`` would."""
    t = trainer("lpg", 1)
    state = t.init()
    after, returns = t.advance(state)
    run = jax.vmap(lambda runner, level: t.task.run(state.meta_params, runner, 1, level))
    runner, metrics = run(state.agents.runner, state.agents.level)
    chex.assert_trees_all_close(after.agents.runner, runner)  # no agent ended its 20-update lifetime
    np.testing.assert_allclose(np.asarray(returns), np.asarray(metrics.episode_return.mean(-1)))
    chex.assert_trees_all_equal(after.meta_params, state.meta_params)
    chex.assert_trees_all_equal(after.agents.critic, state.agents.critic)  # critics learn only in a meta-step


def _adam_by_hand(grads: list[np.ndarray], lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """optax.adam's updates for a sequence of gradients, in float64 numpy."""
    m = v = np.zeros_like(grads[0])
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        yield -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


@pytest.mark.slow  # compiles a meta-step and one agent's meta-gradient (~50 s on 2 cores)
def test_meta_steps_are_adam_on_the_clipped_mean_of_the_agents_gradients():
    """Three meta-steps against the meta-optimizer written out by hand (mean over agents, clip to the global
    norm, Adam with bias correction) on meta-gradients taken agent by agent. Here the mean gradient's norm is
    about 0.0052, 0.0046, 0.0049: with max_grad_norm 0.0047 steps 1 and 3 are clipped and step 2 is not, so
    Adam's later steps see the clipped scale, and a sum over agents (norm about twice the mean) would be clipped
    at step 2 as well."""
    clip = 0.0047
    t = make_meta_trainer(MetaConfig.from_dict(metagrad_dict("lpg", 1, max_grad_norm=clip)))
    one_agent = jax.jit(jax.grad(lambda mp, agent: t.agent_meta_loss(mp, agent)[0]))
    states, metrics = [t.init()], []
    for _ in range(3):
        state, m = t.meta_step(states[-1])
        states.append(state)
        metrics.append(m)
    assert [int(m.replaced) for m in metrics] == [0, 0, 0]  # the same two agents throughout (lifetime 20)
    clipped, norms = [], []
    for s in states[:-1]:
        per_agent = [
            np.asarray(ravel_pytree(one_agent(s.meta_params, jax.tree.map(lambda x, i=i: x[i], s.agents)))[0])
            for i in range(t.mg.num_agents)
        ]
        mean = np.mean(np.asarray(per_agent, np.float64), axis=0)
        norms.append(np.linalg.norm(mean))
        clipped.append(mean * min(1.0, clip / norms[-1]))
    # the metric is the norm of the mean gradient before clipping (a sum would read twice as much)
    np.testing.assert_allclose([float(m.grad_norm) for m in metrics], norms, rtol=1e-4)
    assert norms[0] > clip * 1.05 and norms[1] < clip * 0.99 and norms[2] > clip, norms  # the regime described
    moved = [
        np.asarray(ravel_pytree(b.meta_params)[0], np.float64) - np.asarray(ravel_pytree(a.meta_params)[0], np.float64)
        for a, b in itertools.pairwise(states)
    ]
    # Coordinates whose gradient is at rounding level have an Adam step of arbitrary sign; compare the rest.
    big = np.max(np.abs(clipped), axis=0) > 1e-4 * np.max(np.abs(clipped))
    assert big.mean() > 0.5
    for step, (got, want) in enumerate(zip(moved, _adam_by_hand(clipped, t.mg.lr), strict=True)):
        np.testing.assert_allclose(got[big], want[big], rtol=2e-3, atol=1e-3 * t.mg.lr, err_msg=f"meta-step {step}")


@pytest.mark.slow
def test_agent_batches_give_the_same_meta_gradient():
    one = trainer("lpg", 1)
    two = make_meta_trainer(MetaConfig.from_dict(metagrad_dict("lpg", 1, agent_batches=2)))
    state = one.init()
    g1 = jax.jit(one.meta_gradients)(state.meta_params, state.agents)
    g2 = jax.jit(two.meta_gradients)(state.meta_params, state.agents)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_meta_gradient_max_grad_norm_0_is_adam_without_clipping():
    """Two meta-optimizer steps, on a gradient of norm 1e3 then one of norm 0.3, against Adam by hand: with
    max_grad_norm 0 the first is not clipped, so it dominates Adam's second step; with 0.5 it is clipped to the
    second's scale, and the second step turns towards the second gradient."""
    g1 = np.linspace(-1.0, 1.0, 7) * 1e3 / np.linalg.norm(np.linspace(-1.0, 1.0, 7))
    g2 = np.cos(np.arange(7.0)) * 0.3 / np.linalg.norm(np.cos(np.arange(7.0)))
    for clip in (0, 0.5):
        opt = meta_optimizer(MetaGradientConfig(max_grad_norm=clip, lr=1e-2))
        params = jnp.zeros(7, jnp.float32)
        state = opt.init(params)
        got = []
        for g in (g1, g2):
            updates, state = opt.update(jnp.asarray(g, jnp.float32), state, params)
            got.append(np.asarray(updates, np.float64))
        scale = 1.0 if clip == 0 else clip / 1e3
        want = list(_adam_by_hand([g1 * scale, g2], lr=1e-2))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-9, err_msg=f"max_grad_norm={clip}")


def test_meta_gradient_options_added_later_keep_stored_runs_search_hash():
    """A stored meta-gradient run resumes only under its search hash: ``freeze_critic`` at its default must not
    enter it (the value is this config's hash before the option existed); set, it must."""
    assert MetaConfig.from_dict(metagrad_dict()).search_hash() == "0cadcbc4d942548d"
    assert MetaConfig.from_dict(metagrad_dict(freeze_critic=True)).search_hash() != "0cadcbc4d942548d"


@pytest.mark.slow  # compiles one agent's K updates and critic steps twice (~15-40 s on 1 core)
def test_freeze_critic_keeps_every_critic_at_its_initialisation():
    """The reference's value critic never learns (its update is discarded): with ``freeze_critic`` an agent's
    critic and its Adam state after a meta-step's K + 1 critic steps are its initial ones; without it the
    critic moves. Either way the meta-loss is finite and a value loss is computed."""
    for freeze in (False, True):
        t = make_meta_trainer(MetaConfig.from_dict(metagrad_dict("lpg", 1, freeze_critic=freeze)))
        state = t.init()
        agent = jax.tree.map(lambda x: x[0], state.agents)
        loss, (after, parts) = jax.jit(t.agent_meta_loss)(state.meta_params, agent)
        assert np.isfinite(float(loss)) and float(parts[5]) > 0
        if freeze:
            chex.assert_trees_all_equal(after.critic, agent.critic)
            chex.assert_trees_all_equal(after.critic_opt, agent.critic_opt)
        else:
            moved = optax.tree.norm(jax.tree.map(jnp.subtract, after.critic, agent.critic))
            assert float(moved) > 1e-5, float(moved)


def test_bad_meta_gradient_configs_are_refused():
    with pytest.raises(ValueError, match=r"meta_gradient.agent_batches=3 is invalid; allowed: a divisor"):
        MetaConfig.from_dict(metagrad_dict(agent_batches=3))
    with pytest.raises(ValueError, match=r"regime='metagrad' is invalid; allowed: es \| meta_gradient"):
        MetaConfig.from_dict({**metagrad_dict(), "regime": "metagrad"})
    d = metagrad_dict(preset="gridworld-lpg")
    d["curriculum"] = {"kind": "plr", "score": "random"}
    with pytest.raises(ValueError, match=r"allowed: no curriculum or dr \| frozen \| groove \("):
        MetaConfig.from_dict(d)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['meta_gradient.K'\]"):
        MetaConfig.from_dict({**metagrad_dict(), "meta_gradient": {"K": 5}})
    with pytest.raises(ValueError, match=r"meta_gradient.freeze_critic='yes' is invalid; allowed: true or false"):
        MetaConfig.from_dict(metagrad_dict(freeze_critic="yes"))


def test_the_es_regime_keeps_its_search_hash():
    d = {"rule": {"name": "lpg"}, "tasks": [{"preset": "cartpole-lpg"}]}
    es = MetaConfig.from_dict(d)
    assert "regime" not in es.to_dict() or es.regime == "es"
    assert es.search_hash() == MetaConfig.from_dict({**d, "regime": "es"}).search_hash()
    assert es.search_hash() != MetaConfig.from_dict({**d, "regime": "meta_gradient"}).search_hash()


# ------------------------------------------------------- GROOVE's buffer, persistent agents
def _buffer_dict(score: str = "random", updates: int = 4) -> dict:
    """2 persistent agents on `small` levels from GROOVE's buffer, each living ``updates`` updates, K = 2."""
    d = metagrad_dict("lpg", 2, preset="gridworld-lpg", updates=updates, steps_per_generation=3)
    d["curriculum"] = {
        "kind": "groove",
        "distribution": "small",
        "score": score,
        "levels_per_generation": 2,  # one per agent
        "capacity": 4,
        "replay_prob": 1.0,
        "baseline_train": {k: v for k, v in TINY.items()},
    }
    return d


@pytest.mark.slow  # compiles a gridworld meta-gradient generation with the buffer
def test_the_buffer_scores_each_level_when_its_agents_lifetime_ends_and_gives_it_a_new_one():
    """Lifetimes of 4 updates at K = 2: both agents end after the 2nd meta-step; the 3rd runs their successors."""
    trainer = make_meta_trainer(MetaConfig.from_dict(_buffer_dict()))
    state = trainer.init()
    buf, agents = jax.device_get(state.levels), jax.device_get(state.agents)
    first = agents.level_index
    assert len(set(first.tolist())) == 2 and buf.active[first].all() and buf.active.sum() == 2
    chex.assert_trees_all_equal(agents.level, jax.tree.map(lambda x: x[first], buf.levels))

    state, metrics = trainer.generation(state)
    buf, agents = jax.device_get(state.levels), jax.device_get(state.agents)
    c = jax.device_get(metrics.curriculum)
    assert int(c["levels_scored"]) == 2 and np.isfinite(float(c["scored_mean"]))
    assert not buf.new[first].any() and np.isfinite(buf.scores[first]).all()  # scored
    # Each new agent holds its own active slot, whose level it trains on. With replay_prob 1 and exactly two
    # scored, inactive levels, the successors replay those two.
    second = agents.level_index
    assert len(set(second.tolist())) == 2 and buf.active[second].all() and buf.active.sum() == 2
    assert sorted(second.tolist()) == sorted(first.tolist())
    chex.assert_trees_all_equal(agents.level, jax.tree.map(lambda x: x[second], buf.levels))
    np.testing.assert_array_equal(agents.runner.update_idx, [2, 2])  # the successors did one meta-step
    assert int(metrics.search["meta_gradient"]["replaced"]) == 2


def test_the_persistent_regime_refuses_scores_it_cannot_compute_and_a_buffer_not_per_agent():
    with pytest.raises(ValueError, match=r"score='positive_value_loss' is invalid with regime=meta_gradient"):
        d = _buffer_dict("positive_value_loss")
        d["tasks"][0]["train"]["vf_coef"] = 0.5
        make_meta_trainer(MetaConfig.from_dict(d))
    d = _buffer_dict()
    d["meta_gradient"]["num_agents"] = 4
    with pytest.raises(ValueError, match=r"levels_per_generation=2 is invalid with regime=meta_gradient"):
        MetaConfig.from_dict(d)


@pytest.mark.slow  # the antagonist trains the family's 250 updates inside the meta-step
def test_alg_regret_of_persistent_agents_by_hand(tmp_path):
    """(Its exact resume with the buffer: tests/test_resume.py, case meta_gradient-groove-lpg.)"""
    from metalearn.meta import start_run

    d = _buffer_dict("alg_regret")
    d["generations"] = 2
    config = MetaConfig.from_dict(d)
    straight = start_run(config, run_dir=tmp_path / "straight", progress=False)
    rows = read_jsonl(straight / "metrics.jsonl")
    assert int(rows[0]["curriculum"]["levels_scored"]) == 2
    # The generation's score, by hand: the two agents end their lifetimes at its 2nd meta-step; each level's
    # algorithmic regret is the antagonist's evaluation return there minus the ended agent's, with the keys the
    # regime draws (state.key -> split 3 -> k_levels -> fold_in 1 -> (k_eval, k_score)).
    t = make_meta_trainer(config)
    s = t.init()
    grads_fn = jax.jit(t.meta_gradients)
    grads, _, agents, _ = grads_fn(s.meta_params, s.agents)
    assert np.asarray(agents.runner.update_idx).tolist() == [2, 2]  # no lifetime ends at the 1st meta-step
    mean = jax.tree.map(lambda g: jnp.tensordot(jnp.full((2,), 0.5, jnp.float32), g, axes=1), grads)
    updates, _ = t.meta_optimizer.update(mean, s.opt_state, s.meta_params)
    key = jax.random.split(s.key, 3)[0]
    _, _, agents, _ = grads_fn(optax.apply_updates(s.meta_params, updates), agents)
    assert np.asarray(agents.runner.update_idx).tolist() == [4, 4]  # both lifetimes end at the 2nd
    k_eval, k_score = jax.random.split(jax.random.fold_in(jax.random.split(key, 3)[1], 1))
    runner = agents.runner
    agent_return = jax.jit(jax.vmap(t.task.evaluate))(
        runner.params, runner.env_state, jax.random.split(k_eval, 2), agents.level
    )
    antagonist_return = jax.jit(t._antagonist_return)(k_score, agents.level)
    regret = np.asarray(antagonist_return, np.float64) - np.asarray(agent_return, np.float64)
    np.testing.assert_allclose(rows[0]["curriculum"]["scored_mean"], regret.mean(), rtol=1e-5, atol=1e-6)
