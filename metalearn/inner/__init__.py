"""Inner trainers: PPO and A2C (and the agent a DiscoRL rule brings) as one jittable, vmappable ``train`` function."""

from metalearn.inner.advantage import gae
from metalearn.inner.config import TrainConfig
from metalearn.inner.disco_agent import DiscoTrainer
from metalearn.inner.networks import Actor, Critic, layer_proportions
from metalearn.inner.presets import PRESETS, Preset, get_preset, resolve_task
from metalearn.inner.trainer import (
    RunnerState,
    Trainer,
    TrainResult,
    Transition,
    UpdateMetrics,
    default_optimizer,
    make_train,
    make_trainer,
)

__all__ = [
    "PRESETS",
    "Actor",
    "Critic",
    "DiscoTrainer",
    "Preset",
    "RunnerState",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "Transition",
    "UpdateMetrics",
    "default_optimizer",
    "gae",
    "get_preset",
    "layer_proportions",
    "make_train",
    "make_trainer",
    "resolve_task",
]
