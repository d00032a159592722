"""What a drift objective does: f(r, A) surfaces, slices at fixed advantage, and change over progress.

A drift objective's per-sample loss is −[r·A − f(r, A)] (``objectives.drift``),
so its drift is recovered from *any* such rule as f = loss + r·A, through the
rule's own ``objective`` hook — with the rule's hyper-parameters (clip ε, DPO's
α, β) and, for TA-LPO, the training progress and horizon N it is given.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.rules import Rule
from objectives import ObjectiveInputs, names_of_kind

SLICE_ADVANTAGES = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)


def drift_rules() -> list[str]:
    """Names of the registered objectives that are drifts (and so have an f(r, A)): their modules declare
    ``KIND = "drift"``."""
    return names_of_kind("drift")


def is_drift_rule(rule: Rule) -> bool:
    return rule.objective is not None and rule.objective.kind == "drift"


def drift_values(
    rule: Rule,
    meta_params: Any,
    ratio: np.ndarray,
    advantage: np.ndarray,
    progress: float = 0.0,
    num_updates: int = 1000,
) -> np.ndarray:
    """f(r, A) elementwise for arrays of equal shape (r > 0)."""
    if not is_drift_rule(rule):
        raise ValueError(f"rule {rule.name!r} is not a drift objective; drift rules: {', '.join(drift_rules())}")
    r = jnp.asarray(ratio, jnp.float32)
    a = jnp.asarray(advantage, jnp.float32)
    if r.shape != a.shape:
        raise ValueError(f"ratio {r.shape} and advantage {a.shape} must have the same shape")
    flat_r, flat_a = r.reshape(-1), a.reshape(-1)
    inputs = ObjectiveInputs(
        ratio=flat_r,
        advantage=flat_a,
        log_prob=jnp.log(flat_r),
        old_log_prob=jnp.zeros_like(flat_r),
        progress=jnp.float32(progress),
        num_updates=jnp.float32(num_updates),
    )
    f = rule.objective(meta_params, inputs) + flat_r * flat_a
    return np.asarray(f).reshape(r.shape)


class DriftSurface(NamedTuple):
    """f(r, A) on a grid: ``values[i, j]`` at ``advantages[i]``, ``ratios[j]``."""

    ratios: np.ndarray  # (R,)
    advantages: np.ndarray  # (A,)
    values: np.ndarray  # (A, R)
    progress: float
    num_updates: int


def drift_surface(
    rule: Rule,
    meta_params: Any,
    ratios: np.ndarray | None = None,
    advantages: np.ndarray | None = None,
    progress: float = 0.0,
    num_updates: int = 1000,
) -> DriftSurface:
    """f over r ∈ [0.5, 1.5] (101 points) × A ∈ [−2, 2] (81 points, every 0.05) by default."""
    r = np.linspace(0.5, 1.5, 101, dtype=np.float32) if ratios is None else np.asarray(ratios, np.float32)
    a = np.linspace(-2.0, 2.0, 81, dtype=np.float32) if advantages is None else np.asarray(advantages, np.float32)
    rr, aa = np.meshgrid(r, a)
    return DriftSurface(r, a, drift_values(rule, meta_params, rr, aa, progress, num_updates), progress, num_updates)


def reads_progress(rule: Rule, meta_params: Any) -> bool:
    """Whether the drift changes with training progress or the horizon N (on the default surface grid):
    TA-LPO, or a distilled formula that reads p or log N."""
    base = drift_surface(rule, meta_params).values
    for progress, num_updates in ((1.0, 1000), (0.0, 10)):
        other = drift_surface(rule, meta_params, progress=progress, num_updates=num_updates).values
        if not np.allclose(other, base, atol=1e-6):
            return True
    return False


# ----------------------------------------------------------------------- figures
def _heatmap(fig: Figure, ax, s: DriftSurface, vmax: float | None, title: str, colorbar: bool = True):
    vmax = float(np.max(s.values)) if vmax is None else vmax
    mesh = ax.pcolormesh(
        s.ratios, s.advantages, s.values, cmap="viridis", vmin=0.0, vmax=vmax or 1.0, shading="nearest"
    )
    if vmax > 0:
        levels = np.linspace(0, vmax, 6)[1:-1]
        cs = ax.contour(s.ratios, s.advantages, s.values, levels=levels, colors="w", linewidths=0.7)
        ax.clabel(cs, fontsize=6, fmt="%.2g")
    ax.axvline(1.0, color="w", ls=":", lw=0.8)
    ax.axhline(0.0, color="w", ls=":", lw=0.8)
    ax.set_xlabel("probability ratio r = π/π_old")
    ax.set_ylabel("advantage A")
    ax.set_title(title)
    ax.grid(False)
    if colorbar:
        fig.colorbar(mesh, ax=ax, label="drift f(r, A)")
    return mesh


def _slice_colors(advantages: tuple[float, ...]):
    import matplotlib

    cmap = matplotlib.colormaps["coolwarm"]
    span = max(abs(a) for a in advantages) or 1.0
    return [cmap(0.5 + 0.5 * a / span) for a in advantages]


def _slices(ax, s: DriftSurface, advantages: tuple[float, ...], title: str) -> None:
    for a, color in zip(advantages, _slice_colors(advantages), strict=True):
        i = int(np.argmin(np.abs(s.advantages - a)))
        ax.plot(s.ratios, s.values[i], color=color, lw=1.5, label=f"A = {s.advantages[i]:g}")
    ax.axvline(1.0, color="k", ls=":", lw=0.8)
    ax.set_xlabel("probability ratio r = π/π_old")
    ax.set_ylabel("drift f(r, A)")
    ax.set_title(title)
    ax.legend(loc="upper center", ncols=2)


@styled
def drift_figure(
    surfaces: dict[str, DriftSurface], advantages: tuple[float, ...] = SLICE_ADVANTAGES, shared_scale: bool = True
) -> Figure:
    """One column per objective: the f(r, A) heatmap (top) and slices at fixed A (bottom).

    ``shared_scale`` gives every heatmap and slice panel the same range, so the
    objectives can be compared by eye.
    """
    fig, axes = new_figure(2, len(surfaces), panel=(3.6, 3.0))
    vmax = max(float(np.max(s.values)) for s in surfaces.values()) if shared_scale else None
    for col, (label, s) in enumerate(surfaces.items()):
        _heatmap(fig, axes[0, col], s, vmax, label)
        _slices(axes[1, col], s, advantages, "slices at fixed A")  # the column's label is on the heatmap above
        if shared_scale:
            axes[1, col].set_ylim(-0.02 * vmax, 1.25 * vmax)  # headroom for the legend
    fig.suptitle("drift f(r, A) ≥ 0: the penalty on moving the policy (zero and flat at r = 1)")
    return fig


def drift_over_progress(
    rule: Rule, meta_params: Any, progresses: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0), num_updates: int = 1000
) -> list[DriftSurface]:
    """One :func:`drift_surface` per training progress (for temporally-aware rules)."""
    return [drift_surface(rule, meta_params, progress=p, num_updates=num_updates) for p in progresses]


@styled
def drift_progress_figure(
    surfaces: list[DriftSurface], label: str = "", slice_advantages: tuple[float, ...] = (-1.0, 1.0)
) -> Figure:
    """Top: a heatmap per progress on one colour scale. Bottom: f(r, A) at fixed A, one line per progress."""
    import matplotlib

    n = len(surfaces)
    fig, axes = new_figure(2, n, panel=(2.5, 2.5))
    vmax = max(float(np.max(s.values)) for s in surfaces) or 1.0
    for col, s in enumerate(surfaces):
        mesh = _heatmap(fig, axes[0, col], s, vmax, f"progress {s.progress:.2f}", colorbar=False)
        if col:
            axes[0, col].set_ylabel("")
        axes[0, col].set_xlabel("ratio r")
    # An inset colour bar beside the last heatmap: attached to the whole row it would leave a wide gap.
    fig.colorbar(mesh, cax=axes[0, -1].inset_axes((1.06, 0.0, 0.06, 1.0)), label="drift f(r, A)")
    cmap = matplotlib.colormaps["viridis"]
    gs = axes[1, 0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    row = gs[1, :].subgridspec(1, len(slice_advantages))
    for k, a in enumerate(slice_advantages):
        ax = fig.add_subplot(row[0, k])
        for i, s in enumerate(surfaces):
            j = int(np.argmin(np.abs(s.advantages - a)))
            ax.plot(
                s.ratios, s.values[j], color=cmap(0.9 * i / max(n - 1, 1)), lw=1.5, label=f"progress {s.progress:.2f}"
            )
        ax.axvline(1.0, color="k", ls=":", lw=0.8)
        ax.set_xlabel("probability ratio r = π/π_old")
        ax.set_ylabel("drift f(r, A)")
        ax.set_title(f"A = {a:g}")
        ax.legend(loc="upper center", ncols=2)
        # Headroom for the legend; a slice that is zero everywhere still gets a visible range above 0.
        top = max(max(float(np.max(s.values[j])) for s in surfaces), 0.1 * vmax)
        ax.set_ylim(-0.02 * vmax, 1.3 * top)
    fig.suptitle(f"{label}: drift over training (horizon N = {surfaces[0].num_updates} updates)".lstrip(": "))
    return fig
