"""A learned learning-rate schedule (``lr_schedule``) distilled into a formula lr(p) = exp(e(p)).

The schedule reads one input, the training progress p = n/(N−1) of each update, so
where it operates is known without running a training: the N values
``operating_progress(N)`` (what the inner trainer passes as ``training_progress``;
a test checks this against a recording optimizer). They are joined by a uniform grid
over [0, 1] (the rule's declared input range, so the formula also holds at other
horizons), and the regressor fits the teacher's log step size, where its knots live.

Only ``symbolic``: the teacher is K numbers (8 knots), and a network student would be
larger than it; a formula is the reading that helps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.distill import symbolic as sym
from metalearn.inner import TrainConfig
from metalearn.rules import Rule, make_rule
from objectives.expression import to_text

TEACHERS = ("lr_schedule", "symbolic_lr_schedule")
# Operon's operators for e(p): no log (p = 0 is an input) and no division (poles inside [0, 1]).
SYMBOLS = "add,sub,mul,constant,variable,exp,tanh,square,fmax,fmin"
GRID = 201


def check_schedule_rule(rule: Rule) -> None:
    """Raises unless ``rule`` is a learning-rate schedule."""
    if rule.name not in TEACHERS:
        raise ValueError(f"rule {rule.name!r} is not a learning-rate schedule; allowed: {', '.join(TEACHERS)}")


def operating_progress(num_updates: int) -> np.ndarray:
    """(N,) float32 progress n/(N − 1) of each of a training's N = ``num_updates`` updates (0 for N = 1)."""
    n = int(num_updates)
    return (np.arange(n, dtype=np.float32) / max(n - 1, 1)).astype(np.float32)


def log_lr(rule: Rule, meta_params, progress: np.ndarray) -> np.ndarray:
    """(n,) float64 log step size of the schedule ``rule`` at ``progress`` (n,), read from its optax transform
    (the step it applies to a unit Adam direction), so any schedule rule is read the same way."""
    check_schedule_rule(rule)
    opt = rule.optimizer(meta_params)

    def lr_at(p):
        # Adam's first step on gradient g is −lr·g/(|g| + eps): with g = 1e6 the eps is far below float32's
        # resolution, so the step is −lr to float32 precision.
        g = {"w": jnp.float32(1e6)}
        step, _ = opt.update(g, opt.init({"w": jnp.float32(0.0)}), None, training_progress=p)
        return -step["w"]

    lr = np.asarray(jax.jit(jax.vmap(lr_at))(jnp.asarray(progress, jnp.float32)), np.float64)
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        bad = np.flatnonzero(~(np.isfinite(lr) & (lr > 0)))[0]
        raise ValueError(f"schedule {rule.name!r} gives step size {lr[bad]} at progress {progress[bad]:.4g}")
    return np.log(lr)


def fit(
    progress: np.ndarray,
    target: np.ndarray,
    val_progress: np.ndarray,
    val_target: np.ndarray,
    seed: int = 0,
    **search_options,
) -> tuple[tuple[sym.Candidate, ...], int]:
    """(Pareto front of e(p) as ``symbolic_lr_schedule`` candidates, sorted by length; index of the chosen one).

    ``target``: the teacher's log step size at ``progress``. Each candidate is scored as a rule, its
    log step size vs the teacher's (RMSE), and chosen by :func:`metalearn.distill.symbolic.choose`.
    ``search_options``: :func:`metalearn.distill.symbolic.search`'s (``symbols`` defaults to ``SYMBOLS``).
    """
    search_options.setdefault("symbols", SYMBOLS)
    x = np.asarray(progress, np.float64)[:, None]
    candidates = []
    for raw, length in sym.search(x, target, ["p"], seed=seed, **search_options):
        text = to_text(sym.tidy(raw))
        rule = make_rule("symbolic_lr_schedule", expression=text)
        mp = rule.init(None)
        try:  # one compiled read of the rule over both parts, then split
            err = log_lr(rule, mp, np.concatenate([progress, val_progress])) - np.concatenate([target, val_target])
        except ValueError:  # a step size that overflows somewhere in [0, 1]: not a candidate
            continue
        rmse = [float(np.sqrt(np.mean(e**2))) for e in (err[: len(progress)], err[len(progress) :])]
        candidates.append(sym.Candidate(text, length, *rmse))
    return sym.choose(candidates)


def inputs(config: TrainConfig, grid: int = GRID) -> tuple[np.ndarray, int]:
    """(progress values: the ``config``'s operating ones, then a ``grid``-point grid over [0, 1]; how many are
    operating ones)."""
    recorded = operating_progress(config.num_updates)
    return np.concatenate([recorded, np.linspace(0.0, 1.0, grid, dtype=np.float32)]), len(recorded)


@styled
def figure(curves: dict[str, tuple], operating: np.ndarray) -> Figure:
    """Step size over progress, one line per ``label -> (rule, meta_params)``, with the operating progresses
    ``operating`` (N,) marked on the first."""
    fig, axes = new_figure(1, 1, panel=(5.0, 3.3))
    ax = axes[0, 0]
    p = np.linspace(0.0, 1.0, 401, dtype=np.float32)
    for i, (label, (rule, mp)) in enumerate(curves.items()):
        ax.plot(p, np.exp(log_lr(rule, mp, p)), lw=1.8 if i == 0 else 1.2, ls="-" if i == 0 else "--", label=label)
        if i == 0:
            ax.plot(operating, np.exp(log_lr(rule, mp, operating)), ".", ms=3, color="0.4", label="its updates")
    ax.set_yscale("log")
    ax.set_xlabel("training progress p = n / (N − 1)")
    ax.set_ylabel("learning rate")
    ax.set_title("learning-rate schedule: teacher and student")
    ax.legend(loc="best")
    return fig
