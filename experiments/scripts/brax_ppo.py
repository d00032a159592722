"""PPO on Brax Ant and Hopper at a CPU budget: learning curves and throughput (experiments/reports/brax.md).

    python experiments/scripts/brax_ppo.py train    # `metalearn inner` per env, run dirs in reports/brax/runs/
    python experiments/scripts/brax_ppo.py report   # the table and reports/brax/curves.png from those runs

Pinned to one core with single-threaded XLA, as every CPU number in the reports (see experiments/README.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1] / "reports" / "brax"
RUNS = HERE / "runs"
# preset, overrides, seeds: the ant preset's own budget; Hopper steps 5x faster here, so twice the steps
ENVS = {"ant": ([], 4), "hopper": (["total_timesteps=4000000"], 4)}


def train() -> None:
    from metalearn.inner.run import run_inner

    for preset, (overrides, seeds) in ENVS.items():
        run_dir = run_inner(preset, overrides=overrides, seeds=seeds, seed=0, out=RUNS / preset, progress=False)
        print(preset, run_dir, flush=True)


def _latest(preset: str) -> Path:
    runs = sorted(p for p in (RUNS / preset).iterdir() if (p / "result.json").is_file())
    if not runs:
        raise SystemExit(f"no finished run under {RUNS / preset}; run `train` first")
    return runs[-1]


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ENVS), figsize=(5 * len(ENVS), 3.5))
    rows = []
    for ax, preset in zip(axes, ENVS, strict=True):
        run = _latest(preset)
        config, result = json.loads((run / "config.json").read_text()), json.loads((run / "result.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        steps = np.array([m["env_steps"] for m in metrics])
        curves = np.array([m["episode_return_per_seed"] for m in metrics]).T  # (seeds, updates)
        final, first = np.asarray(result["final_return"]), curves[:, 0]
        n = len(final)
        rows.append(
            f"| {config['env']} | {steps[-1]:,} | {n} | {first.mean():.1f} ± {first.std(ddof=1) / np.sqrt(n):.1f} | "
            f"{final.mean():.1f} ± {final.std(ddof=1) / np.sqrt(n):.1f} | "
            f"{np.mean(result['eval_return']):.1f} | {result['steps_per_second']:,.0f} | "
            f"{result['wall_seconds'] / 60:.1f} |"
        )
        for c in curves:
            ax.plot(steps, c, lw=0.8, alpha=0.5)
        ax.plot(steps, curves.mean(0), color="k", lw=1.5, label="mean")
        ax.set(title=f"PPO on {config['env']} ({n} seeds)", xlabel="env steps", ylabel="episode return")
        ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=120)
    print(
        "| env | env steps | seeds | first update's return | final return (mean ± s.e.) | eval return | "
        "env steps/s (1 core) | wall (min) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "report"])
    {"train": train, "report": report}[parser.parse_args().step]()
