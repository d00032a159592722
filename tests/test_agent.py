"""The inner-agent interface (metalearn/inner/agent.py): a third agent is one class plus one registry line, and the
rule that brings it meta-trains through the engine unchanged."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.envs import make_env, wrap_for_training
from metalearn.inner import AGENTS, DiscoAgent, TrainConfig, Trainer, make_trainer
from metalearn.inner import agent as agent_lib
from metalearn.inner.results import update_metrics
from metalearn.rules import make_rule
from objectives import OBJECTIVES, Objective, Variant


@dataclasses.dataclass(frozen=True)
class ToySettings:
    step: float = 0.5  # the learning step of the toy agent's logits


class ToyState(NamedTuple):
    params: jax.Array  # (A,) action logits, whatever the observation
    env_state: Any
    obs: jax.Array
    rng: jax.Array
    diverged: jax.Array


class ToyAgent(agent_lib.Agent):
    """A third agent, defined here: a state-blind softmax policy whose logits move by REINFORCE on each rollout's
    rewards, at ``settings.step`` times the rule's one meta-parameter. It writes init, update and evaluate; run,
    result and train are the interface's."""

    settings_type = ToySettings

    def __init__(self, env, config: TrainConfig, optimizer=None, objective: Objective | None = None):
        self.base_env = make_env(env) if isinstance(env, str) else env
        self.spec, self.config = self.base_env.spec, config
        self.settings = objective.agent_config or ToySettings()
        self.env = wrap_for_training(self.base_env)

    def init(self, meta_params, rng, env_params=None, hypers=None) -> ToyState:
        agent_lib.refuse_hypers("toy", hypers)
        rng, k_env = jax.random.split(rng)
        params = env_params or self.base_env.default_params
        obs, env_state = self.env.reset(jax.random.split(k_env, self.config.num_envs), params)
        return ToyState(jnp.zeros(self.spec.action_dim), env_state, obs, rng, jnp.zeros((), bool))

    def update(self, meta_params, state: ToyState, env_params=None):
        params = env_params or self.base_env.default_params

        def step(carry, _):
            env_state, obs, rng = carry
            rng, k_act, k_step = jax.random.split(rng, 3)
            action = jax.random.categorical(k_act, state.params, shape=(self.config.num_envs,))
            keys = jax.random.split(k_step, self.config.num_envs)
            obs, env_state, reward, terminated, truncated, _ = self.env.step(keys, env_state, action, params)
            return (env_state, obs, rng), (action, reward, terminated | truncated)

        (env_state, obs, rng), (action, reward, done) = jax.lax.scan(
            step, (state.env_state, state.obs, state.rng), None, self.config.num_steps
        )
        pi = jax.nn.softmax(state.params)
        grad = jnp.mean(reward[..., None] * (jax.nn.one_hot(action, pi.shape[0]) - pi), axis=(0, 1))
        logits = state.params + self.settings.step * meta_params["scale"] * grad
        losses = {k: jnp.zeros(()) for k in ("entropy", "approx_kl", "value_loss", "actor_loss", "grad_norm")}
        new = ToyState(logits, env_state, obs, rng, state.diverged | ~jnp.all(jnp.isfinite(logits)))
        return new, update_metrics(env_state, done.sum(), losses, reward)

    def evaluate(self, params, env_state, rng, env_params=None):
        act = lambda obs, key: jax.random.categorical(key, params, shape=obs.shape[:1])
        steps = self.spec.max_episode_steps
        env_params = env_params or self.base_env.default_params
        return agent_lib.evaluate_policy(self.env, act, rng, self.config.eval_envs, steps, env_params)


# The rule that brings it: an objective module (KIND "agent", AGENT naming the agent, init, to_objective).
TOY_RULE = types.SimpleNamespace(
    KIND="agent",
    AGENT="toy",
    init=lambda rng: {"scale": jnp.ones(())},
    to_objective=lambda: Objective(kind="agent", agent="toy"),
)

TINY = TrainConfig(total_timesteps=4 * 8 * 5, num_envs=4, num_steps=8, eval_envs=2, eval_steps=20)


def test_the_registry_names_every_agent_and_make_trainer_picks_a_rules():
    assert AGENTS == {"ppo": Trainer, "disco": DiscoAgent}
    assert type(make_trainer("CartPole-v1", TINY, objective=make_rule("dpo").objective)) is Trainer
    assert type(make_trainer("CartPole-v1", TINY)) is Trainer
    assert type(make_trainer("Catch-bsuite", TINY, objective=make_rule("disco", batch_size=4).objective)) is DiscoAgent
    with pytest.raises(ValueError, match=r"unknown agent 'toy'.*allowed: ppo, disco"):
        make_trainer("CartPole-v1", TINY, objective=Objective(kind="agent", agent="toy"))


def test_a_third_agent_is_one_class_and_one_registry_line(monkeypatch):
    """A rule that brings an agent defined here takes its settings as keywords and meta-trains with ES as is."""
    from metalearn.meta import ESTrainer, MetaConfig

    monkeypatch.setitem(AGENTS, "toy", ToyAgent)  # the registry line
    monkeypatch.setitem(OBJECTIVES, "toy_rule", Variant(TOY_RULE, {}))  # the rule that brings it

    rule = make_rule("toy_rule", step=2.0)
    assert rule.objective.agent_config == ToySettings(step=2.0)
    with pytest.raises(ValueError, match=r"'toy_rule' has no hyper-parameter\(s\) \['stepp'\]; allowed: \['step'\]"):
        make_rule("toy_rule", stepp=2.0)
    trainer = make_trainer("CartPole-v1", TINY, objective=rule.objective)
    assert isinstance(trainer, ToyAgent) and trainer.settings.step == 2.0
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    result = jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))(rule.init(jax.random.PRNGKey(0)), keys)
    assert result.curve.shape == (3, TINY.num_updates) and result.metrics.clip_frac.shape == (3, TINY.num_updates)
    assert np.isnan(np.asarray(result.metrics.clip_frac)).all()  # no ratio clipped: NaN, as update_metrics says
    assert np.isfinite(np.asarray(result.eval_return)).all() and not np.asarray(result.diverged).any()
    with pytest.raises(ValueError, match=r"hypers=\['lr'\] is invalid for the toy agent"):
        trainer.train(None, keys[0], hypers={"lr": 0.1})

    config = MetaConfig.from_dict(
        {
            "rule": {"name": "toy_rule", "kwargs": {"step": 2.0}},
            "strategy": {"name": "open_es", "population_size": 2, "sigma": 0.1, "lr": 0.05},
            "tasks": [{"preset": "cartpole", "train": dataclasses.asdict(TINY)}],
            "generations": 1,
            "eval_every": 100,
            "eval_seeds": 1,
        }
    )
    meta = ESTrainer(config)
    assert isinstance(meta.tasks[0].trainer, ToyAgent)
    _, metrics = meta.generation(meta.init())
    assert np.isfinite(float(metrics.mean_fitness)) and int(metrics.nan_count) == 0
    with pytest.raises(ValueError, match=r"^regime=meta_gradient with rule 'toy_rule', which brings its own agent"):
        MetaConfig.from_dict({**config.to_dict(), "regime": "meta_gradient", "strategy": {}})
