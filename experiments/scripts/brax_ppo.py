"""PPO on Brax Ant and Hopper at a CPU budget: learning curves and throughput (experiments/reports/brax.md).

    python experiments/scripts/brax_ppo.py train    # `metalearn inner` per env, run dirs in reports/brax/runs/
    python experiments/scripts/brax_ppo.py initial  # the untrained policies' evaluation return, same seeds
    python experiments/scripts/brax_ppo.py report   # the table and reports/brax/curves.png from those runs

Pinned to one core with single-threaded XLA, as every CPU number in the reports (see experiments/README.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1] / "reports" / "brax"
RUNS = HERE / "runs"
# preset, overrides, seeds: the ant preset's own budget; Hopper steps 5x faster here, so twice the steps
ENVS = {"ant": ([], 4), "hopper": (["total_timesteps=4000000"], 4)}


def train() -> None:
    from metalearn.inner.run import run_inner

    for preset, (overrides, seeds) in ENVS.items():
        run_dir = run_inner(preset, overrides=overrides, seeds=seeds, seed=0, out=RUNS / preset, progress=False)
        print(preset, run_dir, flush=True)


def initial() -> None:
    """The untrained policies' evaluation return (the same seeds and eval rollouts as the runs): the floor."""
    import jax
    import numpy as np

    from metalearn.envs import make_env
    from metalearn.inner import Trainer, resolve_task

    for preset, (overrides, seeds) in ENVS.items():
        env_name, env_kwargs, config = resolve_task(preset, overrides=overrides)
        trainer = Trainer(make_env(env_name, **env_kwargs), config)
        keys = jax.random.split(jax.random.PRNGKey(0), seeds)  # run_inner's seeds

        def untrained(key, trainer=trainer):
            state = trainer.init(None, key)
            return trainer.evaluate(state.params, state.env_state, jax.random.fold_in(key, 1))

        returns = np.asarray(jax.jit(jax.vmap(untrained))(keys))
        (RUNS / preset / "initial.json").write_text(json.dumps({"eval_return": returns.tolist()}) + "\n")
        print(preset, "untrained eval return", returns, flush=True)


def _latest(preset: str) -> Path:
    runs = sorted(p for p in (RUNS / preset).iterdir() if (p / "result.json").is_file())
    if not runs:
        raise SystemExit(f"no finished run under {RUNS / preset}; run `train` first")
    return runs[-1]


def _ms(x) -> str:
    """mean ± s.e."""
    import numpy as np

    x = np.asarray(x, float)
    return f"{x.mean():.1f} ± {x.std(ddof=1) / np.sqrt(len(x)):.1f}"


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ENVS), figsize=(5 * len(ENVS), 3.5))
    rows = []
    for ax, preset in zip(axes, ENVS, strict=True):
        run = _latest(preset)
        config, result = json.loads((run / "config.json").read_text()), json.loads((run / "result.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        steps = np.array([m["env_steps"] for m in metrics])
        curves = np.array([m["episode_return_per_seed"] for m in metrics]).T  # (seeds, updates)
        final, first = np.asarray(result["final_return"]), curves[:, 0]
        untrained = np.asarray(json.loads((RUNS / preset / "initial.json").read_text())["eval_return"])
        evals = np.asarray(result["eval_return"])
        n = len(final)
        rows.append(
            f"| {config['env']} | {steps[-1]:,} | {n} | {_ms(untrained)} | {_ms(evals)} | {_ms(first)} | "
            f"{_ms(final)} | {result['steps_per_second']:,.0f} | {result['wall_seconds'] / 60:.1f} |"
        )
        for c in curves:
            ax.plot(steps, c, lw=0.8, alpha=0.5)
        ax.plot(steps, curves.mean(0), color="k", lw=1.5, label="mean")
        ax.set(title=f"PPO on {config['env']} ({n} seeds)", xlabel="env steps", ylabel="episode return")
        ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=120)
    print(
        "| env | env steps | seeds | first update's return | final return (mean ± s.e.) | eval return | "
        "env steps/s (1 core) | wall (min) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "initial", "report"])
    {"train": train, "initial": initial, "report": report}[parser.parse_args().step]()
