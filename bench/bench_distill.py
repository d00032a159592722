"""Distillation benchmark: what a distilled drift costs inside PPO next to its teacher and PPO-clip.

Run with ``python bench/bench_distill.py [--quick]``. Side by side in one process, for each objective —
PPO-clip, DPO, the meta-trained LPO and TA-LPO teachers (experiments/reports/lpo_cpu, 32 hidden units)
and their distilled students (experiments/reports/distill/*/student.npz: an 8-unit LPO network and a
closed form):

1. the objective's loss and gradient w.r.t. the ratio on a PPO minibatch of 4,096 samples (the part
   of the update the rule changes);
2. one whole PPO update on CartPole at the distillation's settings (rollout of 4 × 128 steps, 4 epochs
   of 4 minibatches), where the network and the environment dominate.

Ratios are over PPO-clip's time in the same run. Timings are medians over interleaved rounds (one call
of each per round) after one call to compile.
Writes ``bench/results/distill.json``; the time distillation itself took is in each student's
``distill.json`` (from ``experiments/scripts/distill_drifts.sh``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from results_io import write_results

from metalearn.envs import make_env
from metalearn.inner import Trainer, get_preset
from metalearn.rules import load_rule, make_rule
from objectives import ObjectiveInputs

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "lpo (teacher, 32)": "experiments/reports/lpo_cpu/lpo_cartpole_mean.npz",
    "lpo -> mlp (8)": "experiments/reports/distill/lpo_mlp/student.npz",
    "lpo -> symbolic": "experiments/reports/distill/lpo_symbolic/student.npz",
    "ta_lpo (teacher, 32)": "experiments/reports/lpo_cpu/ta_lpo_cartpole_mean.npz",
    "ta_lpo -> mlp (8)": "experiments/reports/distill/ta_lpo_mlp/student.npz",
    "ta_lpo -> symbolic": "experiments/reports/distill/ta_lpo_symbolic/student.npz",
}


def objectives() -> dict:
    """label -> (rule, meta_params, expression or None)."""
    out = {"ppo_clip": (make_rule("ppo_clip"), {}, None), "dpo": (make_rule("dpo"), {}, None)}
    for label, path in FILES.items():
        rule, mp, _ = load_rule(ROOT / path)
        out[label] = (rule, mp, rule.kwargs.get("expression"))
    return out


def objective_step(rule, meta_params, batch: int):
    """jitted (ratio, advantage) -> (mean loss, d loss / d ratio) on one minibatch."""

    def loss(ratio, advantage):
        x = ObjectiveInputs(ratio, advantage, jnp.log(ratio), jnp.zeros_like(ratio), jnp.float32(0.5), 64.0)
        return rule.objective(meta_params, x).mean()

    return jax.jit(jax.value_and_grad(loss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 31
    batch = 4096
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    ratio = jnp.exp(0.1 * jax.random.normal(k1, (batch,)))
    advantage = jax.random.normal(k2, (batch,))

    preset = get_preset("cartpole")
    config = preset.config.replace(total_timesteps=32768, eval_envs=0)
    env = make_env(preset.env, **preset.env_kwargs)
    # Compile everything first, then time in interleaved rounds (one call of each per round), so drift in
    # the machine's speed during the run falls on every objective alike.
    calls = {}
    for label, (rule, mp, expression) in objectives().items():
        trainer = Trainer(env, config, objective=rule.objective)
        state = trainer.init(mp, jax.random.PRNGKey(1))
        update = jax.jit(lambda s, t=trainer, m=mp: t.update(m, s)[0])
        calls[label] = (rule, expression, (objective_step(rule, mp, batch), (ratio, advantage)), (update, (state,)))
        for fn, fn_args in calls[label][2:]:
            jax.block_until_ready(fn(*fn_args))
    times = {label: ([], []) for label in calls}
    for _ in range(repeats):
        for label, (_, _, *timed) in calls.items():
            for (fn, fn_args), out in zip(timed, times[label], strict=True):
                start = time.perf_counter()
                jax.block_until_ready(fn(*fn_args))
                out.append(time.perf_counter() - start)
    rows = {
        label: {
            "rule": rule.name,
            "expression": expression,
            "objective_s": statistics.median(times[label][0]),
            "update_s": statistics.median(times[label][1]),
        }
        for label, (rule, expression, *_) in calls.items()
    }
    base = rows["ppo_clip"]
    for label, row in rows.items():
        row["objective_ratio"] = row["objective_s"] / base["objective_s"]
        row["update_ratio"] = row["update_s"] / base["update_s"]
        print(
            f"{label:22s} objective+grad {row['objective_s'] * 1e6:8.1f} us ({row['objective_ratio']:5.2f}x)   "
            f"PPO update {row['update_s'] * 1e3:7.2f} ms ({row['update_ratio']:5.2f}x)"
        )
    sizes = ("num_envs", "num_steps", "update_epochs", "num_minibatches")
    payload = {"minibatch": batch, "cartpole_update": {k: getattr(config, k) for k in sizes}, "rows": rows}
    write_results("distill", payload)
    print(json.dumps({k: round(v["update_ratio"], 3) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
