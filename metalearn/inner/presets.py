"""Named inner-training presets matching published settings.

* ``cartpole``, ``acrobot``: PureJaxRL's classic-control PPO.
* ``breakout``, ``asterix``, ``freeway``, ``spaceinvaders``: the MinAtar PPO of
  the OPEN paper (64 envs × 128 steps, 4 epochs, 8 minibatches, relu) with
  PureJaxRL's MinAtar Adam (lr 5e-3, annealed); budgets as in OPEN's
  latest config (Breakout 5e5, the others 1e7). ``breakout-1e7`` is the
  budget the published OPEN weights and Breakout normaliser (50.08) belong
  to (experiments/reports/open.md).
* ``ant``: OPEN's Brax Ant (2048 envs × 10 steps, 32 minibatches, tanh,
  observation and reward normalisation, positional backend) at a CPU budget
  of 2e6 steps; ``ant-full`` keeps the published 5e7.
* ``pendulum``, ``cartpole-a2c``: small continuous-control PPO and A2C
  settings used by the tests and the demo.
* ``cartpole-lpg``: an agent for LPG-style objectives (GROOVE's agent shape:
  20-step rollouts, one Adam step each, a prediction head of size 8, no
  value loss).
* ``gridworld-lpg``, ``gridworld-a2c``: the same LPG agent, and the A2C agent
  GROOVE measures regret against (lr and entropy coefficient tuned by
  ``experiments/scripts/groove_antagonist_sweep.py``), on gridworld levels (GROOVE's
  ``small`` lifetime: 250 updates of 20-step rollouts). Their env is the
  ``dense`` level; a curriculum swaps in its own levels.
* ``gridworld-open``: OPEN's gridworld PPO (its reference config ``gridworld``: 1024 envs × 20 steps,
  2 epochs × 16 minibatches, hidden 16, tanh, actor and critic from one init key, 3e7 steps = 1464
  updates, fitness the last update's return; lr 1e-4 annealed is the config's Adam value, which OPEN's
  own training never reads) on one level of ``rand_all``, OPEN's training family; a task picks its level
  (``level: rand_all@SEED``, a named level, or a curriculum's). See
  experiments/reports/open_gridworld_reference.md for what differs from the reference's gridworld.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from metalearn.inner.config import TrainConfig
from metalearn.overrides import apply_overrides
from metalearn.validation import unknown


@dataclasses.dataclass(frozen=True)
class Preset:
    env: str
    config: TrainConfig
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


_MINATAR = TrainConfig(
    total_timesteps=10_000_000,
    num_envs=64,
    num_steps=128,
    update_epochs=4,
    num_minibatches=8,
    lr=5e-3,
    anneal_lr=True,
    activation="relu",
    ent_coef=0.01,
)

# GROOVE's LPG agent: one Adam step per 16 x 20-step rollout, prediction head of size 8, no value loss;
# 250 updates, the lifetime of its `small` gridworld levels.
_GRID_LPG = TrainConfig(
    total_timesteps=80_000,
    num_envs=16,
    num_steps=20,
    update_epochs=1,
    num_minibatches=1,
    lr=1e-3,
    anneal_lr=False,
    vf_coef=0.0,
    ent_coef=0.01,
    aux_head_dim=8,
    final_window=25,
)

_ANT = TrainConfig(
    total_timesteps=2_000_000,
    num_envs=2048,
    num_steps=10,
    update_epochs=4,
    num_minibatches=32,
    lr=3e-4,
    anneal_lr=False,
    activation="tanh",
    ent_coef=0.0,
    normalize_obs=True,
    normalize_reward=True,
)

PRESETS: dict[str, Preset] = {
    "cartpole": Preset("CartPole-v1", TrainConfig(), description="PureJaxRL CartPole PPO, 5e5 steps"),
    "acrobot": Preset("Acrobot-v1", TrainConfig(), description="PureJaxRL classic-control PPO on Acrobot, 5e5 steps"),
    "breakout": Preset(
        "Breakout-MinAtar", _MINATAR.replace(total_timesteps=500_000), description="OPEN MinAtar PPO, 5e5 steps"
    ),
    "breakout-1e7": Preset(
        "Breakout-MinAtar", _MINATAR, description="OPEN MinAtar PPO, 1e7 steps (the published weights' budget)"
    ),
    "asterix": Preset("Asterix-MinAtar", _MINATAR, description="OPEN MinAtar PPO, 1e7 steps"),
    "freeway": Preset("Freeway-MinAtar", _MINATAR, description="OPEN MinAtar PPO, 1e7 steps"),
    "spaceinvaders": Preset("SpaceInvaders-MinAtar", _MINATAR, description="OPEN MinAtar PPO, 1e7 steps"),
    "ant": Preset(
        "brax/ant", _ANT, {"backend": "positional"}, description="OPEN Brax Ant PPO at a CPU budget, 2e6 steps"
    ),
    "ant-full": Preset(
        "brax/ant",
        _ANT.replace(total_timesteps=50_000_000),
        {"backend": "positional"},
        description="OPEN Brax Ant PPO, published 5e7 steps",
    ),
    "hopper": Preset(
        "brax/hopper",
        _ANT,
        {"backend": "positional"},
        description="the ant preset's PPO on Brax Hopper at a CPU budget, 2e6 steps",
    ),
    "pendulum": Preset(
        "Pendulum-v1",
        TrainConfig(
            total_timesteps=300_000,
            num_envs=16,
            num_steps=128,
            update_epochs=10,
            num_minibatches=16,
            lr=1e-3,
            anneal_lr=True,
            gamma=0.9,
            ent_coef=0.0,
            normalize_obs=True,
            normalize_reward=True,
        ),
        description="continuous PPO on Pendulum, 3e5 steps",
    ),
    "cartpole-a2c": Preset(
        "CartPole-v1",
        TrainConfig(
            algorithm="a2c",
            total_timesteps=500_000,
            num_envs=16,
            num_steps=8,
            update_epochs=1,
            num_minibatches=1,
            lr=1e-3,
            anneal_lr=True,
            gae_lambda=1.0,
            clip_value=False,
            ent_coef=0.01,
            normalize_advantages=False,
        ),
        description="A2C on CartPole, 5e5 steps",
    ),
    "catch": Preset(
        "Catch-bsuite",
        TrainConfig(
            algorithm="a2c",
            total_timesteps=58_000,
            num_envs=2,
            num_steps=29,
            update_epochs=1,
            num_minibatches=1,
            lr=1e-2,
            anneal_lr=False,
            hidden_size=512,
            num_hidden_layers=2,
            activation="relu",
            gamma=0.997,
            clip_value=False,
            normalize_advantages=False,
            final_window=50,
            eval_envs=64,
        ),
        description="DiscoRL's Catch demonstration (its colab): 1000 updates of 2 streams x 29 steps, torso "
        "512x512, lr 0.01 (A2C for a PPO/A2C rule; rule 'disco' trains its own agent from it)",
    ),
    "cartpole-lpg": Preset(
        "CartPole-v1",
        dataclasses.replace(_GRID_LPG, total_timesteps=500_000, final_window=10),
        description="an LPG agent on CartPole (GROOVE's shape: 20-step rollouts, one update each, y of size 8)",
    ),
    "gridworld-lpg": Preset(
        "GridWorld", _GRID_LPG, description="an LPG agent on gridworld levels, 250 updates of 16 envs x 20 steps"
    ),
    "gridworld-a2c": Preset(
        "GridWorld",
        dataclasses.replace(
            _GRID_LPG,
            algorithm="a2c",
            lr=3e-3,  # lr and ent_coef: the best of a 3 x 3 sweep on 64 random `small` levels
            ent_coef=0.0,  # (experiments/scripts/groove_antagonist_sweep.py)
            vf_coef=0.5,
            aux_head_dim=0,
            gae_lambda=0.95,
            clip_value=False,
            normalize_advantages=False,
        ),
        description="A2C on gridworld levels (GROOVE's regret baseline), 250 updates of 16 envs x 20 steps",
    ),
    "gridworld-open": Preset(
        "GridWorld",
        TrainConfig(
            total_timesteps=30_000_000,  # 1464 updates of 1024 x 20, as 3e7 // 20 // 1024 in the reference
            num_envs=1024,
            num_steps=20,
            update_epochs=2,
            num_minibatches=16,
            lr=1e-4,
            anneal_lr=True,
            hidden_size=16,
            activation="tanh",
            ent_coef=0.01,
            shared_init_key=True,
            final_window=1,
            eval_envs=0,
        ),
        {"level": "rand_all@0"},
        description="OPEN's gridworld PPO (1024 envs x 20 steps, 1464 updates, hidden 16) on one rand_all level",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` listing close matches if unknown."""
    if name in PRESETS:
        return PRESETS[name]
    raise unknown("preset", name, PRESETS)


def resolve_task(
    preset: str,
    env: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> tuple[str, dict[str, Any], TrainConfig]:
    """(env name, env kwargs, TrainConfig) of a preset, as every caller resolves a task.

    ``env`` replaces the preset's env (and then its env kwargs, unless
    ``env_kwargs`` is given); ``env_kwargs`` replaces the preset's kwargs;
    ``overrides`` are ``"field=value"`` strings (or a mapping field -> value)
    applied to the preset's TrainConfig.
    """
    p = get_preset(preset)
    if isinstance(overrides, Mapping):
        overrides = [f"{k}={v}" for k, v in overrides.items()]
    env_name = env or p.env
    if env_kwargs is not None:
        kwargs = dict(env_kwargs)
    else:
        kwargs = dict(p.env_kwargs) if env is None else {}
    return env_name, kwargs, apply_overrides(p.config, list(overrides))
