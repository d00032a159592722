"""Learning curves of DeepMind's own Disco103 agent on Catch, to compare with our port's (disco.md, section 2).

The fixture (``disco103_reference_fixture.py``) shows that one update of our port equals the reference's.
This script asks the next question — does a whole training behave the same? — by training the reference's
agent with the reference's code, at its colab's setting (``colabs/eval.ipynb``: torso 512x512, action model
LSTM 128 with a 128 head, lr 0.01, 2 streams x 29 steps per update, a FIFO replay of 1024 trajectories,
64 sampled per update, learning only once 64 are stored), on bsuite's Catch (10 rows x 5 columns, as our
``catch`` preset; the colab's own Catch is 8 x 8). The loop around the reference's ``Agent`` is written
here (the colab's loop is not copied); no reference code runs in the project's ``.venv``.

Run it ONLY in the throwaway env that ``disco103_reference_fixture.py``'s docstring builds (the reference at
commit 9059a29, jax 0.8.1), from the repo root:

    taskset -c 1 /tmp/disco_ref_venv/bin/python experiments/scripts/disco103_reference_catch.py \\
        --seeds 8 --updates 500 --out experiments/reports/disco/reference-catch.json

It writes per seed the mean return of the episodes that ended in each update's rollout (NaN where none
ended), the final return (the mean of the last 50 updates' values, as our ``final_return``), and seconds.
Deterministic given ``--seeds`` on one CPU core (jax's PRNG and numpy's seeded generator only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from disco103_reference_fixture import DEFAULT_WEIGHTS, unflatten_params  # this script's sibling
from disco_rl import agent as agent_lib
from disco_rl.environments import jittable_envs
from ml_collections import config_dict


def make_agent(env, lr: float) -> agent_lib.Agent:
    settings = agent_lib.get_settings_disco()
    settings.net_settings.name = "mlp"
    settings.net_settings.net_args = dict(
        dense=(512, 512),
        model_arch_name="lstm",
        head_w_init_std=1e-2,
        model_kwargs=dict(head_mlp_hiddens=(128,), lstm_size=128),
    )
    settings.learning_rate = lr
    return agent_lib.Agent(
        agent_settings=settings,
        single_observation_spec=env.single_observation_spec(),
        single_action_spec=env.single_action_spec(),
        batch_axis_name=None,
    )


def train(seed: int, args: argparse.Namespace, meta_params: dict) -> dict:
    num_envs = 2
    env = jittable_envs.CatchJittableEnvironment(
        batch_size=num_envs, env_settings=config_dict.ConfigDict(dict(rows=args.rows, columns=args.columns))
    )
    agent = make_agent(env, args.lr)

    def unroll(params, actor_state, ts, env_state, rng):
        def step(carry, k):
            env_state, ts, actor_state = carry
            out, actor_state = agent.actor_step(params, k, ts, actor_state)
            env_state, ts = env.step(env_state, out.actions)
            return (env_state, ts, actor_state), out

        (env_state, ts, actor_state), rollout = jax.lax.scan(
            step, (env_state, ts, actor_state), jax.random.split(rng, args.rollout_len)
        )
        return rollout, actor_state, ts, env_state

    unroll = jax.jit(unroll)
    learner_step = jax.jit(agent.learner_step, static_argnums=(5,))

    rng = jax.random.PRNGKey(seed)
    env_state, ts = env.reset(rng)
    learner_state = agent.initial_learner_state(rng)
    actor_state = agent.initial_actor_state(rng)
    buffer: list = []  # FIFO of single trajectories, [T, ...] each
    sampler = np.random.default_rng(seed)
    curve = []
    start = time.time()
    for _ in range(args.updates):
        rng, k_actor, k_learner = jax.random.split(rng, 3)
        rollout, actor_state, ts, env_state = unroll(learner_state.params, actor_state, ts, env_state, k_actor)
        rollout = jax.device_get(rollout)
        # A rollout's step t carries the reward of the transition into it and discount 0 at a LAST step:
        # an episode ends at t where discount is 0, with the return accumulated since the last end.
        ended = np.asarray(rollout.discounts) == 0
        rewards = np.asarray(rollout.rewards)
        curve.append(float(rewards[ended].mean()) if ended.any() else float("nan"))  # Catch: the one reward
        for b in range(num_envs):
            buffer.append(jax.tree.map(lambda x, b=b: x[:, b], rollout))
        del buffer[: max(0, len(buffer) - args.capacity)]
        if len(buffer) >= args.batch_size:
            idx = sampler.integers(len(buffer), size=args.batch_size)
            batch = jax.tree.map(lambda *xs: np.stack(xs, axis=1), *[buffer[i] for i in idx])
            learner_state, _, _ = learner_step(k_learner, batch, learner_state, actor_state, meta_params, False)
    seconds = time.time() - start
    final = np.nanmean(curve[-args.final_window :])
    return {"seed": seed, "curve": curve, "final_return": float(final), "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--updates", type=int, default=500)
    p.add_argument("--rows", type=int, default=10)
    p.add_argument("--columns", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--rollout-len", type=int, default=29)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--capacity", type=int, default=1024)
    p.add_argument("--final-window", type=int, default=50)
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    with np.load(args.weights) as flat:
        meta_params = unflatten_params(flat)
    runs = []
    for seed in range(args.seeds):
        runs.append(train(seed, args, meta_params))
        r = runs[-1]
        print(f"seed {seed}: final return {r['final_return']:.2f} ({r['seconds']:.0f} s)", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
