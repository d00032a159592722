"""Meta-training: a rule evolved by ES over populations of inner trainings, or by meta-gradients."""

from metalearn.meta.config import (
    MetaConfig,
    MetaGradientConfig,
    RuleConfig,
    TaskConfig,
    list_experiments,
    load_config_dict,
)
from metalearn.meta.metagrad import MetaGradientTrainer, PersistentState, make_meta_trainer
from metalearn.meta.run import resume_run, start_run
from metalearn.meta.trainer import MetaState, MetaTrainer

__all__ = [
    "MetaConfig",
    "MetaGradientConfig",
    "MetaGradientTrainer",
    "MetaState",
    "MetaTrainer",
    "PersistentState",
    "RuleConfig",
    "TaskConfig",
    "list_experiments",
    "load_config_dict",
    "make_meta_trainer",
    "resume_run",
    "start_run",
]
