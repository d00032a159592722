"""Interval estimates that respect how an evaluation was designed: stratified over tasks, clustered over rules.

An *arm* is a score array ``(G, T, S)``: G rule instances (the meta-seeds of one meta-trained rule, one cluster
each; a hand-designed baseline or a single rule file is G = 1), T tasks, S seeds per instance and task. Agents of
one rule instance share that rule, so they are not independent draws of the arm: the bootstrap resamples rule
instances first (the same draw on every task, since an instance is the same rule everywhere), then each chosen
instance's seeds within each task, independently per task (stratified, as rliable's ``StratifiedBootstrap``).
With G = 1 this is exactly rliable's stratified bootstrap over runs.

Statistics follow rliable (Agarwal et al. 2021): the IQM pools every agent of every task (``aggregate_iqm``,
``scipy.stats.trim_mean(x, 0.25)``: drop ``floor(n / 4)`` at each end), P(X > Y) is the Mann-Whitney statistic
per task averaged over tasks, intervals are percentile intervals. Every resampling is seeded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metalearn.analysis.stats import iqm, mean_stderr


def as_arm(scores: np.ndarray | list) -> np.ndarray:
    """``scores`` as a finite float64 ``(G, T, S)`` array; a ``(T, S)`` array is one instance, ``(S,)`` one task."""
    x = np.asarray(scores, np.float64)
    x = x.reshape((1,) * (3 - x.ndim) + x.shape) if x.ndim < 3 else x
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"scores of shape {np.shape(scores)}; allowed: (S,), (T, S) or (G, T, S), none empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"scores must be finite; {int(np.size(x) - np.isfinite(x).sum())} are NaN or inf")
    return x


def resample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` two-stage bootstrap resamples of an arm ``(G, T, S)`` -> ``(n, G, T, S)``: instances with
    replacement (one draw for all tasks), then seeds with replacement within each (instance, task)."""
    g, t, s = x.shape
    instance = rng.integers(0, g, size=(n, g))  # (n, G)
    seed = rng.integers(0, s, size=(n, g, t, s))  # (n, G, T, S)
    return x[instance[:, :, None, None], np.arange(t)[None, None, :, None], seed]


def task_values(x: np.ndarray) -> np.ndarray:
    """``(..., G, T, S)`` -> ``(..., T, G*S)``: each task's agents, pooled over instances."""
    x = np.moveaxis(x, -2, -3)  # (..., T, G, S)
    return x.reshape(*x.shape[:-2], -1)


def pooled_iqm(x: np.ndarray) -> np.ndarray:
    """IQM over every agent of every task: ``(..., G, T, S)`` -> ``(...)`` (rliable's ``aggregate_iqm``)."""
    return np.asarray(iqm(x.reshape(*x.shape[:-3], -1), axis=-1))


def task_iqm(x: np.ndarray) -> np.ndarray:
    """Per-task IQM over instances and seeds: ``(..., G, T, S)`` -> ``(..., T)``."""
    return np.asarray(iqm(task_values(x), axis=-1))


def improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + ½ P(X = Y) per task: ``(..., G, T, S)``, ``(..., H, T, R)`` -> ``(..., T)``."""
    a, b = task_values(x), task_values(y)  # (..., T, n), (..., T, m)
    out = np.empty(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]))
    for t in range(a.shape[-2]):  # one task at a time keeps the (..., n, m) comparison small
        ai, bi = a[..., t, :, None], b[..., t, None, :]
        out[..., t] = (np.greater(ai, bi) + 0.5 * np.equal(ai, bi)).mean(axis=(-2, -1))
    return out


def unit_means(scores: np.ndarray | list) -> np.ndarray:
    """An arm's ``(G, T, S)`` (or ``(T, S)``, ``(S,)``) independent units, each its mean: the G rule instances when
    G > 1 (each over its tasks and seeds) -> ``(G,)``, else the S seeds (each over the tasks, whose agents share that
    seed's key) -> ``(S,)``."""
    x = as_arm(scores)
    return x.mean(axis=(1, 2)) if x.shape[0] > 1 else x[0].mean(axis=0)


def unit_mean_stderr(scores: np.ndarray | list) -> tuple[float, float]:
    """Descriptive mean ± standard error of an arm ``(G, T, S)`` over its units (:func:`unit_means`): a summary to
    show, not to read a verdict from (:func:`contrast`, :func:`judge`)."""
    return mean_stderr(unit_means(scores))


def arm_summary(scores: np.ndarray | list, *, seed: int = 0) -> dict:
    """An arm ``(G, T, S)`` described, JSON-ready: ``unit_means`` (:func:`unit_means`), their ``mean`` and ``stderr``,
    and ``iqm`` [value, lo, hi] (:func:`arm_iqm`: clustered over instances, stratified over tasks)."""
    mean, se = unit_mean_stderr(scores)
    return {
        "unit_means": unit_means(scores).tolist(),
        "mean": mean,
        "stderr": se,
        "iqm": list(arm_iqm(scores, seed=seed)),
    }


class Interval(NamedTuple):
    """A point estimate and its percentile-bootstrap interval."""

    value: float
    lo: float
    hi: float

    def text(self, digits: int = 2) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def _interval(point: float, boot: np.ndarray, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return Interval(float(point), float(lo), float(hi))


class Contrast(NamedTuple):
    """X vs Y: each arm's IQM, the IQM difference X − Y and P(X > Y), pooled over tasks and per task (T,)."""

    x_iqm: Interval
    y_iqm: Interval
    difference: Interval
    p_improvement: Interval
    x_task_iqm: list[Interval]
    y_task_iqm: list[Interval]
    task_difference: list[Interval]
    task_p_improvement: list[Interval]


def contrast(
    x: np.ndarray, y: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Contrast:
    """Arm X ``(G, T, S)`` vs arm Y ``(H, T, R)`` on the same T tasks; the two arms are resampled independently
    (:func:`resample`) from one seeded generator, so the result is a function of the data and ``seed``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} is invalid; allowed: a number in (0, 1)")
    if n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples} is invalid; allowed: an integer >= 1")
    x, y = as_arm(x), as_arm(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"X has {x.shape[1]} tasks and Y {y.shape[1]}; allowed: the same tasks in both")
    rng = np.random.default_rng(seed)
    bx, by = resample(x, n_resamples, rng), resample(y, n_resamples, rng)
    ix, iy, bix, biy = pooled_iqm(x), pooled_iqm(y), pooled_iqm(bx), pooled_iqm(by)
    tx, ty, btx, bty = task_iqm(x), task_iqm(y), task_iqm(bx), task_iqm(by)
    p, bp = improvement(x, y), improvement(bx, by)  # (T,), (n, T)
    ci = lambda point, boot: _interval(point, boot, confidence)
    tasks = range(x.shape[1])
    return Contrast(
        x_iqm=ci(ix, bix),
        y_iqm=ci(iy, biy),
        difference=ci(ix - iy, bix - biy),
        p_improvement=ci(p.mean(), bp.mean(-1)),
        x_task_iqm=[ci(tx[t], btx[:, t]) for t in tasks],
        y_task_iqm=[ci(ty[t], bty[:, t]) for t in tasks],
        task_difference=[ci(tx[t] - ty[t], btx[:, t] - bty[:, t]) for t in tasks],
        task_p_improvement=[ci(p[t], bp[:, t]) for t in tasks],
    )


def arm_iqm(x: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """One arm's pooled IQM with its clustered, stratified interval."""
    x = as_arm(x)
    boot = pooled_iqm(resample(x, n_resamples, np.random.default_rng(seed)))
    return _interval(pooled_iqm(x), boot, confidence)


def design(x: np.ndarray, y: np.ndarray) -> int | str:
    """What a contrast of arms ``x`` ``(G, T, S)`` and ``y`` ``(H, T, R)`` rests on, as its verdict states it: the
    agents per task G·S (an int) when both arms are one instance, else ``"G rules × S seeds vs H × R"``."""
    x, y = as_arm(x), as_arm(y)
    if max(x.shape[0], y.shape[0]) == 1:
        return int(x.shape[2])
    return f"{x.shape[0]} rules × {x.shape[2]} seeds vs {y.shape[0]} × {y.shape[2]}"


def judge(
    x: np.ndarray,
    y: np.ndarray,
    margin: float | None = None,
    *,
    relative_margin: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """X ``(G, T, S)`` vs Y ``(H, T, R)`` pooled over their tasks (:func:`contrast`) with its verdict, JSON-ready:
    ``x_iqm``, ``y_iqm``, ``difference`` (X − Y), ``p_improvement`` as [value, lo, hi], ``margin`` and ``verdict``.

    ``margin`` in score units, stated before looking (e.g. 5% of a known score range); None: ``relative_margin`` of
    |Y's IQM| (at least 1e-12), the engine's rule for a task without a score range."""
    c = contrast(x, y, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if margin is None:
        margin = max(relative_margin * abs(c.y_iqm.value), 1e-12)
    return {
        "x_iqm": list(c.x_iqm),
        "y_iqm": list(c.y_iqm),
        "difference": list(c.difference),
        "p_improvement": list(c.p_improvement),
        "margin": margin,
        "verdict": verdict(c.difference, c.p_improvement, margin, design(x, y)),
    }


VERDICTS = ("better", "worse", "equivalent within ±m", "not resolved (n seeds)")


def verdict(difference: Interval, p_improvement: Interval, margin: float, seeds: int | str) -> str:
    """The verdict word for X vs Y from the 95% intervals of the IQM difference X − Y and of P(X > Y).

    ``better`` / ``worse``: both intervals exclude no difference (0, and 0.5), in the same direction;
    ``equivalent within ±margin``: the whole interval of the difference lies inside [−margin, margin] (a margin
    stated before running); otherwise ``not resolved (S seeds)`` (``seeds`` an int), or ``not resolved (seeds)``
    for a description such as ``"3 rules × 8 seeds"``.
    """
    if not margin > 0:
        raise ValueError(f"margin={margin} is invalid; allowed: a positive number")
    if difference.lo > 0 and p_improvement.lo > 0.5:
        return "better"
    if difference.hi < 0 and p_improvement.hi < 0.5:
        return "worse"
    if -margin <= difference.lo and difference.hi <= margin:
        return f"equivalent within ±{margin:.3g}"
    return f"not resolved ({seeds} seeds)" if isinstance(seeds, int) else f"not resolved ({seeds})"
