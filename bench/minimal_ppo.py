"""Hand-written minimal PPO: the independent baseline that `make bench` times the project's PPO against.

A single-file, PureJaxRL-style PPO (discrete actions) for gymnax environments. It deliberately imports nothing
from this project. `make_train(config)(rng)` is pure (jit- and vmap-able) and returns {"returns": (NUM_UPDATES,)},
the mean over envs of each env's last finished episode return after every update.
"""

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax


class MLP(nn.Module):
    hsize: int
    out: int
    out_scale: float
    activation: str

    @nn.compact
    def __call__(self, x):
        act = nn.tanh if self.activation == "tanh" else nn.relu
        for _ in range(2):
            x = act(nn.Dense(self.hsize, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
        return nn.Dense(self.out, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


def make_train(config: dict):
    c = config
    num_updates = int(c["TOTAL_TIMESTEPS"]) // c["NUM_STEPS"] // c["NUM_ENVS"]
    batch_size = c["NUM_ENVS"] * c["NUM_STEPS"]
    minibatch_size = batch_size // c["NUM_MINIBATCHES"]
    env, env_params = gymnax.make(c["ENV_NAME"])
    num_actions = env.action_space(env_params).n
    actor = MLP(c["HSIZE"], num_actions, 0.01, c["ACTIVATION"])
    critic = MLP(c["HSIZE"], 1, 1.0, c["ACTIVATION"])

    def lr_schedule(count):
        return c["LR"] * (1.0 - (count // (c["NUM_MINIBATCHES"] * c["UPDATE_EPOCHS"])) / num_updates)

    tx = optax.adam(lr_schedule if c["ANNEAL_LR"] else c["LR"], eps=1e-5)

    def clip(g):  # clip one network's gradient by its own global norm (same arithmetic as optax)
        norm = optax.tree.norm(g)
        return jax.tree.map(lambda t: jnp.where(norm < c["MAX_GRAD_NORM"], t, t / norm * c["MAX_GRAD_NORM"]), g)

    def reset(keys):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
        return obs.reshape(c["NUM_ENVS"], -1).astype(jnp.float32), state

    def step(keys, state, action):
        obs, state, reward, term, trunc, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, env_params
        )
        return obs.reshape(c["NUM_ENVS"], -1).astype(jnp.float32), state, reward, term | trunc

    def train(rng):
        rng, k_actor, k_critic, k_reset = jax.random.split(rng, 4)
        obs, env_state = reset(jax.random.split(k_reset, c["NUM_ENVS"]))
        params = {"actor": actor.init(k_actor, obs[0]), "critic": critic.init(k_critic, obs[0])}
        opt_state = tx.init(params)
        zeros = jnp.zeros(c["NUM_ENVS"], jnp.float32)
        runner = (params, opt_state, env_state, obs, zeros, zeros, rng)  # zeros: running / last episode return

        def loss_fn(params, mb):
            obs, action, old_logp, old_v, adv, target = mb
            logits = actor.apply(params["actor"], obs)
            v = critic.apply(params["critic"], obs).squeeze(-1)
            v_clipped = old_v + jnp.clip(v - old_v, -c["CLIP_EPS"], c["CLIP_EPS"])
            v_loss = 0.5 * jnp.maximum((v - target) ** 2, (v_clipped - target) ** 2).mean()
            logp_all = jax.nn.log_softmax(logits)
            logp = jnp.take_along_axis(logp_all, action[:, None], axis=-1).squeeze(-1)
            ratio = jnp.exp(logp - old_logp)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            clipped = jnp.clip(ratio, 1 - c["CLIP_EPS"], 1 + c["CLIP_EPS"])
            actor_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()
            entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
            return actor_loss + c["VF_COEF"] * v_loss - c["ENT_COEF"] * entropy

        def update(runner, _):
            # ---- rollout ----
            def env_step(carry, _):
                params, env_state, obs, ep_ret, last_ret, rng = carry
                rng, k_act, k_env = jax.random.split(rng, 3)
                logits = actor.apply(params["actor"], obs)
                value = critic.apply(params["critic"], obs).squeeze(-1)
                action = jax.random.categorical(k_act, logits)
                logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1).squeeze(-1)
                next_obs, env_state, reward, done = step(jax.random.split(k_env, c["NUM_ENVS"]), env_state, action)
                ep_ret = ep_ret + reward
                last_ret = jnp.where(done, ep_ret, last_ret)
                ep_ret = jnp.where(done, 0.0, ep_ret)
                return (params, env_state, next_obs, ep_ret, last_ret, rng), (obs, action, logp, value, reward, done)

            params, opt_state, env_state, obs, ep_ret, last_ret, rng = runner
            (_, env_state, obs, ep_ret, last_ret, rng), traj = jax.lax.scan(
                env_step, (params, env_state, obs, ep_ret, last_ret, rng), None, c["NUM_STEPS"]
            )
            t_obs, t_action, t_logp, t_value, t_reward, t_done = traj

            # ---- GAE ----
            last_v = critic.apply(params["critic"], obs).squeeze(-1)

            def gae_step(carry, x):
                adv_next, v_next = carry
                reward, value, done = x
                nonterm = 1.0 - done
                delta = reward + c["GAMMA"] * v_next * nonterm - value
                adv = delta + c["GAMMA"] * c["GAE_LAMBDA"] * nonterm * adv_next
                return (adv, value), adv

            _, advantages = jax.lax.scan(
                gae_step, (jnp.zeros_like(last_v), last_v), (t_reward, t_value, t_done), reverse=True
            )
            targets = advantages + t_value

            # ---- PPO epochs over shuffled minibatches ----
            batch = (t_obs, t_action, t_logp, t_value, advantages, targets)
            batch = jax.tree.map(lambda x: x.reshape((batch_size, *x.shape[2:])), batch)

            def minibatch_step(carry, mb):
                params, opt_state = carry
                grads = jax.grad(loss_fn)(params, mb)
                grads = {"actor": clip(grads["actor"]), "critic": clip(grads["critic"])}
                updates, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            def epoch(carry, _):
                params, opt_state, rng = carry
                rng, k_perm = jax.random.split(rng)
                perm = jax.random.permutation(k_perm, batch_size)
                mbs = jax.tree.map(
                    lambda x: x[perm].reshape((c["NUM_MINIBATCHES"], minibatch_size, *x.shape[1:])), batch
                )
                (params, opt_state), _ = jax.lax.scan(minibatch_step, (params, opt_state), mbs)
                return (params, opt_state, rng), None

            (params, opt_state, rng), _ = jax.lax.scan(epoch, (params, opt_state, rng), None, c["UPDATE_EPOCHS"])
            return (params, opt_state, env_state, obs, ep_ret, last_ret, rng), last_ret.mean()

        _, returns = jax.lax.scan(update, runner, None, num_updates)
        return {"returns": returns.astype(jnp.float32)}

    return train
