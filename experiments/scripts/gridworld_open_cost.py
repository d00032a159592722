"""What one agent of OPEN's gridworld setting costs here (issue 39's sizing): the `gridworld-open` preset on one
`rand_all` level, trained with Adam and with the published gridworld OPEN for a few updates, timed after
compiling, extrapolated to the preset's 1464 updates; the env alone (random actions) beside it.

    python experiments/scripts/gridworld_open_cost.py [--updates 8]   # -> experiments/reports/gridworld_open_cost.json

Pin it to one core with single-threaded XLA (as experiments/scripts/compare_specs.sh does) to size runs that
will be pinned the same way.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax

from metalearn.envs import make_env
from metalearn.inner import get_preset, make_train
from metalearn.rules import published_rule
from metalearn.xla_cpu import cpu_model

OUT = Path(__file__).resolve().parents[1] / "reports" / "gridworld_open_cost.json"


def timed(fn, *args) -> float:
    jax.block_until_ready(fn(*args))  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=8)
    args = parser.parse_args()
    preset = get_preset("gridworld-open")
    env = make_env(preset.env, **preset.env_kwargs)
    batch = preset.config.num_envs * preset.config.num_steps
    config = preset.config.replace(total_timesteps=args.updates * batch)
    rule, meta = published_rule("gridworld")
    rows = {}
    for name, optimizer in (("adam", None), ("open", rule.optimizer)):
        train = jax.jit(make_train(env, config, optimizer=optimizer))
        seconds = timed(train, meta, jax.random.PRNGKey(0))
        rows[name] = {
            "seconds_per_update": seconds / args.updates,
            "minutes_per_agent_at_preset_budget": seconds / args.updates * preset.config.num_updates / 60,
        }

    def env_rollouts(key):  # the env alone: `updates` rollouts of num_envs x num_steps, random actions
        keys = jax.random.split(key, preset.config.num_envs)
        _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)

        def step(states, k):
            ks = jax.random.split(k, preset.config.num_envs)
            actions = jax.random.randint(k, (preset.config.num_envs,), 0, env.spec.action_dim)
            obs, states, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                ks, states, actions, env.default_params
            )
            return states, obs.sum() + reward.sum()

        return jax.lax.scan(step, states, jax.random.split(key, args.updates * preset.config.num_steps))[1].sum()

    seconds = timed(jax.jit(env_rollouts), jax.random.PRNGKey(1))
    rows["env_only"] = {
        "seconds_per_update": seconds / args.updates,
        "env_steps_per_second": args.updates * batch / seconds,
    }
    out = {
        "cpu": cpu_model(),
        "jax": jax.__version__,
        "updates_timed": args.updates,
        "preset_updates": preset.config.num_updates,
        **rows,
    }
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
