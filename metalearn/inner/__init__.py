"""Inner agents behind one interface (:class:`Agent`): PPO and A2C (``Trainer``) and the agent a DiscoRL rule
brings (``DiscoAgent``), by name in ``AGENTS``; ``make_trainer`` picks a rule's, ``make_train`` jits its
``train``."""

from metalearn.inner.advantage import gae
from metalearn.inner.agent import Agent
from metalearn.inner.config import TrainConfig
from metalearn.inner.disco_agent import DiscoAgent, DiscoAgentConfig
from metalearn.inner.networks import Actor, Critic, layer_proportions
from metalearn.inner.presets import PRESETS, Preset, get_preset, resolve_task
from metalearn.inner.registry import AGENTS, make_train, make_trainer
from metalearn.inner.results import TrainResult, UpdateMetrics
from metalearn.inner.trainer import RunnerState, Trainer, Transition, default_optimizer

__all__ = [
    "AGENTS",
    "PRESETS",
    "Actor",
    "Agent",
    "Critic",
    "DiscoAgent",
    "DiscoAgentConfig",
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
