"""Distillation: read what a learned rule does by fitting a smaller network or a closed form to it.

``distill_drift`` fits a drift objective's student (``mlp``: a small LPO network;
``symbolic``: an expression from symbolic regression, ``objectives.symbolic``),
``write_report`` saves it as a rule file with its report. ``metalearn distill``
is the same from the command line.
"""

from metalearn.distill.drift import METHODS, Distilled, distill_drift, parse_into, summary, write_report
from metalearn.distill.samples import (
    DriftSamples,
    grid_drift_inputs,
    reads_progress,
    record_drift_inputs,
    teacher_drift,
)

__all__ = [
    "METHODS",
    "Distilled",
    "DriftSamples",
    "distill_drift",
    "grid_drift_inputs",
    "parse_into",
    "reads_progress",
    "record_drift_inputs",
    "summary",
    "teacher_drift",
    "write_report",
]
