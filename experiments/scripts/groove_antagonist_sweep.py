"""Tune GROOVE's A2C antagonist: learning rate × entropy coefficient on random levels of a family.

GROOVE scores a level by the regret of the LPG agent against a *tuned* A2C agent trained on
that level for the family's maximum lifetime. This sweep is that tuning, committed: every grid
point trains one A2C agent on each of ``--levels`` random levels of the family (the same levels
and seeds at every point), all points and levels in one compiled program
(:func:`metalearn.inner.tune.sweep`). The score of an agent is its mean episodic return over
the last ``final_window`` updates. Levels differ in scale (rewards in [-1, 1], episode lengths
20-100 steps), so each level's scores are min-max normalised across the grid points (1: the best
point on that level, 0: the worst) and points are ranked by the interquartile mean of that
normalised score over levels; the raw table is printed too.

    python experiments/scripts/groove_antagonist_sweep.py --family small

writes ``experiments/reports/data/groove_antagonist_<family>.{json,md}``; the chosen setting is
the ``gridworld-a2c`` preset's default (``metalearn/inner/presets.py``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from metalearn.analysis.stats import summarize
from metalearn.envs import level_family, make_env
from metalearn.inner import get_preset
from metalearn.inner.tune import choose, format_point, grid_points, sweep, table

GRID = {"lr": (1e-3, 3e-3, 1e-2), "ent_coef": (0.0, 0.01, 0.05)}
OUT = Path(__file__).resolve().parents[1] / "reports" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="small", help="gridworld level family (default small)")
    parser.add_argument("--levels", type=int, default=32, help="random levels, one agent each per point")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    family = level_family("GridWorld", args.family)
    config = get_preset("gridworld-a2c").config
    # The antagonist trains for the family's maximum lifetime (GROOVE), in updates.
    config = config.replace(total_timesteps=family.max_lifetime * config.batch_size)
    env = make_env("GridWorld", level=family.template)
    level_keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(args.seed), 1), args.levels)
    levels = jax.vmap(family.random_level)(level_keys)

    start = time.time()
    result = sweep(env, config, GRID, seeds=args.levels, seed=args.seed, env_params=levels, per_seed_env_params=True)
    seconds = time.time() - start
    raw = result.final_return  # (points, levels)
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    normalised = result._replace(final_return=np.where(hi > lo, (raw - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0))
    best = choose(normalised, select="iqm")
    text = (
        "Normalised per level (1 = the best point on that level):\n\n"
        + table(normalised, best=best)
        + "\n\nRaw final return:\n\n"
        + table(result, best=best)
    )
    header = (
        f"A2C (gridworld-a2c) on {args.levels} random `{args.family}` levels, {family.max_lifetime} updates "
        f"({config.total_timesteps:,} steps) each, one agent per level and point; chosen by IQM over levels: "
        f"{format_point(result.points[best])}. {seconds / 60:.1f} min on {jax.device_count()} "
        f"{jax.default_backend()} device(s)."
    )
    print(header + "\n\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"groove_antagonist_{args.family}"
    stem.with_suffix(".md").write_text(header + "\n\n" + text + "\n")
    summaries = [summarize(s)._asdict() for s in normalised.final_return]
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "family": args.family,
                "levels": args.levels,
                "seed": args.seed,
                "train": config.to_dict(),
                "points": grid_points(GRID),
                "final_return": raw.tolist(),
                "normalised_final_return": normalised.final_return.tolist(),
                "diverged": result.diverged.tolist(),
                "normalised_summaries": summaries,
                "chosen": result.points[best],
                "wall_seconds": seconds,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
