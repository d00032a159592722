"""The plots of a meta-training run: fitness, and the levels of a curriculum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metalearn.curriculum.plr import PLRState
from metalearn.runs import summary_value


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
            y = [summary_value(e["tasks"][name]["fitness"]) for e in evals if name in e["tasks"]]  # NaN: diverged
            err = [summary_value(e["tasks"][name]["fitness"], "stderr") for e in evals if name in e["tasks"]]
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


def plot_levels(path: Path, rows: list[dict[str, Any]], buffer: Any, title: str) -> None:
    """A curriculum run's levels: their scores, what they look like, and (GROOVE) the final buffer.

    ``rows`` are metrics rows with a ``curriculum`` entry; ``buffer`` the final
    curriculum state: a level buffer (``PLRState``) gets a panel of its own,
    any other state (``()`` for domain randomisation) none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in rows if "curriculum" in r]
    has_buffer = isinstance(buffer, PLRState)
    fig, axes = plt.subplots(1, 3 if has_buffer else 2, figsize=(13 if has_buffer else 9, 3.8), dpi=120)
    g = np.array([r["generation"] for r in rows])
    c = {k: np.array([r["curriculum"][k] for r in rows], float) for k in rows[0]["curriculum"]} if rows else {}

    ax = axes[0]
    if rows:
        ax.plot(g, c["batch_score"], color="C0", lw=1, label="levels trained on (mean)")
        if "buffer_score_q" in c:
            q = c["buffer_score_q"]
            ax.fill_between(g, q[:, 0], q[:, 2], color="C1", alpha=0.25, label="buffer, 10–90th percentile")
            ax.plot(g, q[:, 1], color="C1", lw=2, label="buffer, median")
    ax.set_xlabel("generation")
    ax.set_ylabel("level score (regret: return units)")
    ax.set_title(f"{title}: level scores")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)

    ax = axes[1]
    if rows:
        ax.plot(g, c["grid_size"], color="C0", label="grid cells")
        ax.plot(g, c["walls"], color="C2", label="walls")
        ax.set_ylabel("cells per level (mean over the generation's levels)")
        twin = ax.twinx()
        twin.plot(g, c["objects"], color="C3", label="objects")
        twin.plot(g, c["replayed"], color="C4", ls="--", label="fraction replayed")
        twin.set_ylabel("objects per level / fraction replayed")
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper left")
    ax.set_xlabel("generation")
    ax.set_title("levels trained on")
    ax.grid(alpha=0.3)

    if has_buffer:
        ax = axes[2]
        valid = np.asarray(buffer.valid)
        cells = np.asarray(buffer.levels.height * buffer.levels.width)[valid]
        objects = np.asarray(buffer.levels.obj_active).sum(-1)[valid]
        sc = ax.scatter(cells, np.asarray(buffer.scores)[valid], c=objects, cmap="viridis", s=18)
        fig.colorbar(sc, ax=ax, label="objects", ticks=np.unique(objects))  # counts: integer ticks
        ax.set_xlabel("grid cells")
        ax.set_ylabel("score")
        ax.set_title(f"final buffer ({int(valid.sum())} levels)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
