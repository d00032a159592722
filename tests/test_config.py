"""Config validation, presets and --set overrides."""

from __future__ import annotations

import pytest

from metalearn.inner import PRESETS, TrainConfig, get_preset
from metalearn.meta import list_experiments
from metalearn.overrides import apply_overrides


@pytest.mark.parametrize(
    "changes,message",
    [
        (
            {"num_minibatches": 7},
            r"num_minibatches=7 must divide the batch num_envs \* num_steps = 512; allowed: 1, 2, 4",
        ),
        ({"total_timesteps": 100}, r"total_timesteps=100 gives zero updates; allowed: >= .* = 512"),
        ({"ent_coef": -0.1}, r"ent_coef=-0.1 is invalid; allowed: a number >= 0"),
        ({"vf_coef": -1.0}, r"vf_coef=-1.0 is invalid"),
        ({"lr": 0.0}, r"lr=0.0 is invalid; allowed: a number > 0"),
        ({"gamma": 1.5}, r"gamma=1.5 is invalid; allowed: a number in \(0, 1\]"),
        ({"update_epochs": 0}, r"update_epochs=0 is invalid; allowed: an integer >= 1"),
        ({"activation": "gelu"}, r"activation='gelu' is invalid; allowed: tanh \| relu"),
        ({"algorithm": "sac"}, r"algorithm='sac' is invalid; allowed: ppo \| a2c"),
    ],
)
def test_impossible_configs_fail_at_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_derived_sizes():
    c = TrainConfig(total_timesteps=10_000, num_envs=8, num_steps=32, num_minibatches=4, update_epochs=3)
    assert (c.batch_size, c.minibatch_size, c.num_updates, c.steps_per_update) == (256, 64, 39, 12)


def test_presets_match_published_settings():
    breakout = get_preset("breakout")
    assert breakout.env == "Breakout-MinAtar"
    c = breakout.config
    assert (c.num_envs, c.num_steps, c.update_epochs, c.num_minibatches, c.total_timesteps) == (64, 128, 4, 8, 500_000)
    assert (c.gamma, c.gae_lambda, c.clip_eps, c.ent_coef, c.vf_coef, c.activation) == (
        0.99,
        0.95,
        0.2,
        0.01,
        0.5,
        "relu",
    )
    for name in ("asterix", "freeway", "spaceinvaders"):
        assert get_preset(name).config.total_timesteps == 10_000_000
    ant = get_preset("ant-full").config
    assert (ant.num_envs, ant.num_steps, ant.num_minibatches, ant.total_timesteps) == (2048, 10, 32, 50_000_000)
    assert ant.normalize_obs and ant.activation == "tanh"
    grid = get_preset("gridworld-open")  # OPEN's rl_optimizer/configs.py `gridworld`
    g = grid.config
    assert (g.num_envs, g.num_steps, g.update_epochs, g.num_minibatches, g.num_updates) == (1024, 20, 2, 16, 1464)
    assert (g.hidden_size, g.activation, g.lr, g.anneal_lr, g.shared_init_key, g.final_window) == (
        16,
        "tanh",
        1e-4,
        True,
        True,
        1,
    )
    assert (g.gamma, g.gae_lambda, g.clip_eps, g.ent_coef, g.vf_coef, g.max_grad_norm) == (
        0.99,
        0.95,
        0.2,
        0.01,
        0.5,
        0.5,
    )
    assert grid.env_kwargs == {"level": "rand_all@0"}
    cartpole = get_preset("cartpole").config  # PureJaxRL
    assert (cartpole.num_envs, cartpole.num_steps, cartpole.lr, cartpole.num_minibatches) == (4, 128, 2.5e-4, 4)


@pytest.mark.parametrize(  # building a brax env takes ~15 s
    "name", [pytest.param(n, marks=[pytest.mark.slow] if p.env.startswith("brax/") else []) for n, p in PRESETS.items()]
)
def test_every_preset_validates_and_its_env_exists(name):
    """A preset's config passes validation again from its dict, and its env builds under the preset's name."""
    from metalearn.envs import make_env

    preset = PRESETS[name]
    assert TrainConfig.from_dict(preset.config.to_dict()) == preset.config
    env = make_env(preset.env, **preset.env_kwargs)
    assert env.spec.name == preset.env and env.spec.obs_dim > 0 and env.spec.action_dim > 0
    assert preset.description


def test_task_override_applies_to_a_copy_of_the_preset():
    from metalearn.meta.config import TaskConfig

    before, ant_kwargs = get_preset("cartpole").config, dict(get_preset("ant").env_kwargs)
    env, env_kwargs, config = TaskConfig("cartpole", train={"lr": 1e-3, "total_timesteps": 4096}).resolve()
    assert (env, env_kwargs, config.lr, config.total_timesteps) == ("CartPole-v1", {}, 1e-3, 4096)
    assert config.replace(lr=before.lr, total_timesteps=before.total_timesteps) == before  # nothing else moved
    assert TaskConfig("cartpole", env="Acrobot-v1").resolve()[:2] == ("Acrobot-v1", {})
    env, env_kwargs, _ = TaskConfig("ant").resolve()
    assert (env, env_kwargs) == ("brax/ant", ant_kwargs)
    env_kwargs["backend"] = "changed"
    assert get_preset("cartpole").config == before and get_preset("ant").env_kwargs == ant_kwargs  # untouched
    with pytest.raises(ValueError, match="lr=-1"):
        TaskConfig("cartpole", train={"lr": -1})


def test_unknown_preset_lists_close_matches():
    with pytest.raises(ValueError, match="unknown preset 'breakot'; did you mean: breakout"):
        get_preset("breakot")


def test_overrides_parse_by_field_type():
    c = apply_overrides(TrainConfig(), ["lr=1e-3", "total_timesteps=1e5", "anneal_lr=false", "activation=relu"])
    assert (c.lr, c.total_timesteps, c.anneal_lr, c.activation) == (1e-3, 100_000, False, "relu")
    assert apply_overrides(c, ["eval_steps=none"]).eval_steps is None


@pytest.mark.parametrize(
    "assignment,message",
    [
        ("lr", "expected key=value"),
        ("learning_rate=1", "unknown key; allowed: .*lr"),
        ("num_envs=2.5", "expected an integer"),
        ("anneal_lr=maybe", "expected true or false"),
        ("num_minibatches=3", "must divide the batch"),
    ],
)
def test_bad_overrides_name_the_key(assignment, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(TrainConfig(), [assignment])


def test_config_round_trips_through_dict():
    c = TrainConfig(lr=3e-3, normalize_obs=True)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({**c.to_dict(), "bogus": 1})


@pytest.mark.parametrize("name", list_experiments())
def test_every_experiment_preset_builds(name):
    """Each YAML in metalearn/experiments/ is a valid config whose rule, strategy and tasks construct."""
    import jax

    from metalearn.envs import resolve_env_name
    from metalearn.es import make_strategy
    from metalearn.inner import get_preset
    from metalearn.meta import MetaConfig, load_config_dict
    from metalearn.rules import make_rule

    config = MetaConfig.from_dict(load_config_dict(name))
    for task in (*config.tasks, *config.held_out_tasks):
        env, _, train = task.resolve()
        preset = get_preset(task.preset)
        assert resolve_env_name(env) == env == (task.env or preset.env)
        for field, value in preset.config.to_dict().items():  # the task's overrides, else the preset's values
            assert getattr(train, field) == task.train.get(field, value), (task.name, field)
    rule = make_rule(config.rule.name, **config.rule.kwargs)
    make_strategy(config.strategy, rule.init(jax.random.PRNGKey(0)))
