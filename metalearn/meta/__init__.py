"""Meta-training: evolve a rule with ES over populations of inner trainings."""

from metalearn.meta.config import MetaConfig, RuleConfig, TaskConfig, list_experiments, load_config_dict
from metalearn.meta.run import resume_run, start_run
from metalearn.meta.trainer import MetaState, MetaTrainer

__all__ = [
    "MetaConfig",
    "MetaState",
    "MetaTrainer",
    "RuleConfig",
    "TaskConfig",
    "list_experiments",
    "load_config_dict",
    "resume_run",
    "start_run",
]
