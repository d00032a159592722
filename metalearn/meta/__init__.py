"""Meta-training: a rule evolved by ES over populations of inner trainings, or by meta-gradients."""

from metalearn.meta.config import (
    MetaConfig,
    MetaGradientConfig,
    RuleConfig,
    TaskConfig,
    list_experiments,
    load_config_dict,
)
from metalearn.meta.evolution import ESTrainer, MetaState
from metalearn.meta.metagrad import MetaGradientTrainer, PersistentState
from metalearn.meta.regime import GenerationMetrics, Regime
from metalearn.meta.registry import REGIMES, make_meta_trainer
from metalearn.meta.run import resume_run, start_run

__all__ = [
    "REGIMES",
    "ESTrainer",
    "GenerationMetrics",
    "MetaConfig",
    "MetaGradientConfig",
    "MetaGradientTrainer",
    "MetaState",
    "PersistentState",
    "Regime",
    "RuleConfig",
    "TaskConfig",
    "list_experiments",
    "load_config_dict",
    "make_meta_trainer",
    "resume_run",
    "start_run",
]
