"""The fitness plot of a meta-training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_fitness(path: Path, rows: list[dict[str, Any]], evals: list[dict[str, Any]], title: str) -> None:
    """Population fitness per generation (best / mean / median) and the mean rule on held-out seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    if rows:
        g = np.array([r["generation"] for r in rows])
        for key, style, label in (
            ("best_fitness", dict(color="C0", lw=1, alpha=0.6), "population best"),
            ("mean_fitness", dict(color="C0", lw=2), "population mean"),
            ("median_fitness", dict(color="C0", lw=1, ls="--"), "population median"),
        ):
            ax.plot(g, [np.nan if r[key] is None else r[key] for r in rows], label=label, **style)
    if evals:
        tasks = list(evals[0]["tasks"])
        for i, name in enumerate(tasks):
            held_out = evals[0]["tasks"][name]["held_out"]
            x = [e["generation"] for e in evals if name in e["tasks"]]
            y = [e["tasks"][name]["fitness"]["mean"] for e in evals if name in e["tasks"]]
            err = [e["tasks"][name]["fitness"]["stderr"] for e in evals if name in e["tasks"]]
            ax.errorbar(
                x,
                y,
                yerr=err,
                color=f"C{i + 1}",
                marker="s" if held_out else "o",
                ms=4,
                capsize=3,
                label=f"mean rule, {name}{' (held-out task)' if held_out else ''}, held-out seeds ± s.e.",
            )
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (normalised return)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
