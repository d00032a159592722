"""One evaluation engine: a comparison spec -> one results folder with verdicts that survive an audit.

``compare(spec, out)`` (and ``metalearn compare SPEC.yaml``) runs rules × tasks against a hand-designed baseline
tuned at the same budget on disjoint seeds; ``analyse(out)`` recomputes every statistic from stored per-seed
results. See :mod:`metalearn.evaluation.spec` for the spec's fields.
"""

from metalearn.evaluation.engine import (
    check_disjoint,
    compare,
    evaluation_keys,
    key_overlap,
    tune_baseline,
    write_per_seed,
    write_spec,
)
from metalearn.evaluation.report import analyse
from metalearn.evaluation.spec import CompareSpec, load_spec, parse_spec

__all__ = [
    "CompareSpec",
    "analyse",
    "check_disjoint",
    "compare",
    "evaluation_keys",
    "key_overlap",
    "load_spec",
    "parse_spec",
    "tune_baseline",
    "write_per_seed",
    "write_spec",
]
