"""Figures on the Agg canvas, without pyplot.

Figures are built as ``matplotlib.figure.Figure`` objects attached to an Agg
canvas: no global pyplot state, nothing to close, and no change of the
caller's backend (a notebook still shows them inline once pyplot is imported).
One style for every analysis picture, sized to stay readable when a README
shows them at ~600 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def new_figure(
    nrows: int = 1, ncols: int = 1, panel: tuple[float, float] = (3.6, 3.0), **subplot_kw: Any
) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` panels of ``panel`` inches each; axes always a 2-D array."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def styled(fn):
    """Decorator: run a plotting function under :data:`STYLE` (rc settings apply when artists are made)."""
    import functools

    import matplotlib

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Writes ``fig`` as a PNG and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path
