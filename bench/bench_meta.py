"""Meta-training benchmark: the cost of a generation beyond its inner trainings.

Side by side in one process (``make bench`` or ``python bench/bench_meta.py``):

1. overhead ratio = wall time of one full generation (ask, evaluate, shape,
   tell, bookkeeping; one jitted call) / wall time of the same population's
   inner trainings alone (one vmapped call over members × seeds, same
   meta-parameters' shapes), for populations 8, 16, 32, 64 on CartPole PPO;
2. throughput scaling with population (env steps per second);
3. peak memory per member: XLA's compiled temp + output buffer size of a
   generation, divided by the population size.

Writes ``bench/results/meta.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
from results_io import write_results

from metalearn.meta import ESTrainer, MetaConfig


def config(population: int, timesteps: int) -> MetaConfig:
    return MetaConfig.from_dict(
        {
            "rule": {"name": "lr_schedule", "kwargs": {"knots": 8, "init_lr": 2.5e-4}},
            "strategy": {"name": "open_es", "population_size": population, "sigma": 0.3, "lr": 0.1},
            "tasks": [{"preset": "cartpole", "train": {"total_timesteps": timesteps, "eval_envs": 0}}],
            "seeds_per_member": 2,
        }
    )


def measure(population: int, timesteps: int, repeats: int) -> dict:
    trainer = ESTrainer(config(population, timesteps))
    state = trainer.init()
    population_params, _ = trainer.strategy.ask(jax.random.PRNGKey(0), state.es_state)
    task = trainer.tasks[0]
    seeds = jax.random.split(jax.random.PRNGKey(1), trainer.config.seeds_per_member)
    inner_only = jax.jit(jax.vmap(jax.vmap(task.trainer.train, in_axes=(None, 0)), in_axes=(0, None)))

    # Interleave the two so machine drift affects both alike.
    jax.block_until_ready(trainer.generation(state))
    jax.block_until_ready(inner_only(population_params, seeds))
    gen_t, inner_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(trainer.generation(state))
        gen_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        jax.block_until_ready(inner_only(population_params, seeds))
        inner_t.append(time.perf_counter() - t)
    gen_s, inner_s = statistics.median(gen_t), statistics.median(inner_t)
    mem = trainer.generation.lower(state).compile().memory_analysis()
    env_steps = (
        population
        * trainer.config.seeds_per_member
        * task.trainer.config.num_updates
        * (task.trainer.config.batch_size)
    )
    return {
        "population": population,
        "seeds_per_member": trainer.config.seeds_per_member,
        "inner_timesteps": timesteps,
        "generation_s": gen_s,
        "inner_only_s": inner_s,
        "overhead_ratio": gen_s / inner_s,
        "env_steps_per_s": env_steps / gen_s,
        "peak_bytes_per_member": (mem.temp_size_in_bytes + mem.output_size_in_bytes) / population,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets, for a smoke run")
    args = parser.parse_args()
    timesteps = 8192 if args.quick else 32768
    repeats = 3 if args.quick else 5
    rows = []
    print("generation vs its inner trainings alone (CartPole PPO, 2 seeds per member):", flush=True)
    for population in (8, 16, 32, 64):
        row = measure(population, timesteps, repeats)
        rows.append(row)
        print(
            f"  population {population:>3}: generation {row['generation_s']:.3f}s, inner only "
            f"{row['inner_only_s']:.3f}s, overhead ratio {row['overhead_ratio']:.3f}, "
            f"{row['env_steps_per_s']:,.0f} env steps/s, {row['peak_bytes_per_member'] / 2**20:.2f} MiB/member",
            flush=True,
        )
    out = write_results(
        "meta",
        {
            "quick": args.quick,
            "rows": rows,
            "note": "overhead_ratio = generation / inner trainings alone (target <= 1.05); peak bytes from "
            "XLA's compiled memory analysis (temp + output) of one generation, per member.",
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
