"""Pictures of what a rule has learned, and of how runs went.

Each picture is two pure functions: one computes the data (NamedTuples of
numpy arrays, shapes in their docstrings) and one draws it, returning a
``matplotlib.figure.Figure`` on the Agg canvas (no pyplot state; save it with
:func:`save_figure`, or show it in a notebook).

* optimizers (any ``optax`` transformation, e.g. ``rule.optimizer(meta_params)``):
  :func:`update_vs_gradient`, :func:`update_vs_momentum`,
  :func:`step_size_over_training`, :func:`learned_noise`, :func:`per_layer_updates`
  — probed on synthetic inputs built in one place, :mod:`metalearn.analysis.probe`;
* drift objectives (``ppo_clip``, ``dpo``, ``lpo``, ``ta_lpo``):
  :func:`drift_surface`, :func:`drift_over_progress`;
* LPG objectives (``lpg``, ``ta_lpg``): :func:`lpg_targets` (π̂ and ŷ along a
  trajectory, by default :func:`synthetic_trajectory`);
* runs: :func:`read_run`, :func:`fitness_curves`, :func:`eval_curves`,
  :func:`compare` (mean ± s.e., bootstrap CIs, IQM of several methods' per-seed scores);
* :func:`analyze`: all of the above for a run directory, a rule file,
  ``published:NAME``, ``discovered:NAME`` or a results folder, with a Markdown report (``metalearn analyze``).
"""

from metalearn.analysis.drifts import (
    DriftSurface,
    drift_figure,
    drift_over_progress,
    drift_progress_figure,
    drift_rules,
    drift_surface,
    drift_values,
)
from metalearn.analysis.figures import new_figure, save_figure
from metalearn.analysis.lpg import LpgTargets, lpg_figure, lpg_targets, progress_dependence, synthetic_trajectory
from metalearn.analysis.optimizers import (
    LayerUpdates,
    MomentumMap,
    NoiseStats,
    StepSize,
    UpdateMap,
    gradient_grid,
    learned_noise,
    noise_figure,
    per_layer_figure,
    per_layer_updates,
    step_size_figure,
    step_size_over_training,
    update_vs_gradient,
    update_vs_gradient_figure,
    update_vs_momentum,
    update_vs_momentum_figure,
)
from metalearn.analysis.probe import probe_extra_args, probe_fn, probe_tree, probe_updates
from metalearn.analysis.report import analyze
from metalearn.analysis.runs import (
    RunRecord,
    compare,
    comparison_figure,
    comparison_table,
    eval_curves,
    eval_figure,
    fitness_curves,
    fitness_figure,
    read_run,
)
from metalearn.analysis.stats import (
    Summary,
    bootstrap_ci,
    curve_mean_stderr,
    iqm,
    mean_stderr,
    probability_of_improvement,
    summarize,
)

__all__ = [
    "DriftSurface",
    "LayerUpdates",
    "LpgTargets",
    "MomentumMap",
    "NoiseStats",
    "RunRecord",
    "StepSize",
    "Summary",
    "UpdateMap",
    "analyze",
    "bootstrap_ci",
    "compare",
    "comparison_figure",
    "comparison_table",
    "curve_mean_stderr",
    "drift_figure",
    "drift_over_progress",
    "drift_progress_figure",
    "drift_rules",
    "drift_surface",
    "drift_values",
    "eval_curves",
    "eval_figure",
    "fitness_curves",
    "fitness_figure",
    "gradient_grid",
    "iqm",
    "learned_noise",
    "lpg_figure",
    "lpg_targets",
    "mean_stderr",
    "new_figure",
    "noise_figure",
    "per_layer_figure",
    "per_layer_updates",
    "probability_of_improvement",
    "probe_extra_args",
    "probe_fn",
    "probe_tree",
    "probe_updates",
    "progress_dependence",
    "read_run",
    "save_figure",
    "step_size_figure",
    "step_size_over_training",
    "summarize",
    "synthetic_trajectory",
    "update_vs_gradient",
    "update_vs_gradient_figure",
    "update_vs_momentum",
    "update_vs_momentum_figure",
]
