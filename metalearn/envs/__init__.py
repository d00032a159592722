"""Environments: one registry over gymnax, brax and the gridworld levels, plus training wrappers."""

from metalearn.envs.core import BraxEnv, EnvSpec, GymnaxEnv
from metalearn.envs.gridworld import (
    LEVEL_DISTRIBUTIONS,
    GridWorld,
    Level,
    LevelDistribution,
    list_levels,
    make_gridworld,
    named_level,
    pad_level,
    random_level,
)
from metalearn.envs.registry import (
    BRAX_BACKENDS,
    BRAX_ENVS,
    GRID_ENVS,
    GYMNAX_ENVS,
    list_envs,
    make_env,
    resolve_env_name,
    wrap_for_training,
)
from metalearn.envs.wrappers import (
    ClipAction,
    LogWrapper,
    NormalizeObservation,
    NormalizeReward,
    RunningMeanStd,
    VecEnv,
)

__all__ = [
    "BRAX_BACKENDS",
    "BRAX_ENVS",
    "GRID_ENVS",
    "GYMNAX_ENVS",
    "LEVEL_DISTRIBUTIONS",
    "BraxEnv",
    "ClipAction",
    "EnvSpec",
    "GridWorld",
    "GymnaxEnv",
    "Level",
    "LevelDistribution",
    "LogWrapper",
    "NormalizeObservation",
    "NormalizeReward",
    "RunningMeanStd",
    "VecEnv",
    "list_envs",
    "list_levels",
    "make_env",
    "make_gridworld",
    "named_level",
    "pad_level",
    "random_level",
    "resolve_env_name",
    "wrap_for_training",
]
