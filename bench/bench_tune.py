"""Tuning benchmark: a 3 × 3 grid × 8 seeds in one program vs one program per grid point.

Run with ``python bench/bench_tune.py [--quick] [--budgets 50000,500000] [--repeats 3]``. Side by side in
one process, on the ``cartpole`` PPO preset, for each budget:

* ``sweep``: :func:`metalearn.inner.tune.sweep` over lr × ent_coef (both traced), 72 trainings
  in one compiled program;
* ``per_point``: the same 72 trainings as 9 programs, one per grid point (each compiled, then
  run vmapped over the 8 seeds), as a user looping over the grid would.

Wall time includes compilation for both, with JAX's persistent compilation cache off, so
neither reuses the other's work. The order alternates between repeats. Writes
``bench/results/tune.json``; target: ratio sweep / per_point ≤ 0.5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from results_io import write_results

from metalearn.envs import make_env
from metalearn.inner import Trainer, get_preset
from metalearn.inner.tune import grid_points, sweep

GRID = {"lr": (1e-4, 2.5e-4, 1e-3), "ent_coef": (0.0, 0.01, 0.05)}
SEEDS = 8


def time_sweep(env, config) -> float:
    start = time.perf_counter()
    result = sweep(env, config, GRID, seeds=SEEDS, seed=0)
    jax.block_until_ready(result.final_return)
    return time.perf_counter() - start


def time_per_point(env, config) -> float:
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    start = time.perf_counter()
    for point in grid_points(GRID):
        train = jax.jit(jax.vmap(Trainer(env, config.replace(**point)).train, in_axes=(None, 0)))
        jax.block_until_ready(train(None, keys).final_return)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short budget, one repeat")
    parser.add_argument("--budgets", help="comma-separated budgets (default 50000,500000; --quick: 50000)")
    parser.add_argument("--repeats", type=int, help="repeats per budget, order alternating (default 3; --quick: 1)")
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    budgets = [int(float(b)) for b in (args.budgets or ("50000" if args.quick else "50000,500000")).split(",")]
    repeats = args.repeats or (1 if args.quick else 3)
    env = make_env(get_preset("cartpole").env)
    rows = []
    for budget in budgets:
        config = get_preset("cartpole").config.replace(total_timesteps=budget)
        times = {"sweep": [], "per_point": []}
        for r in range(repeats):
            order = ["sweep", "per_point"] if r % 2 == 0 else ["per_point", "sweep"]
            for name in order:
                jax.clear_caches()  # each repeat compiles afresh, like a new `tune` run
                times[name].append(time_sweep(env, config) if name == "sweep" else time_per_point(env, config))
        sweep_s, point_s = statistics.median(times["sweep"]), statistics.median(times["per_point"])
        row = {
            "preset": "cartpole",
            "total_timesteps": budget,
            "grid": GRID,
            "seeds": SEEDS,
            "trainings": len(grid_points(GRID)) * SEEDS,
            "repeats": repeats,
            "sweep_s": sweep_s,
            "per_point_s": point_s,
            "ratio": sweep_s / point_s,
            "all_times_s": times,
        }
        rows.append(row)
        print(f"budget {budget:>7,}: sweep {sweep_s:7.1f} s, per point {point_s:7.1f} s, ratio {row['ratio']:.2f}")
    out = write_results(
        "tune",
        {
            "quick": args.quick,
            "rows": rows,
            "note": "wall seconds including compilation (persistent cache off); ratio = sweep / per_point, "
            "target <= 0.5",
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
