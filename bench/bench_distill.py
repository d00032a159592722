"""Distillation benchmark: what a distilled drift costs inside PPO next to its teacher and PPO-clip.

Run with ``python bench/bench_distill.py [--quick]``. Side by side in one process, for each objective —
PPO-clip, DPO, the meta-trained LPO and TA-LPO teachers (experiments/reports/lpo_cpu, 32 hidden units)
and their distilled students (experiments/reports/distill/*/student.npz: an 8-unit LPO network and a
closed form):

1. the objective's loss and gradient w.r.t. the ratio on a PPO minibatch of 4,096 samples (the part
   of the update the rule changes);
2. one whole PPO update on CartPole at the distillation's settings (rollout of 4 × 128 steps, 4 epochs
   of 4 minibatches), where the network and the environment dominate;
3. one whole PPO update on Breakout-MinAtar with Adam, published OPEN (Breakout weights) and its
   distilled students (experiments/reports/distill/open_mlp: 16 units, no GRU; open_symbolic: a formula);
4. the zoo's learned LR schedule (8 knots) and its formulas (experiments/reports/distill/schedule_*):
   one optimizer step on a CartPole agent's parameters, and one whole CartPole PPO update, vs Adam at a
   constant step size.

Ratios are over PPO-clip's (1, 2) or Adam's (3, 4) time in the same run. Timings are medians over
interleaved rounds (one call of each per round) after one call to compile.
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
import optax

sys.path.insert(0, str(Path(__file__).parent))
from results_io import write_results

from metalearn.envs import make_env
from metalearn.inner import Trainer, get_preset
from metalearn.rules import load_rule, make_rule, published_rule
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
OPEN_STUDENT = "experiments/reports/distill/open_mlp/student.npz"
OPEN_FORMULA = "experiments/reports/distill/open_symbolic/student.npz"
SCHEDULE_STUDENTS = {
    "schedule -> symbolic": "experiments/reports/distill/schedule_symbolic/student.npz",
    "schedule -> symbolic (short)": "experiments/reports/distill/schedule_short/student.npz",
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


def interleaved(calls: dict, repeats: int) -> dict:
    """label -> [median seconds of each (fn, args) of ``calls[label]``]: every call compiled first, then timed in
    interleaved rounds (one call of each per round), so drift in the machine's speed falls on all alike."""
    for timed in calls.values():
        for fn, fn_args in timed:
            jax.block_until_ready(fn(*fn_args))
    times = {label: [[] for _ in timed] for label, timed in calls.items()}
    for _ in range(repeats):
        for label, timed in calls.items():
            for (fn, fn_args), out in zip(timed, times[label], strict=True):
                start = time.perf_counter()
                jax.block_until_ready(fn(*fn_args))
                out.append(time.perf_counter() - start)
    return {label: [statistics.median(t) for t in ts] for label, ts in times.items()}


def update_call(env, config, meta_params, objective=None, optimizer=None) -> tuple:
    """(jitted state -> next state after one PPO update, (state,))."""
    trainer = Trainer(env, config, objective=objective, optimizer=optimizer)
    state = trainer.init(meta_params, jax.random.PRNGKey(1))
    return jax.jit(lambda s: trainer.update(meta_params, s)[0]), (state,)


def optimizer_step_call(optimizer, params) -> tuple:
    """(jitted (grads, opt state) -> (updates, opt state) at progress 0.5, (grads, opt state))."""
    grads = jax.tree.map(lambda x: jnp.full_like(x, 1e-3), params)
    step = jax.jit(lambda g, s: optimizer.update(g, s, params, training_progress=jnp.float32(0.5)))
    return step, (grads, optimizer.init(params))


def schedule_rows(env, config, repeats: int) -> dict:
    """label -> {step_s, update_s and their ratios over Adam's} for Adam (the trainer's default, ``config.lr``),
    the zoo's schedule and its students."""
    rules = {
        "schedule (teacher, 8 knots)": load_rule(ROOT / "experiments/reports/zoo/withdrawn/cartpole_lr_schedule.npz")[
            :2
        ]
    }
    rules |= {label: load_rule(ROOT / path)[:2] for label, path in SCHEDULE_STUDENTS.items()}
    params = Trainer(env, config).init(None, jax.random.PRNGKey(1)).params
    adam = optax.with_extra_args_support(optax.adam(config.lr, eps=config.adam_eps))
    calls = {"adam": [optimizer_step_call(adam, params), update_call(env, config, None)]}
    for label, (rule, mp) in rules.items():
        calls[label] = [
            optimizer_step_call(rule.optimizer(mp), params),
            update_call(env, config, mp, optimizer=rule.optimizer),
        ]
    medians = interleaved(calls, repeats)
    out = {}
    for label, (step_s, update_s) in medians.items():
        expression = rules[label][0].kwargs.get("expression") if label in rules else None
        out[label] = {"expression": expression, "step_s": step_s, "step_ratio": step_s / medians["adam"][0],
                      "update_s": update_s, "update_ratio": update_s / medians["adam"][1]}  # fmt: skip
        print(f"{label:30s} optimizer step {step_s * 1e6:7.1f} us ({out[label]['step_ratio']:5.2f}x Adam)   "
              f"CartPole PPO update {update_s * 1e3:6.2f} ms ({out[label]['update_ratio']:5.2f}x)")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 31
    batch = 4096
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    ratio = jnp.exp(0.1 * jax.random.normal(k1, (batch,)))
    advantage = jax.random.normal(k2, (batch,))

    # Drift objectives: CartPole, where they were meta-trained and distilled.
    preset = get_preset("cartpole")
    config = preset.config.replace(total_timesteps=32768, eval_envs=0)
    env = make_env(preset.env, **preset.env_kwargs)
    drifts = objectives()
    medians = interleaved(
        {
            label: [(objective_step(rule, mp, batch), (ratio, advantage)), update_call(env, config, mp, rule.objective)]
            for label, (rule, mp, _) in drifts.items()
        },
        repeats,
    )
    rows = {
        label: {"rule": rule.name, "expression": expression, "objective_s": medians[label][0],
                "update_s": medians[label][1]}
        for label, (rule, _, expression) in drifts.items()
    }  # fmt: skip
    base = rows["ppo_clip"]
    for label, row in rows.items():
        row["objective_ratio"] = row["objective_s"] / base["objective_s"]
        row["update_ratio"] = row["update_s"] / base["update_s"]
        print(
            f"{label:22s} objective+grad {row['objective_s'] * 1e6:8.1f} us ({row['objective_ratio']:5.2f}x)   "
            f"PPO update {row['update_s'] * 1e3:7.2f} ms ({row['update_ratio']:5.2f}x)"
        )

    # OPEN and its student: one PPO update on Breakout-MinAtar (where the teacher was distilled), vs Adam.
    minatar = get_preset("breakout")
    m_config = minatar.config.replace(total_timesteps=500_000, eval_envs=0)
    m_env = make_env(minatar.env, **minatar.env_kwargs)
    open_rule, open_mp = published_rule("breakout")
    student, student_mp, _ = load_rule(ROOT / OPEN_STUDENT)
    formula, formula_mp, _ = load_rule(ROOT / OPEN_FORMULA)
    optimizers = {"adam": (None, None), "open (breakout)": (open_rule.optimizer, open_mp),
                  "open -> mlp (16, no GRU)": (student.optimizer, student_mp),
                  "open -> symbolic": (formula.optimizer, formula_mp)}  # fmt: skip
    medians = interleaved(
        {label: [update_call(m_env, m_config, mp, optimizer=opt)] for label, (opt, mp) in optimizers.items()},
        max(5, repeats // 3),
    )
    optimizer_rows = {
        label: {"update_s": m[0], "update_ratio": m[0] / medians["adam"][0]} for label, m in medians.items()
    }
    for label, row in optimizer_rows.items():
        print(f"{label:26s} Breakout PPO update {row['update_s'] * 1e3:8.1f} ms ({row['update_ratio']:5.2f}x Adam)")

    # Learned LR schedules and their formulas, vs Adam.
    schedules = schedule_rows(env, config, repeats)

    sizes = ("num_envs", "num_steps", "update_epochs", "num_minibatches")
    payload = {
        "minibatch": batch,
        "cartpole_update": {k: getattr(config, k) for k in sizes},
        "rows": rows,
        "breakout_update": {k: getattr(m_config, k) for k in sizes},
        "optimizer_rows": optimizer_rows,
        "schedule_rows": schedules,
    }
    write_results("distill", payload)
    print(json.dumps({k: round(v["update_ratio"], 3) for k, v in {**rows, **optimizer_rows, **schedules}.items()}))


if __name__ == "__main__":
    main()
