"""OPEN benchmark: the cost of a learned optimizer inside PPO, side by side with Adam.

In one process (``make bench`` or ``python bench/bench_open.py [--quick] [--parts program,steps,training]
[--repeats N]``; the JSON is rewritten after every row, so a run stopped early keeps what it measured):

0. the compiled program of a training step with OPEN and with Adam at 4, 12 and 40 parameter tensors:
   launch-like operations per step (``metalearn.hlo``), flops and bytes accessed (issue 41);
1. wall time of a full PPO training (vmapped seeds, compiled beforehand) with
   the published OPEN weights vs with Adam, same config and seeds, on
   CartPole and Breakout-MinAtar: ratio OPEN / Adam;
2. cost of one optimizer step alone (OPEN vs Adam update of the actor-critic's
   parameters; 20 steps in one jit, divided by 20) as the parameter count grows (hidden width 16 … 512);
3. a lower bound on the training ratio *on this machine*: OPEN's network does
   ~1,000 multiply-adds per parameter element per step (GRU 8 + MLP 16), so
   even at this machine's measured dense-matmul rate the extra work costs at
   least steps × elements × flops / rate seconds. Where that bound is above
   1.3, no implementation of the published architecture meets the target on
   this hardware (the paper's timings are on GPUs).

Writes ``bench/results/open.json``. ``--noise`` times only the noise draw (``open_noise.json``); ``--forms`` only
OPEN's step in its two lowerings of the per-leaf work on CPU (``open_forms.json``).
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import optax
from results_io import median_time, write_results

from metalearn.envs import make_env
from metalearn.inner import Actor, Critic, get_preset, make_train
from metalearn.rules import published_rule


def open_flops_per_element(gru_features: int = 8, hidden_size: int = 16) -> int:
    """Flops of OPEN's matmuls per parameter element and step (16 per-element inputs; 3 gates; MLP)."""
    g, h = gru_features, hidden_size
    return 2 * (16 * 3 * g + g * 3 * g + g * h + h * h + h * 3)


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """This machine's float32 dense-matmul rate (n×n @ n×n), GFLOP/s: the most OPEN's network could get."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    return 2 * n**3 / median_time(jax.jit(lambda x: x @ x), (a,), repeats) / 1e9


def training_ratio(preset: str, total_timesteps: int, seeds: int, repeats: int, gflops: float) -> dict:
    p = get_preset(preset)
    config = p.config.replace(total_timesteps=total_timesteps, eval_envs=0)
    rule, meta = published_rule("breakout")
    elements = []  # parameter elements per agent, recorded when the optimizer state is traced

    def counted(meta_params):
        tx = rule.optimizer(meta_params)

        def init(params):
            elements.append(sum(x.size for x in jax.tree.leaves(params)))
            return tx.init(params)

        return tx._replace(init=init)

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    open_train = jax.jit(jax.vmap(make_train(p.env, config, optimizer=counted), in_axes=(None, 0)))
    adam_train = jax.jit(jax.vmap(make_train(p.env, config), in_axes=(None, 0)))
    open_s = median_time(open_train, (meta, keys), repeats)
    adam_s = median_time(adam_train, (None, keys), repeats)
    steps = config.num_updates * config.update_epochs * config.num_minibatches
    bound_s = seeds * steps * elements[0] * open_flops_per_element() / (gflops * 1e9)
    return {
        "preset": preset,
        "env": p.env,
        "seeds": seeds,
        "total_timesteps": total_timesteps,
        "optimizer_steps": steps,
        "parameters": elements[0],
        "open_s": open_s,
        "adam_s": adam_s,
        "ratio_open_over_adam": open_s / adam_s,
        "open_network_at_matmul_rate_s": bound_s,
        "ratio_lower_bound_on_this_machine": 1.0 + bound_s / adam_s,
    }


def actor_critic(hidden: int, obs_dim: int) -> dict:
    """The parameters of a PPO actor-critic (two 2-layer MLPs of width ``hidden``), 4 discrete actions."""
    key, dummy = jax.random.PRNGKey(0), jnp.zeros(obs_dim)
    return {
        "actor": Actor(action_dim=4, discrete=True, hidden_size=hidden).init(key, dummy),
        "critic": Critic(hidden_size=hidden).init(key, dummy),
    }


def _open_extra(params: dict, key: jax.Array) -> dict:
    mask = {
        "actor": jax.tree.map(lambda _: 1.0, params["actor"]),
        "critic": jax.tree.map(lambda _: 0.0, params["critic"]),
    }
    activations = jax.tree.map(lambda x: jnp.full(x.shape[-1:], 0.5), params)
    return {"activations": activations, "actor_mask": mask, "key": key, "training_progress": 0.5}


def _k_steps(optimizer, extra, k: int):
    """k optimizer steps in one scan (gradients a cheap function of the parameters, so no step folds into a
    constant): divided by k, a step's cost without the ~100 us per-call dispatch floor of a GPU."""

    def run(meta, params, state):
        def step(carry, key):
            p, s = carry
            grads = jax.tree.map(lambda x: 1e-2 * jnp.sin(3.0 * x), p)
            updates, s = optimizer(meta).update(grads, s, p, **extra(p, key))
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(step, (params, state), jax.random.split(jax.random.PRNGKey(0), k))[0]

    return jax.jit(run)


def step_cost(hidden: int, obs_dim: int, repeats: int, k: int = 20) -> dict:
    """One optimizer update of a PPO actor-critic (two 2-layer MLPs of width ``hidden``): k steps in one
    jit divided by k, OPEN and Adam timed alternately."""
    params = actor_critic(hidden, obs_dim)
    n = sum(x.size for x in jax.tree.leaves(params))
    rule, meta = published_rule("breakout")
    open_run = _k_steps(rule.optimizer, _open_extra, k)
    adam_run = _k_steps(lambda _: optax.adam(1e-3), lambda p, key: {}, k)
    open_args = (meta, params, rule.optimizer(meta).init(params))
    adam_args = (meta, params, optax.adam(1e-3).init(params))
    open_t, adam_t = [], []
    for _ in range(repeats):  # interleaved, so load on the machine hits both alike
        open_t.append(median_time(open_run, open_args, 1) / k)
        adam_t.append(median_time(adam_run, adam_args, 1) / k)
    open_s, adam_s = statistics.median(open_t), statistics.median(adam_t)
    return {
        "hidden": hidden,
        "parameters": n,
        "steps_per_call": k,
        "open_step_us": open_s * 1e6,
        "adam_step_us": adam_s * 1e6,
        "open_ns_per_parameter": open_s * 1e9 / n,
    }


def forms_cost(hidden: int, obs_dim: int, repeats: int, k: int = 20) -> dict:
    """OPEN's step (k steps in one jit, divided by k) on CPU in its two lowerings of the per-leaf work: slices and
    broadcasts per leaf (what CPU programs use) and one segment reduction and gathers (what accelerators use,
    ``open_opt.PER_LEAF_ON_CPU = False``), timed alternately: why CPU programs keep the first."""
    from learned_optimizers import open_opt

    params = actor_critic(hidden, obs_dim)
    rule, meta = published_rule("breakout")
    args = (meta, params, rule.optimizer(meta).init(params))
    runs = {}
    for name, on_cpu in (("per_leaf", True), ("segment_and_gather", False)):
        before, open_opt.PER_LEAF_ON_CPU = open_opt.PER_LEAF_ON_CPU, on_cpu
        try:  # traced and compiled under the form, then timed
            runs[name] = _k_steps(rule.optimizer, _open_extra, k)
            jax.block_until_ready(runs[name](*args))
        finally:
            open_opt.PER_LEAF_ON_CPU = before
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(median_time(run, args, 1) / k)
    row = {"hidden": hidden, "parameters": sum(x.size for x in jax.tree.leaves(params))}
    row.update({f"{name}_step_us": 1e6 * statistics.median(t) for name, t in times.items()})
    row["segment_and_gather_over_per_leaf"] = row["segment_and_gather_step_us"] / row["per_leaf_step_us"]
    return row


def program(leaves: int) -> dict:
    """The compiled CPU program of one training step (a scan's body) with OPEN and with Adam, on a model of
    ``leaves`` parameter tensors (16x16 kernels and 16 biases): launch-like operations (metalearn.hlo), and
    the whole k-step program's flops and bytes accessed (XLA's cost analysis). OPEN in both lowerings of its
    per-leaf work (``open_opt.PER_LEAF_ON_CPU``; before the flat step there was one)."""
    from learned_optimizers import open_opt
    from metalearn.hlo import launch_ops

    rule, meta = published_rule("breakout")
    params = {
        "actor": {f"l{i:02d}": {"bias": jnp.zeros(16), "kernel": jnp.full((16, 16), 0.1)} for i in range(leaves // 4)},
        "critic": {f"l{i:02d}": {"bias": jnp.zeros(16), "kernel": jnp.full((16, 16), 0.1)} for i in range(leaves // 4)},
    }

    def measure(run, state) -> dict:
        compiled = run.lower(meta, params, state).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        ops = launch_ops(compiled.as_text(), loop_body=True)
        return {
            "launch_ops_per_step": ops.total(),
            "loops_per_step": ops["while"],
            "flops": cost.get("flops"),
            "bytes_accessed": cost.get("bytes accessed"),
        }

    row = {"leaves": leaves, "parameters": sum(x.size for x in jax.tree.leaves(params))}
    open_state = rule.optimizer(meta).init(params)
    forms = {"open_cpu_form": True, "open_accelerator_form": False} if hasattr(open_opt, "PER_LEAF_ON_CPU") else {}
    if not forms:  # the optimizer before the flat step: one form
        row["open_cpu_form"] = measure(_k_steps(rule.optimizer, _open_extra, 3), open_state)
    for name, on_cpu in forms.items():
        before, open_opt.PER_LEAF_ON_CPU = open_opt.PER_LEAF_ON_CPU, on_cpu
        try:
            row[name] = measure(_k_steps(rule.optimizer, _open_extra, 3), open_state)
        finally:
            open_opt.PER_LEAF_ON_CPU = before
    row["adam"] = measure(_k_steps(lambda _: optax.adam(1e-3), lambda p, key: {}, 3), optax.adam(1e-3).init(params))
    return row


def noise_cost(hidden: int, obs_dim: int, repeats: int) -> dict:
    """OPEN's learned-noise draw as it was before 2026-12-07 (one normal draw per parameter tensor, concatenated)
    vs one draw over all elements (as now), side by side, next to the whole OPEN step of the same actor-critic:
    the step-time change the single draw brought (it also changed OPEN's random stream)."""
    key = jax.random.PRNGKey(0)
    params = actor_critic(hidden, obs_dim)
    shapes = [x.shape for x in jax.tree.leaves(params)]
    n = sum(x.size for x in jax.tree.leaves(params))

    @jax.jit
    def per_tensor(k):
        keys = jax.random.split(k, len(shapes))
        return jnp.concatenate([jnp.ravel(jax.random.normal(kk, s)) for kk, s in zip(keys, shapes, strict=True)])

    @jax.jit
    def one_draw(k):
        return jax.random.normal(k, (n,))

    a, b = [], []
    for _ in range(repeats):  # interleaved, so load on the machine hits both alike
        a.append(median_time(per_tensor, (key,), 20))
        b.append(median_time(one_draw, (key,), 20))
    step = step_cost(hidden, obs_dim, 3)
    per_tensor_us, one_draw_us = 1e6 * statistics.median(a), 1e6 * statistics.median(b)
    return {
        "hidden": hidden,
        "parameters": n,
        "tensors": len(shapes),
        "per_tensor_draw_us": per_tensor_us,
        "one_draw_us": one_draw_us,
        "open_step_us": step["open_step_us"],
        "step_change_fraction": (one_draw_us - per_tensor_us) / step["open_step_us"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="program,steps,training", help="program, steps, training (comma-separated)")
    parser.add_argument("--repeats", type=int, default=0, help="timed runs per training (default 3, quick 2)")
    parser.add_argument("--noise", action="store_true", help="only the noise draw (bench/results/open_noise.json)")
    parser.add_argument(
        "--forms", action="store_true", help="only OPEN's two per-leaf lowerings on CPU (bench/results/open_forms.json)"
    )
    args = parser.parse_args()
    if args.noise:
        obs_dim = make_env("Breakout-MinAtar").spec.obs_dim
        rows = [noise_cost(hidden, obs_dim, 5) for hidden in (16, 64, 256)]
        for r in rows:
            print(
                f"  {r['parameters']:>9,} params: noise per tensor {r['per_tensor_draw_us']:.0f}us, one draw "
                f"{r['one_draw_us']:.0f}us; OPEN step {r['open_step_us']:.0f}us "
                f"({100 * r['step_change_fraction']:+.1f}%)"
            )
        print(f"wrote {write_results('open_noise', {'noise': rows})}")
        return
    if args.forms:
        obs_dim = make_env("Breakout-MinAtar").spec.obs_dim
        rows = []
        for hidden in (16, 64, 256):
            rows.append(forms_cost(hidden, obs_dim, 5))
            r = rows[-1]
            print(
                f"  {r['parameters']:>9,} params: per leaf {r['per_leaf_step_us']:.0f}us, segment and gather "
                f"{r['segment_and_gather_step_us']:.0f}us ({r['segment_and_gather_over_per_leaf']:.2f}x)",
                flush=True,
            )
            write_results("open_forms", {"forms": rows})
        return
    scale, repeats = (0.2, 2) if args.quick else (1.0, 3)
    repeats = args.repeats or repeats
    parts = set(args.parts.split(","))
    if not parts or parts - {"program", "training", "steps"}:
        parser.error(f"--parts {args.parts!r} is invalid; allowed: program, steps, training (comma-separated)")
    gflops = matmul_gflops()
    print(f"dense float32 matmul: {gflops:.0f} GFLOP/s; OPEN: {open_flops_per_element()} flops per element", flush=True)
    training, steps, programs = [], [], []

    def save():  # after every row, so a run stopped at its time limit keeps what it measured
        return write_results(
            "open",
            {
                "quick": args.quick,
                "repeats": repeats,
                "matmul_gflops": gflops,
                "open_flops_per_element": open_flops_per_element(),
                "training": training,
                "step_cost": steps,
                "program": programs,
                "note": "ratio_open_over_adam = wall time of the same PPO training with OPEN / with Adam (target "
                "<= 1.3); ratio_lower_bound_on_this_machine = 1 + (OPEN's network flops at the dense-matmul rate) "
                "/ adam_s",
            },
        )

    if "program" in parts:  # first: seconds, and the training part may run out of a time limit
        print("compiled training step (scan body), launch-like operations:", flush=True)
        for leaves in (4, 12, 40):
            row = program(leaves)
            programs.append(row)
            save()
            forms = [k for k in row if k.startswith("open")]
            print(
                f"  {leaves:>3} leaves: "
                + "  ".join(f"{k} {row[k]['launch_ops_per_step']}" for k in forms)
                + f"  adam {row['adam']['launch_ops_per_step']}",
                flush=True,
            )
    if "steps" in parts:
        print("one optimizer step vs parameter count:", flush=True)
        obs_dim = make_env("Breakout-MinAtar").spec.obs_dim
        for hidden in (16, 64, 128, 256, 512):
            row = step_cost(hidden, obs_dim, repeats + 2)
            steps.append(row)
            save()
            print(
                f"  {row['parameters']:>9,} params: OPEN {row['open_step_us']:>9.0f}us  "
                f"Adam {row['adam_step_us']:>7.0f}us  ({row['open_ns_per_parameter']:.1f} ns/param)",
                flush=True,
            )
    if "training" in parts:
        print("full PPO training, OPEN vs Adam (same config, seeds):", flush=True)
        for preset, budget, seeds in (("cartpole", 500_000, 4), ("breakout", 250_000, 4)):
            row = training_ratio(preset, int(budget * scale), seeds, repeats, gflops)
            training.append(row)
            save()
            print(
                f"  {row['env']:<18} OPEN {row['open_s']:.2f}s  Adam {row['adam_s']:.2f}s  "
                f"ratio {row['ratio_open_over_adam']:.2f}  (>= {row['ratio_lower_bound_on_this_machine']:.2f} "
                "on this machine)",
                flush=True,
            )
    print(f"wrote {save()}")


if __name__ == "__main__":
    main()
