"""Inner-loop benchmark: our PPO vs the hand-written minimal PPO, and seed scaling.

Run with ``make bench`` (or ``python bench/bench_inner.py [--quick]``). In one
process, side by side on the same config, env and seeds:

1. our ``make_train`` vs ``bench/minimal_ppo.py``: steps/s ratio and
   compile-time ratio (ours / minimal; steps/s > 1 means we are faster),
   runs interleaved so machine drift hits both alike;
2. our steps/s for 1, 16 and 64 vmapped seeds on CartPole and Breakout-MinAtar.

Final-policy evaluation is off (``eval_envs=0``) because the minimal PPO has
none. Writes ``bench/results/inner.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from minimal_ppo import make_train as make_minimal_train
from results_io import write_results

from metalearn.inner import get_preset, make_train


def minimal_config(env: str, c) -> dict:
    return {
        "ENV_NAME": env,
        "TOTAL_TIMESTEPS": c.total_timesteps,
        "NUM_ENVS": c.num_envs,
        "NUM_STEPS": c.num_steps,
        "UPDATE_EPOCHS": c.update_epochs,
        "NUM_MINIBATCHES": c.num_minibatches,
        "LR": c.lr,
        "ANNEAL_LR": c.anneal_lr,
        "GAMMA": c.gamma,
        "GAE_LAMBDA": c.gae_lambda,
        "CLIP_EPS": c.clip_eps,
        "ENT_COEF": c.ent_coef,
        "VF_COEF": c.vf_coef,
        "MAX_GRAD_NORM": c.max_grad_norm,
        "HSIZE": c.hidden_size,
        "ACTIVATION": c.activation,
    }


def compile_and_time(fn, args):
    """(compiled, compile seconds); callers time runs themselves."""
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t


def run_once(compiled, args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return time.perf_counter() - t


def ours_vs_minimal(preset: str, total_timesteps: int, seeds: int, repeats: int) -> dict:
    p = get_preset(preset)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)

    def build(total: int):
        config = p.config.replace(total_timesteps=total, eval_envs=0)
        ours = jax.vmap(make_train(p.env, config), in_axes=(None, 0))
        minimal = jax.vmap(make_minimal_train(minimal_config(p.env, config)))
        return config, ours, minimal

    # Warm-up at a tiny budget pays one-time costs (tracing caches, env jit) for both sides
    # before either compile is timed.
    _, ours, minimal = build(p.config.batch_size)
    run_once(compile_and_time(ours, (None, keys))[0], (None, keys))
    run_once(compile_and_time(minimal, (keys,))[0], (keys,))

    config, ours, minimal = build(total_timesteps)
    min_c, min_compile = compile_and_time(minimal, (keys,))
    ours_c, ours_compile = compile_and_time(ours, (None, keys))
    run_once(ours_c, (None, keys)), run_once(min_c, (keys,))  # first-run warm-up
    ours_t, min_t = [], []
    for _ in range(repeats):  # interleaved so drift hits both alike
        ours_t.append(run_once(ours_c, (None, keys)))
        min_t.append(run_once(min_c, (keys,)))
    steps = config.num_updates * config.batch_size * seeds
    ours_sps, min_sps = steps / statistics.median(ours_t), steps / statistics.median(min_t)
    return {
        "preset": preset,
        "env": p.env,
        "seeds": seeds,
        "env_steps": steps,
        "repeats": repeats,
        "ours_steps_per_s": ours_sps,
        "minimal_steps_per_s": min_sps,
        "steps_per_s_ratio": ours_sps / min_sps,
        "ours_compile_s": ours_compile,
        "minimal_compile_s": min_compile,
        "compile_time_ratio": ours_compile / min_compile,
    }


def seed_scaling(preset: str, total_timesteps: int, seed_counts: list[int], repeats: int) -> list[dict]:
    p = get_preset(preset)
    config = p.config.replace(total_timesteps=total_timesteps, eval_envs=0)
    train = jax.vmap(make_train(p.env, config), in_axes=(None, 0))
    rows = []
    for n in seed_counts:
        keys = jax.random.split(jax.random.PRNGKey(0), n)
        compiled, compile_s = compile_and_time(train, (None, keys))
        run_once(compiled, (None, keys))
        t = statistics.median(run_once(compiled, (None, keys)) for _ in range(repeats))
        steps = config.num_updates * config.batch_size * n
        rows.append({"preset": preset, "env": p.env, "seeds": n, "steps_per_s": steps / t, "compile_s": compile_s})
        print(f"  {p.env:<18} seeds={n:<3} {steps / t:>12,.0f} steps/s (compile {compile_s:.1f}s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets, for a smoke run")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    repeats = 3 if args.quick else 7

    print("our PPO vs minimal PPO (same config, env, seeds):", flush=True)
    comparisons = []
    for preset, steps, seeds in (("cartpole", 500_000, 4), ("breakout", 250_000, 4)):
        row = ours_vs_minimal(preset, int(steps * scale), seeds, repeats)
        comparisons.append(row)
        print(
            f"  {row['env']:<18} steps/s ours {row['ours_steps_per_s']:>10,.0f}  minimal "
            f"{row['minimal_steps_per_s']:>10,.0f}  ratio {row['steps_per_s_ratio']:.3f}  "
            f"compile ratio {row['compile_time_ratio']:.3f}",
            flush=True,
        )

    print("seed scaling (our PPO):", flush=True)
    scaling = seed_scaling("cartpole", int(100_000 * scale) or 512, [1, 16, 64], 3)
    scaling += seed_scaling("breakout", int(100_000 * scale) or 8192, [1, 16, 64], 3)

    out = write_results(
        "inner",
        {
            "quick": args.quick,
            "ours_vs_minimal": comparisons,
            "seed_scaling": scaling,
            "note": "steps_per_s_ratio = ours / minimal (>= 1.0 means at least as fast); "
            "compile_time_ratio = ours / minimal.",
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
