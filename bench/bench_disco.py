"""DiscoRL benchmark: what one agent update with Disco103 costs next to a PPO update of the same network.

Run with ``python bench/bench_disco.py [--quick]``. Side by side in one process, on Catch with the
reference colab's agent (torso 512x512, action model 128; ``--quick``: 128x128 and 32):

1. one Disco103 update (agent and target forward passes, the rule's targets, the loss's gradient,
   Adam with the elementwise clip, the target update) on B = 64 trajectories of T = 29 steps, vs one
   PPO-clip step of the *same* network on the same 1856 transitions (its logits for the policy and
   Σ_a π(a|s) q(s, a) from its categorical action values for the critic, GAE targets; one epoch, one
   minibatch): the ratio is the price of the rule's update over PPO's;
2. the rule's share: :func:`objectives.disco.targets` alone on that batch;
3. the Disco103 update's cost as the trajectory length grows, T = 8 … 116 at B = 16 (per transition).

Timings are medians after one call to compile. Writes ``bench/results/disco.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).parent))
from results_io import median_time, write_results

from metalearn.inner import DiscoAgent, gae, get_preset, make_trainer
from metalearn.inner.disco_agent import Trajectories
from metalearn.rules import make_rule
from objectives import disco, ppo_clip
from objectives.base import ObjectiveInputs


def random_batch(trainer: DiscoAgent, t: int, b: int, key: jax.Array) -> Trajectories:
    """Catch-shaped trajectories with random contents (the cost does not depend on them)."""
    k = jax.random.split(key, 4)
    a = trainer.spec.action_dim
    return Trajectories(
        obs=jax.random.bernoulli(k[0], 0.04, (t + 1, b, trainer.spec.obs_dim)).astype(jnp.float32),
        actions=jax.random.randint(k[1], (t, b), 0, a),
        rewards=jax.random.choice(k[2], jnp.array([-1.0, 0.0, 0.0, 0.0, 1.0]), (t, b)),
        is_terminal=jax.random.bernoulli(k[3], 0.1, (t, b)),
        behaviour_logits=jnp.zeros((t, b, a)),
    )


def ppo_step(trainer: DiscoAgent):
    """One PPO-clip + value step of the trainer's network on a batch (same optimizer as the rule's agent)."""
    objective = ppo_clip(0.2)
    net, opt = trainer.net, trainer.optimizer

    def loss_fn(params, trajs, advantages, returns):
        out = net.apply(params, trajs.obs[:-1])
        log_pi = jax.nn.log_softmax(out.logits)
        log_prob = jnp.take_along_axis(log_pi, trajs.actions[..., None], -1)[..., 0]
        value = jnp.sum(jnp.exp(log_pi) * disco.bins_to_value(out.q), -1)
        old = jax.lax.stop_gradient(log_prob)
        inputs = ObjectiveInputs(
            ratio=jnp.exp(log_prob - old).reshape(-1),
            advantage=advantages.reshape(-1),
            log_prob=log_prob.reshape(-1),
            old_log_prob=old.reshape(-1),
            progress=jnp.zeros(()),
            num_updates=jnp.ones(()),
        )
        return objective(None, inputs).mean() + 0.5 * jnp.mean((value - returns) ** 2)

    def step(params, opt_state, trajs):
        out = net.apply(params, trajs.obs)
        values = jnp.sum(jax.nn.softmax(out.logits) * disco.bins_to_value(out.q), -1)
        advantages, returns = gae(trajs.rewards, values[:-1], trajs.is_terminal, values[-1], 0.99, 0.95)
        grads = jax.grad(loss_fn)(params, trajs, advantages, returns)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.jit(step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small agent, few repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    hidden, model = (128, 32) if args.quick else (512, 128)
    config = get_preset("catch").config.replace(hidden_size=hidden)
    rule = make_rule("disco", model_lstm=model, model_head=model)
    trainer = make_trainer("Catch-bsuite", config, objective=rule.objective)
    meta_params = disco.load_published()
    state = trainer.init(meta_params, jax.random.PRNGKey(0))
    learn = jax.jit(lambda s, b: trainer.learn(meta_params, s, b))

    b, t = trainer.settings.batch_size, config.num_steps
    batch = random_batch(trainer, t, b, jax.random.PRNGKey(1))
    disco_s = median_time(learn, (state, batch), repeats)
    ppo_s = median_time(ppo_step(trainer), (state.params, state.opt_state, batch), repeats)
    x, _, _ = jax.jit(lambda s, b: trainer.rule_targets(meta_params, s, b))(state, batch)
    rule_targets = jax.jit(lambda x: disco.targets(meta_params, x, state.rule_state, trainer.hyper))
    targets_s = median_time(rule_targets, (x,), repeats)

    lengths = [8, 29, 58] if args.quick else [8, 16, 29, 58, 116]
    growth = []
    for length in lengths:
        small = random_batch(trainer, length, 16, jax.random.PRNGKey(length))
        s = median_time(learn, (state, small), repeats)
        growth.append({"T": length, "B": 16, "seconds": s, "us_per_transition": 1e6 * s / (16 * length)})
        print(f"  T={length:4d}: {s * 1e3:8.1f} ms per update, {1e6 * s / (16 * length):7.1f} us per transition")

    payload = {
        "agent": {"torso": [hidden, hidden], "model_lstm": model, "batch_trajectories": b, "T": t},
        "disco103_update_s": disco_s,
        "ppo_update_s": ppo_s,
        "ratio_disco_over_ppo": disco_s / ppo_s,
        "rule_targets_s": targets_s,
        "rule_share_of_update": targets_s / disco_s,
        "growth_with_T": growth,
    }
    print(
        f"Disco103 update {disco_s * 1e3:.1f} ms vs PPO {ppo_s * 1e3:.1f} ms on the same {b}x{t} batch and network: "
        f"{disco_s / ppo_s:.1f}x; the rule's targets {targets_s * 1e3:.1f} ms ({targets_s / disco_s:.0%})"
    )
    print(f"wrote {write_results('disco' + ('_quick' if args.quick else ''), payload)}")


if __name__ == "__main__":
    main()
