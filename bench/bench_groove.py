"""GROOVE benchmark: what algorithmic-regret scoring costs a generation, and how it grows.

Run with ``python bench/bench_groove.py [--quick]``. Side by side in one process, at the CPU-scale
config ``metalearn/experiments/lpg_gridworld_groove_es.yaml`` (16 members, 8 levels a generation, 250-update
lifetimes, a 32-level buffer):

1. a whole generation with ``score: alg_regret`` vs the same generation with ``score: random`` (no
   antagonist; same ES, same buffer): AR's share of a generation = 1 - random / alg_regret;
2. the antagonists alone (one A2C per level, trained and evaluated by rollouts, vmapped over the
   generation's levels), at 0.5x, 1x and 2x the level family's longest lifetime: the antagonist
   budget, which AR's cost follows;
3. the buffer's own bookkeeping (reset the lowest, sample, record) at capacities from the config's 32
   to the reference's 4000: the only part that grows with the buffer, since AR scores only the
   levels played this generation.

Timings are medians after one call to compile. Writes ``bench/results/groove.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from results_io import median_time, write_results

from metalearn.curriculum import make_curriculum
from metalearn.inner import Trainer
from metalearn.meta import ESTrainer, MetaConfig, load_config_dict

CONFIG = "lpg_gridworld_groove_es"


def meta_config(score: str, quick: bool) -> MetaConfig:
    d = load_config_dict(CONFIG)
    d["curriculum"] = {**d["curriculum"], "score": score}
    if quick:  # 4 members on 2 levels (the lifetimes stay: agents must live their levels' lifetimes)
        d["strategy"] = {**d["strategy"], "population_size": 4}
        d["curriculum"] = {**d["curriculum"], "levels_per_generation": 2, "capacity": 8}
    return MetaConfig.from_dict(d)


def generation_seconds(score: str, quick: bool, repeats: int) -> tuple[float, ESTrainer]:
    trainer = ESTrainer(meta_config(score, quick))
    state = trainer.init()
    return median_time(trainer.generation, (state,), repeats), trainer


def antagonist_seconds(trainer: ESTrainer, scale: float, repeats: int) -> dict:
    """The antagonists of one generation's levels, at ``scale`` x the family's longest lifetime."""
    config = trainer.antagonist.config
    updates = max(1, round(scale * config.num_updates))
    antagonist = Trainer(trainer.antagonist.base_env, config.replace(total_timesteps=updates * config.batch_size))
    n = trainer.config.curriculum.levels_per_generation
    levels = jax.vmap(trainer.curriculum.family.random_level)(jax.random.split(jax.random.PRNGKey(0), n))
    fn = jax.jit(lambda key, lv: trainer._hand_designed(antagonist, key, lv).eval_return.mean(axis=-1))
    return {"scale": scale, "updates": updates, "seconds": median_time(fn, (jax.random.PRNGKey(1), levels), repeats)}


def buffer_seconds(trainer: ESTrainer, capacity: int, repeats: int) -> dict:
    """One generation's buffer bookkeeping: reset the lowest and sample ``n`` levels, then record their scores."""
    c = dataclasses.replace(trainer.config.curriculum, capacity=capacity)
    curriculum = make_curriculum(c, trainer.curriculum.family)
    n = c.levels_per_generation

    def step(key, state):
        batch, state = curriculum.next_levels(key, state, n)
        return curriculum.record(state, batch, jax.random.uniform(key, (n,)))

    state = curriculum.init(jax.random.PRNGKey(0))
    return {"capacity": capacity, "seconds": median_time(jax.jit(step), (jax.random.PRNGKey(1), state), repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 members on 2 levels (a smoke run, not the config)")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3

    random_s, _ = generation_seconds("random", args.quick, repeats)
    regret_s, trainer = generation_seconds("alg_regret", args.quick, repeats)
    share = 1.0 - random_s / regret_s
    print(f"generation: alg_regret {regret_s:.2f}s, random {random_s:.2f}s -> AR is {share:.1%} of a generation")
    antagonists = [antagonist_seconds(trainer, s, repeats) for s in (0.5, 1.0, 2.0)]
    for a in antagonists:
        share_a = a["seconds"] / regret_s
        print(f"antagonists ({a['updates']} updates): {a['seconds']:.2f}s = {share_a:.1%} of a generation")
    buffers = [buffer_seconds(trainer, c, repeats) for c in (32, 256, 4000)]
    for b in buffers:
        print(f"buffer bookkeeping at capacity {b['capacity']}: {1e3 * b['seconds']:.2f} ms")
    config = trainer.config
    out = write_results(
        "groove",
        {
            "config": CONFIG,
            "quick": args.quick,
            "population": config.strategy.population_size,
            "levels_per_generation": config.curriculum.levels_per_generation,
            "inner_updates": trainer.tasks[0].trainer.config.num_updates,
            "antagonist_updates": trainer.antagonist.config.num_updates,
            "generation_alg_regret_s": regret_s,
            "generation_random_s": random_s,
            "alg_regret_share_of_generation": share,
            "antagonists": antagonists,
            "buffer": buffers,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
