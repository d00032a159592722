"""PPO on Brax Ant and Hopper at a CPU budget: learning curves and throughput (experiments/reports/brax.md).

    python experiments/scripts/brax_ppo.py train    # trains each env's preset, evaluating as it goes
    python experiments/scripts/brax_ppo.py report   # the table and reports/brax/curves.png

The learning curve is the evaluation return (16 fresh episodes of up to 1000 steps per seed, stochastic policy)
before training and after every tenth of it: at these budgets each of the 2048 envs steps only ~1000-2000
times, so training episodes (1000 steps unless the robot falls) mostly end by falling, and the training-episode
return PureJaxRL logs (0 for an env with no finished episode) says little. Pinned to one core with
single-threaded XLA, as every CPU number in the reports (see experiments/README.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1] / "reports" / "brax"
# preset -> (overrides, seeds): the ant preset's own budget; Hopper steps ~6x faster here, so twice the steps
ENVS = {"ant": ([], 4), "hopper": (["total_timesteps=4000000"], 4)}
POINTS = 10  # evaluations after training starts


def train() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for preset, (overrides, seeds) in ENVS.items():
        (HERE / f"{preset}.json").write_text(json.dumps(_train(preset, overrides, seeds), indent=1) + "\n")


def _train(preset: str, overrides: list[str], seeds: int) -> dict:
    import jax

    from metalearn.envs import make_env
    from metalearn.inner import Trainer, resolve_task

    env_name, env_kwargs, config = resolve_task(preset, overrides=overrides)
    trainer = Trainer(make_env(env_name, **env_kwargs), config)
    state = jax.jit(jax.vmap(trainer.init, in_axes=(None, 0)))(None, jax.random.split(jax.random.PRNGKey(0), seeds))
    evaluate = jax.jit(jax.vmap(lambda s, k: trainer.evaluate(s.params, s.env_state, k)))
    runs = {}  # compiled chunks by their number of updates

    def evaluation(i: int) -> list[float]:
        return np.asarray(evaluate(state, jax.random.split(jax.random.PRNGKey(1000 + i), seeds))).tolist()

    total, chunk = config.num_updates, -(-config.num_updates // POINTS)
    steps, returns, done, timed, timed_steps = [0], [evaluation(0)], 0, 0.0, 0
    while done < total:
        n = min(chunk, total - done)
        compiled = n in runs
        if not compiled:
            runs[n] = jax.jit(jax.vmap(lambda s, n=n: trainer.run(None, s, num_updates=n)))
        start = time.perf_counter()
        state, metrics = runs[n](state)
        jax.block_until_ready(metrics)
        if compiled:  # throughput from chunks that did not compile
            timed, timed_steps = timed + time.perf_counter() - start, timed_steps + n * config.batch_size * seeds
        done += n
        steps.append(done * config.batch_size)
        returns.append(evaluation(len(steps)))
        print(preset, steps[-1], _ms(returns[-1]), flush=True)
    return {
        "preset": preset,
        "env": env_name,
        "env_kwargs": env_kwargs,
        "train": config.to_dict(),
        "seeds": seeds,
        "env_steps": steps,
        "eval_return": returns,  # (points, seeds)
        "steps_per_second": timed_steps / timed,
        "diverged": np.asarray(state.diverged).tolist(),
    }


def _ms(x) -> str:
    """mean ± s.e."""
    from metalearn.analysis.stats import mean_stderr

    mean, se = mean_stderr(np.asarray(x, float))
    return f"{mean:.1f} ± {se:.1f}"


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metalearn.analysis import curve_mean_stderr

    fig, axes = plt.subplots(1, len(ENVS), figsize=(5 * len(ENVS), 3.5))
    rows = []
    for ax, preset in zip(axes, ENVS, strict=True):
        r = json.loads((HERE / f"{preset}.json").read_text())
        steps, returns = np.asarray(r["env_steps"]), np.asarray(r["eval_return"]).T  # (seeds, points)
        best = returns.max(axis=1)
        rows.append(
            f"| {r['env']} | {steps[-1]:,} | {r['seeds']} | {_ms(returns[:, 0])} | {_ms(returns[:, -1])} | "
            f"{_ms(best)} | {r['steps_per_second']:,.0f} | {any(r['diverged'])} |"
        )
        for c in returns:
            ax.plot(steps, c, lw=0.8, alpha=0.5, marker=".")
        ax.plot(steps, curve_mean_stderr(returns)[0], color="k", lw=1.5, label="mean")
        ax.set(title=f"PPO on {r['env']} ({r['seeds']} seeds)", xlabel="env steps", ylabel="evaluation return")
        ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=120)
    print(
        "| env | env steps | seeds | eval return, untrained | eval return, trained | best evaluation per seed | "
        "env steps/s (1 core) | diverged |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "report"])
    {"train": train, "report": report}[parser.parse_args().step]()
