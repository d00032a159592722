"""Aggregates over seeds: mean ± standard error, interquartile mean, percentile-bootstrap CIs,
probability of improvement.

All numpy, seeded, no scipy. The interquartile mean (IQM) follows Agarwal et al.
(2021, *rliable*): the mean of the middle half of the sorted values, dropping
``floor(n / 4)`` from each end (``scipy.stats.trim_mean(x, 0.25)``), so it is robust
to a few outlier seeds yet uses more of the data than the median.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np


def mean_stderr(values: np.ndarray) -> tuple[float, float]:
    """(mean, standard error of the mean) of a 1-D sample; the error is 0 for one value."""
    x = _sample(values)
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def curve_mean_stderr(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point mean and standard error over runs of curves ``(S, U)`` -> ``(U,)``, ``(U,)``, each point from its
    finite values (a NaN, an update where a run logged nothing, is left out): NaN where no run has a value, error 0
    where one has."""
    x = np.asarray(curves, np.float64)
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"curves of shape {x.shape}; allowed: (runs, points), neither empty")
    ok = np.isfinite(x)
    n = ok.sum(axis=0)  # (U,) runs with a value at each point
    mean = np.where(ok, x, 0.0).sum(axis=0) / np.maximum(n, 1)
    var = np.where(ok, x - mean, 0.0) ** 2
    se = np.sqrt(var.sum(axis=0) / np.maximum(n - 1, 1)) / np.sqrt(np.maximum(n, 1))
    return np.where(n > 0, mean, np.nan), np.where(n > 1, se, np.where(n == 1, 0.0, np.nan))


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean along ``axis``: sort, drop ``floor(n/4)`` values at each end, average the rest."""
    x = np.sort(np.asarray(values, np.float64), axis=axis)
    n = x.shape[axis]
    k = n // 4
    middle = np.take(x, np.arange(k, n - k), axis=axis)
    out = middle.mean(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[..., np.ndarray] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``statistic`` over a 1-D sample.

    ``statistic(x, axis=-1)`` must reduce the last axis (``np.mean``, :func:`iqm`,
    ``np.median`` do). Resamples are drawn with replacement, seeded, so the
    interval is reproducible.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be in (0, 1)")
    x = _sample(values)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_resamples, x.size))
    stats = np.asarray(statistic(x[idx], axis=-1), np.float64)  # (n_resamples,)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail])
    return float(lo), float(hi)


class Summary(NamedTuple):
    """Aggregates of one method's per-seed scores."""

    n: int
    mean: float
    stderr: float
    mean_ci: tuple[float, float]  # percentile bootstrap of the mean
    iqm: float
    iqm_ci: tuple[float, float]  # percentile bootstrap of the IQM


def summarize(values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Summary:
    """Mean ± s.e., and the mean and IQM with percentile-bootstrap CIs, of per-seed scores (n,)."""
    x = _sample(values)
    mean, se = mean_stderr(x)
    kw = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Summary(
        n=int(x.size),
        mean=mean,
        stderr=se,
        mean_ci=bootstrap_ci(x, np.mean, **kw),
        iqm=iqm(x),
        iqm_ci=bootstrap_ci(x, iqm, **kw),
    )


def probability_of_improvement(
    xs: list[np.ndarray], ys: list[np.ndarray], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """P(X > Y): the chance that a run of method X scores above a run of method Y on the same task, averaged
    over tasks, with a stratified percentile-bootstrap CI (Agarwal et al. 2021, *rliable*).

    ``xs[t]``, ``ys[t]``: the per-seed scores (n_t,), (m_t,) of X and Y on task t. On one task it is
    P(x > y) + ½ P(x = y) over all pairs, the Mann-Whitney U statistic of x over y divided by n·m;
    0.5 means neither is better. The bootstrap resamples each task's seeds of X and of Y independently.
    """
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"xs and ys must hold one sample per task, the same tasks; got {len(xs)} and {len(ys)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be in (0, 1)")
    pairs = [(_sample(x), _sample(y)) for x, y in zip(xs, ys, strict=True)]

    def estimate(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # (..., n), (..., m) -> (...)
        return (np.greater(x[..., :, None], y[..., None, :]) + 0.5 * np.equal(x[..., :, None], y[..., None, :])).mean(
            axis=(-2, -1)
        )

    rng = np.random.default_rng(seed)
    point, boot = 0.0, np.zeros(n_resamples)
    for x, y in pairs:
        point += float(estimate(x, y)) / len(pairs)
        bx = x[rng.integers(0, x.size, size=(n_resamples, x.size))]
        by = y[rng.integers(0, y.size, size=(n_resamples, y.size))]
        boot += estimate(bx, by) / len(pairs)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return point, (float(lo), float(hi))


def _sample(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("no values to aggregate (an empty list of per-seed scores)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"per-seed scores must be finite, got {x.tolist()}")
    return x
