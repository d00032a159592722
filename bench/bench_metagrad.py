"""Meta-gradient benchmark: what the persistent-agent regime and its backward pass cost.

Side by side in one process (``make bench`` or ``python bench/bench_metagrad.py``), on the CPU-scale
config ``metalearn/experiments/lpg_gridworld_metagrad.yaml`` (A agents of 16 gridworld envs, K = 5):

1. plain: the same A agents doing K updates with the plain inner trainer (vmapped ``Trainer.run``);
2. persistent, rule fixed: ``MetaGradientTrainer.advance`` (K updates, then the replacements of agents
   at the end of their lifetime) ÷ plain (target <= 1.1);
3. meta-step: the K updates differentiated, the fresh rollout, the critic, the meta-update and the
   replacements ÷ plain;
4. peak memory per agent of a meta-step (XLA's compiled temp + output buffers ÷ A, for A = 8 and 16),
   and the largest A whose meta-step fits in 8 GiB (linear in A from the two);
5. env steps per second of a meta-step, and the projected wall time of the reference's scale
   (512 agents × 64 envs, GRU 256, 3e4 meta-steps) from the measured per-agent cost.

Writes ``bench/results/metagrad.json``.
"""

from __future__ import annotations

import argparse

import jax
from results_io import median_time, write_results

from metalearn.meta import MetaConfig, load_config_dict, make_meta_trainer

GiB = 2**30


def trainer_for(agents: int, envs: int = 16, hidden: int = 32):
    d = load_config_dict("lpg_gridworld_metagrad")
    d["meta_gradient"] = {**d["meta_gradient"], "num_agents": agents, "steps_per_generation": 1}
    d["rule"]["kwargs"] = {**d["rule"]["kwargs"], "hidden": hidden}
    d["tasks"][0]["train"] = {**d["tasks"][0]["train"], "num_envs": envs}
    return make_meta_trainer(MetaConfig.from_dict(d))


def peak_bytes(fn, *args) -> int:
    mem = fn.lower(*args).compile().memory_analysis()
    return int(mem.temp_size_in_bytes + mem.output_size_in_bytes)


def measure(agents: int, repeats: int) -> dict:
    t = trainer_for(agents)
    state = t.init()
    k = t.mg.updates_per_step
    plain = jax.jit(jax.vmap(lambda runner, level: t.task.run(state.meta_params, runner, k, level)[0]))
    # Interleaved medians, so machine drift affects every column alike.
    plain_s = median_time(plain, (state.agents.runner, state.agents.level), repeats)
    advance_s = median_time(t.advance, (state,), repeats)
    step_s = median_time(t.meta_step, (state,), repeats)
    cfg = t.task.config
    env_steps = agents * (k + 1) * cfg.num_envs * cfg.num_steps  # K updates + the fresh rollout
    return {
        "agents": agents,
        "envs_per_agent": cfg.num_envs,
        "updates_per_step": k,
        "plain_k_updates_s": plain_s,
        "advance_s": advance_s,
        "meta_step_s": step_s,
        "advance_ratio": advance_s / plain_s,
        "meta_step_ratio": step_s / plain_s,
        "env_steps_per_s": env_steps / step_s,
        "meta_step_peak_bytes": peak_bytes(t.meta_step, state),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    rows = [measure(a, repeats) for a in (8, 16)]
    for r in rows:
        print(
            f"  A={r['agents']:>3}: plain K updates {r['plain_k_updates_s']:.3f}s, advance {r['advance_s']:.3f}s "
            f"(x{r['advance_ratio']:.2f}), meta-step {r['meta_step_s']:.3f}s (x{r['meta_step_ratio']:.2f}), "
            f"{r['env_steps_per_s']:,.0f} env steps/s, {r['meta_step_peak_bytes'] / 2**20:.1f} MiB",
            flush=True,
        )
    small, big = rows
    per_agent = (big["meta_step_peak_bytes"] - small["meta_step_peak_bytes"]) / (big["agents"] - small["agents"])
    fixed = small["meta_step_peak_bytes"] - per_agent * small["agents"]
    largest = int((8 * GiB - fixed) // per_agent) if per_agent > 0 else None
    # The reference's scale: 512 agents x 64 envs (4x ours per agent), GRU 256 (8x our 32), 3e4 meta-steps.
    # Projected from our per-agent-env cost only (the GRU's cost is extra): a lower bound on one CPU like this.
    per_agent_env_s = big["meta_step_s"] / (big["agents"] * big["envs_per_agent"])
    reference_hours = per_agent_env_s * 512 * 64 * 3e4 / 3600
    out = write_results(
        "metagrad",
        {
            "quick": args.quick,
            "rows": rows,
            "peak_bytes_per_agent": per_agent,
            "largest_agents_in_8GiB": largest,
            "reference_scale_projected_hours_this_cpu_lower_bound": reference_hours,
            "note": "advance_ratio = persistent regime with the rule fixed / plain K updates (target <= 1.1); "
            "meta_step_ratio = with the meta-gradient / plain; peak bytes from XLA's compiled memory analysis "
            "(temp + output) of one meta-step; config metalearn/experiments/lpg_gridworld_metagrad.yaml.",
        },
    )
    print(f"  peak memory per agent {per_agent / 2**20:.1f} MiB -> largest A in 8 GiB: {largest}")
    print(f"  reference scale (512 x 64 envs, 3e4 meta-steps) on this CPU: >= {reference_hours:,.0f} h")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
