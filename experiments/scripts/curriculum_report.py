"""Curriculum A vs B over meta-seeds: held-out evaluations and level scores of finished runs.

    python experiments/scripts/curriculum_report.py OUT_DIR groove=RUN_DIR[,RUN_DIR...] dr=RUN_DIR[,...]

Each run's eval.jsonl gives the mean rule's return on each task (held-out
seeds; the curriculum task on fresh random levels) every eval_every
generations. Per curriculum and task we average over meta-seeds (runs) and
give the standard error across them. Writes OUT_DIR/results.json,
OUT_DIR/held_out.png (returns over generations) and OUT_DIR/regret.png (the
regret of the levels each curriculum trained on).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from metalearn.analysis.stats import mean_stderr
from metalearn.runs import summary_value


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_se(values: list[float]) -> dict[str, float]:
    mean, se = mean_stderr(np.asarray(values, np.float64))  # the package's statistics, not the script's
    return {"mean": mean, "stderr": se, "per_seed": list(map(float, values))}


def summarise(runs: dict[str, list[Path]]) -> dict:
    out: dict = {"curricula": {}}
    for label, dirs in runs.items():
        evals = [_rows(d / "eval.jsonl") for d in dirs]
        generations = sorted(set.intersection(*({e["generation"] for e in ev} for ev in evals)))
        tasks = list(evals[0][0]["tasks"])
        per_task = {}
        for task in tasks:
            curve = []
            for g in generations:
                rows = [next(e for e in ev if e["generation"] == g) for ev in evals]
                vals = [summary_value(row["tasks"][task]["return"]) for row in rows]
                curve.append(_mean_se(vals))
            per_task[task] = {"held_out": evals[0][0]["tasks"][task]["held_out"], "curve": curve}
        metrics = [_rows(d / "metrics.jsonl") for d in dirs]
        regret = np.array([[r["curriculum"]["batch_score"] for r in m] for m in metrics], np.float64)
        per_generation = [mean_stderr(regret[:, g]) for g in range(regret.shape[1])]  # over meta-seeds
        out["curricula"][label] = {
            "runs": [d.name for d in dirs],
            "generations": generations,
            "tasks": per_task,
            "batch_regret_mean": [m for m, _ in per_generation],
            "batch_regret_stderr": [se for _, se in per_generation],
        }
    return out


def plot(summary: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curricula = summary["curricula"]
    tasks = list(next(iter(curricula.values()))["tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.4), dpi=120, squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for i, (label, c) in enumerate(curricula.items()):
            curve = c["tasks"][task]["curve"]
            m = np.array([p["mean"] for p in curve])
            se = np.array([p["stderr"] for p in curve])
            n = len(curve[0]["per_seed"])
            ax.errorbar(
                c["generations"], m, yerr=se, color=f"C{i}", marker="o", ms=3, capsize=3, label=f"{label} (n={n})"
            )
        held = next(iter(curricula.values()))["tasks"][task]["held_out"]
        ax.set_title(task.replace("gridworld-lpg", "").strip("[]") or "random training levels", fontsize=9)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
        if not held:
            ax.set_title("random levels (training distribution)", fontsize=9)
    axes[0][0].set_ylabel("mean rule's return (± s.e. over meta-seeds)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "held_out.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    for i, (label, c) in enumerate(curricula.items()):
        m, se = np.array(c["batch_regret_mean"]), np.array(c["batch_regret_stderr"])
        g = np.arange(1, m.size + 1)
        ax.plot(g, m, color=f"C{i}", label=label)
        ax.fill_between(g, m - se, m + se, color=f"C{i}", alpha=0.2)
    ax.set_xlabel("generation")
    ax.set_ylabel("regret of the levels trained on\n(A2C return − population mean return)")
    ax.set_title("what each curriculum trains on (mean ± s.e. over meta-seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "regret.png")
    plt.close(fig)


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    runs = {}
    for arg in sys.argv[2:]:
        label, _, dirs = arg.partition("=")
        if not dirs:
            raise SystemExit(f"expected LABEL=RUN_DIR[,RUN_DIR...], got {arg!r}")
        runs[label] = [Path(d) for d in dirs.split(",")]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(runs)
    (out_dir / "results.json").write_text(json.dumps(summary, indent=1))
    plot(summary, out_dir)
    print(f"wrote {out_dir}/results.json, held_out.png, regret.png")
