"""Environments: one registry over gymnax and brax, plus training wrappers."""

from metalearn.envs.core import BraxEnv, EnvSpec, GymnaxEnv
from metalearn.envs.registry import (
    BRAX_BACKENDS,
    BRAX_ENVS,
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
    "GYMNAX_ENVS",
    "BraxEnv",
    "ClipAction",
    "EnvSpec",
    "GymnaxEnv",
    "LogWrapper",
    "NormalizeObservation",
    "NormalizeReward",
    "RunningMeanStd",
    "VecEnv",
    "list_envs",
    "make_env",
    "resolve_env_name",
    "wrap_for_training",
]
