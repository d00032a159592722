"""Distillation: read what a learned rule does by fitting a smaller network or a closed form to it.

``distill`` fits a student: of a drift objective ``mlp`` (a small LPO network) or
``symbolic`` (an expression from symbolic regression, ``objectives.symbolic``); of
OPEN ``mlp`` (a smaller OPEN without its GRU) or ``symbolic`` (a formula of its features,
``learned_optimizers.symbolic_open``); of a learned LR schedule ``symbolic`` (a formula
lr(p) = exp(e(p)), ``learned_optimizers.symbolic_schedule``). ``write_report`` saves it as a rule
file with its report. ``metalearn distill`` is the same from the command line.
"""

from metalearn.distill.run import (
    METHODS,
    Distilled,
    distill,
    distill_drift,
    distill_open,
    distill_schedule,
    parse_into,
    summary,
    write_report,
)
from metalearn.distill.samples import (
    DriftSamples,
    grid_drift_inputs,
    record_drift_inputs,
    teacher_drift,
)

__all__ = [
    "METHODS",
    "Distilled",
    "DriftSamples",
    "distill",
    "distill_drift",
    "distill_open",
    "distill_schedule",
    "grid_drift_inputs",
    "parse_into",
    "record_drift_inputs",
    "summary",
    "teacher_drift",
    "write_report",
]
