"""Inner training of an agent by a DiscoRL update rule (Disco103 by default): network, replay, trainer.

The agent (:class:`DiscoNet`, the reference's MLP agent) maps an observation to
policy logits π(s) and prediction logits y(s) from an MLP torso, and — through a
one-step action model, an LSTM cell started from the torso and fed each action's
one-hot — to z(s, a), aux_π(s, a) and categorical action values q(s, a) for every
action. Its learning follows the reference's agent (``disco_rl/agent.py``):

* ``num_envs`` actors step their envs ``num_steps`` steps with the current policy;
  each stream's T = ``num_steps`` transitions (T + 1 observations: consecutive
  trajectories share their boundary observation) go to a replay buffer of
  ``replay_capacity`` trajectories (``0``: no replay, learn from the fresh rollout);
* each update samples ``batch_size`` trajectories uniformly, runs the agent and its
  *target* copy over them, asks the rule (:func:`objectives.disco.targets`) for
  targets, and takes one step on the mean of :func:`objectives.disco.agent_loss`
  with Adam whose update is clipped elementwise to ``max_abs_update``; the target
  copy then moves to ``coeff·target + (1 − coeff)·params`` (pre-update params);
* with ``min_replay`` > 0, updates before the replay holds that many trajectories only act
  (the reference's colab waits for ``batch_size``; the default 0 learns from the first rollout).

Environments here auto-reset (gymnax): a transition that ends an episode has
``is_terminal`` and its next observation is the next episode's first, so no
step of a trajectory is masked (the reference's dm_env streams carry an extra
"last" observation per episode, whose step it masks out of the loss).

``DiscoTrainer(env, config, hyper).train(meta_params, rng) -> TrainResult`` is pure and
jittable, so ``jax.vmap`` runs seeds (and populations of rules) at once, as with
:class:`~metalearn.inner.trainer.Trainer`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalearn.envs import make_env, wrap_for_training
from metalearn.envs.wrappers import LogState, find_wrapper_state
from metalearn.inner.config import TrainConfig
from metalearn.inner.results import TrainResult, UpdateMetrics, all_finite
from objectives import disco

# ---------------------------------------------------------------------------------------------
# The agent network.
# ---------------------------------------------------------------------------------------------


def _mlp(x: jax.Array, sizes: tuple[int, ...], name: str, kernel_init=None) -> jax.Array:
    """Dense layers with ReLU between them, none after the last (haiku's ``nets.MLP``)."""
    init = kernel_init or nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
    for i, n in enumerate(sizes):
        x = nn.Dense(n, kernel_init=init, name=f"{name}_{i}")(x)
        if i < len(sizes) - 1:
            x = nn.relu(x)
    return x


class DiscoNet(nn.Module):
    """obs (..., obs_dim) -> :class:`objectives.disco.AgentOut` with leading dims (...)."""

    num_actions: int
    torso: tuple[int, ...] = (512, 512)
    model_lstm: int = 128
    model_head: tuple[int, ...] = (128,)
    head_init_std: float = 1e-2
    prediction_size: int = disco.PREDICTION_SIZE
    num_bins: int = disco.NUM_BINS

    @nn.compact
    def __call__(self, obs: jax.Array) -> disco.AgentOut:
        a = self.num_actions
        x = _mlp(obs, self.torso, "torso")
        head_init = nn.initializers.truncated_normal(self.head_init_std / 0.87962566)  # haiku's stddev convention
        logits = nn.Dense(a, kernel_init=head_init, name="pi_head")(x)
        y = nn.Dense(self.prediction_size, kernel_init=head_init, name="y_head")(x)

        # One step of the action model from the torso, for every action at once.
        cell = _mlp(x, (self.model_lstm,), "model_root")
        hidden = jnp.tanh(cell)
        shape = (*x.shape[:-1], a, self.model_lstm)
        onehots = jnp.broadcast_to(jnp.eye(a, dtype=x.dtype), (*x.shape[:-1], a, a))
        gated = _mlp(
            jnp.concatenate([onehots, jnp.broadcast_to(hidden[..., None, :], shape)], -1),
            (4 * self.model_lstm,),
            "model_lstm",
        )
        h, _ = disco.lstm_cell(gated, jnp.broadcast_to(cell[..., None, :], shape))
        return disco.AgentOut(
            logits=logits,
            y=y,
            z=_mlp(h, (*self.model_head, self.prediction_size), "z_head"),
            aux_pi=_mlp(h, (*self.model_head, a), "aux_pi_head"),
            q=_mlp(h, (*self.model_head, self.num_bins), "q_head"),
        )


# ---------------------------------------------------------------------------------------------
# Replay of whole trajectories.
# ---------------------------------------------------------------------------------------------


class Trajectories(NamedTuple):
    """B trajectories of T transitions, time-major: obs (T+1, B, obs_dim), actions (T, B) int32,
    rewards (T, B), is_terminal (T, B) bool, behaviour_logits (T, B, A)."""

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    is_terminal: jax.Array
    behaviour_logits: jax.Array


class Replay(NamedTuple):
    """A ring buffer of trajectories (leaves (capacity, ...), batch-major) and how many it holds."""

    data: Trajectories
    next_index: jax.Array  # () int32
    size: jax.Array  # () int32


def replay_init(example: Trajectories, capacity: int) -> Replay:
    data = jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape[:1], *x.shape[2:]), x.dtype), example)
    return Replay(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add(buf: Replay, trajs: Trajectories) -> Replay:
    """Writes B trajectories (time-major) over the oldest slots."""
    capacity = buf.data.rewards.shape[0]
    n = trajs.rewards.shape[1]
    idx = (buf.next_index + jnp.arange(n)) % capacity
    data = jax.tree.map(lambda store, x: store.at[idx].set(jnp.swapaxes(x, 0, 1)), buf.data, trajs)
    return Replay(data, (buf.next_index + n) % capacity, jnp.minimum(buf.size + n, capacity))


def replay_sample(buf: Replay, rng: jax.Array, batch_size: int) -> Trajectories:
    """``batch_size`` trajectories drawn uniformly (with replacement) from those held, time-major."""
    idx = jax.random.randint(rng, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return jax.tree.map(lambda store: jnp.swapaxes(store[idx], 0, 1), buf.data)


# ---------------------------------------------------------------------------------------------
# The trainer.
# ---------------------------------------------------------------------------------------------


class DiscoState(NamedTuple):
    params: Any
    target_params: Any
    opt_state: Any
    rule_state: disco.RuleState
    replay: Replay | None
    env_state: Any
    obs: jax.Array  # (num_envs, obs_dim)
    rng: jax.Array
    update_idx: jax.Array  # () int32
    diverged: jax.Array  # () bool


def _pad_last(x: jax.Array) -> jax.Array:
    """(T, ...) -> (T+1, ...) with zeros: the rule never reads the bootstrap step's action or behaviour."""
    return jnp.concatenate([x, jnp.zeros_like(x[:1])], axis=0)


class DiscoTrainer:
    """One agent configuration trained by a DiscoRL rule; all methods are pure and jittable.

    From ``config`` (a :class:`TrainConfig`) it reads ``total_timesteps``, ``num_envs``
    (actor streams), ``num_steps`` (T, the trajectory length), ``lr``, the torso's
    ``hidden_size`` × ``num_hidden_layers`` (ReLU, as the reference), ``final_window``,
    ``eval_envs``, ``eval_steps`` and ``return_params``; one update per rollout of
    ``num_envs * num_steps`` steps, so ``config.num_updates`` updates. Everything else of
    the agent (replay, batch of trajectories, action model, update clip, discount) is the
    rule's :class:`objectives.disco.DiscoHyper`; PPO/A2C-only fields are not read.
    """

    def __init__(self, env: Any, config: TrainConfig, hyper: disco.DiscoHyper | None = None):
        hyper = disco.DiscoHyper() if hyper is None else hyper
        if isinstance(env, str):
            env = make_env(env)
        if not env.spec.discrete:
            raise ValueError(f"DiscoRL agents act in discrete action spaces; {env.spec.name} is continuous")
        if hyper.replay_capacity == 0 and hyper.batch_size != config.num_envs:
            raise ValueError(
                f"DiscoHyper.batch_size={hyper.batch_size} is invalid without replay (replay_capacity=0): each "
                f"update learns from the fresh rollout's num_envs={config.num_envs} trajectories; allowed: "
                f"batch_size = num_envs = {config.num_envs}"
            )
        if 0 < hyper.replay_capacity < max(hyper.batch_size, config.num_envs):
            raise ValueError(
                f"DiscoHyper.replay_capacity={hyper.replay_capacity} is invalid; allowed: 0 (no replay) or >= "
                f"max(batch_size, num_envs) = {max(hyper.batch_size, config.num_envs)}"
            )
        self.base_env = env
        self.spec = env.spec
        self.config = config
        self.hyper = hyper
        self.env = wrap_for_training(env)
        self.eval_steps = self.spec.max_episode_steps if config.eval_steps is None else config.eval_steps
        self.net = DiscoNet(
            num_actions=self.spec.action_dim,
            torso=(config.hidden_size,) * config.num_hidden_layers,
            model_lstm=hyper.model_lstm,
            model_head=(hyper.model_head,),
            head_init_std=hyper.head_init_std,
        )
        self.optimizer = optax.chain(
            optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
            optax.clip(hyper.max_abs_update),
            optax.scale(-config.lr),
        )

    def _env_params(self, env_params: Any) -> Any:
        return self.base_env.default_params if env_params is None else env_params

    def init(self, meta_params: Any, rng: jax.Array, env_params: Any = None) -> DiscoState:
        del meta_params  # the rule's state starts the same for every rule
        cfg = self.config
        rng, k_net, k_env = jax.random.split(rng, 3)
        params = self.net.init(k_net, jnp.zeros((self.spec.obs_dim,), jnp.float32))
        obs, env_state = self.env.reset(jax.random.split(k_env, cfg.num_envs), self._env_params(env_params))
        replay = None
        if self.hyper.replay_capacity:
            t, n, a = cfg.num_steps, cfg.num_envs, self.spec.action_dim
            example = Trajectories(
                jnp.zeros((t + 1, n, self.spec.obs_dim)),
                jnp.zeros((t, n), jnp.int32),
                jnp.zeros((t, n)),
                jnp.zeros((t, n), bool),
                jnp.zeros((t, n, a)),
            )
            replay = replay_init(example, self.hyper.replay_capacity)
        return DiscoState(
            params,
            params,
            self.optimizer.init(params),
            disco.init_state(),
            replay,
            env_state,
            obs,
            rng,
            jnp.zeros((), jnp.int32),
            jnp.zeros((), bool),
        )

    def rollout(self, params: Any, state: DiscoState, env_params: Any = None) -> tuple[DiscoState, Trajectories]:
        """``num_steps`` steps of every actor: ``state`` advanced, and the streams' trajectories."""
        env_params = self._env_params(env_params)

        def step(carry, _):
            env_state, obs, rng = carry
            rng, k_act, k_step = jax.random.split(rng, 3)
            logits = self.net.apply(params, obs).logits
            action = jax.random.categorical(k_act, logits).astype(jnp.int32)
            keys = jax.random.split(k_step, self.config.num_envs)
            next_obs, env_state, reward, terminated, truncated, _ = self.env.step(keys, env_state, action, env_params)
            return (env_state, next_obs, rng), (obs, action, reward, terminated | truncated, logits)

        (env_state, obs, rng), (o, a, r, d, lg) = jax.lax.scan(
            step, (state.env_state, state.obs, state.rng), None, self.config.num_steps
        )
        trajs = Trajectories(jnp.concatenate([o, obs[None]], 0), a, r.astype(jnp.float32), d, lg)
        return state._replace(env_state=env_state, obs=obs, rng=rng), trajs

    def _inputs(self, params: Any, target_params: Any, trajs: Trajectories) -> disco.DiscoInputs:
        return disco.DiscoInputs(
            actions=_pad_last(trajs.actions),
            rewards=trajs.rewards,
            is_terminal=trajs.is_terminal,
            agent_out=self.net.apply(params, trajs.obs),
            behaviour_logits=_pad_last(trajs.behaviour_logits),
            target_out=self.net.apply(target_params, trajs.obs),
        )

    def rule_targets(
        self, meta_params: Any, state: DiscoState, trajs: Trajectories
    ) -> tuple[disco.DiscoInputs, disco.Targets, disco.RuleState]:
        """The rule on ``trajs`` as ``state``'s agent sees them: its inputs (the agent's and the target's
        outputs, held constant for the rule), its targets, and its state after this update."""
        x = self._inputs(state.params, state.target_params, trajs)
        tg, rule_state = disco.targets(meta_params, jax.lax.stop_gradient(x), state.rule_state, self.hyper)
        return x, tg, rule_state

    def learn(
        self, meta_params: Any, state: DiscoState, trajs: Trajectories
    ) -> tuple[DiscoState, dict[str, jax.Array]]:
        """One update of the agent on ``trajs`` (time-major, ``batch_size`` trajectories)."""
        hyper = self.hyper
        x, tg, rule_state = self.rule_targets(meta_params, state, trajs)

        def loss_fn(params):
            terms = disco.agent_loss(x._replace(agent_out=self.net.apply(params, trajs.obs)), tg, hyper)
            return jnp.mean(terms.total()), terms

        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        target_params = disco.update_target(state.target_params, state.params, hyper)
        logits = x.agent_out.logits[:-1]
        log_pi = jax.nn.log_softmax(logits)
        metrics = {
            "total_loss": loss,
            "entropy": jnp.mean(-jnp.sum(jnp.exp(log_pi) * log_pi, -1)),
            # KL(behaviour ‖ current) over the batch: how stale the replayed data is.
            "approx_kl": jnp.mean(disco.categorical_kl(trajs.behaviour_logits, logits)),
            "actor_loss": jnp.mean(terms.pi + terms.y + terms.z + terms.aux_policy),
            "value_loss": jnp.mean(terms.value),
            "grad_norm": optax.global_norm(grads),
            "adv": tg.values.adv,
        }
        diverged = state.diverged | ~jnp.isfinite(loss) | ~all_finite(params)
        return state._replace(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            rule_state=rule_state,
            diverged=diverged,
        ), metrics

    def update(self, meta_params: Any, state: DiscoState, env_params: Any = None) -> tuple[DiscoState, UpdateMetrics]:
        """One rollout into the replay, then one learning step on a sampled batch."""
        state, trajs = self.rollout(state.params, state, env_params)
        if state.replay is not None:
            replay = replay_add(state.replay, trajs)
            rng, k_sample = jax.random.split(state.rng)
            state = state._replace(replay=replay, rng=rng)
            trajs = replay_sample(replay, k_sample, self.hyper.batch_size)
        if self.hyper.min_replay:
            # Until the replay holds min_replay trajectories the agent only acts (the reference's colab):
            # no learning step, so neither its parameters, its target copy nor the rule's state move.
            learn = lambda s: self.learn(meta_params, s, trajs)
            skipped = jax.tree.map(lambda x: jnp.full(x.shape, jnp.nan, x.dtype), jax.eval_shape(learn, state)[1])
            state, m = jax.lax.cond(state.replay.size >= self.hyper.min_replay, learn, lambda s: (s, skipped), state)
        else:
            state, m = self.learn(meta_params, state, trajs)
        log_state = find_wrapper_state(state.env_state, LogState)
        out = UpdateMetrics(
            episode_return=log_state.returned_episode_return.mean(),
            episodes=trajs.is_terminal.sum(),
            entropy=m["entropy"],
            approx_kl=m["approx_kl"],
            clip_frac=jnp.asarray(jnp.nan, jnp.float32),  # no ratio clipping in this rule
            value_loss=m["value_loss"],
            actor_loss=m["actor_loss"],
            grad_norm=m["grad_norm"],
            positive_value_loss=jnp.mean(jnp.maximum(m["adv"], 0.0)),
            l1_value_loss=jnp.mean(jnp.abs(m["adv"])),
        )
        return state._replace(update_idx=state.update_idx + 1), out

    def run(
        self, meta_params: Any, state: DiscoState, num_updates: int, env_params: Any = None
    ) -> tuple[DiscoState, UpdateMetrics]:
        return jax.lax.scan(lambda s, _: self.update(meta_params, s, env_params), state, None, num_updates)

    def evaluate(self, params: Any, rng: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean return of one episode per eval env under the (sampling) policy; NaN when disabled."""
        n, steps = self.config.eval_envs, self.eval_steps
        if n == 0 or steps == 0:
            return jnp.asarray(jnp.nan, jnp.float32)
        env_params = self._env_params(env_params)
        rng, k_reset = jax.random.split(rng)
        obs, st = self.env.reset(jax.random.split(k_reset, n), env_params)

        def step(carry, _):
            st, obs, rng, first, finished = carry
            rng, k_act, k_step = jax.random.split(rng, 3)
            action = jax.random.categorical(k_act, self.net.apply(params, obs).logits).astype(jnp.int32)
            obs, st, _, terminated, truncated, info = self.env.step(jax.random.split(k_step, n), st, action, env_params)
            done = terminated | truncated
            first = jnp.where(done & ~finished, info["returned_episode_returns"], first)
            return (st, obs, rng, first, finished | done), None

        init = (st, obs, rng, jnp.zeros((n,), jnp.float32), jnp.zeros((n,), bool))
        (st, _, _, first, finished), _ = jax.lax.scan(step, init, None, steps)
        return jnp.mean(jnp.where(finished, first, find_wrapper_state(st, LogState).episode_return))

    def result(self, state: DiscoState, metrics: UpdateMetrics, env_params: Any = None) -> TrainResult:
        window = min(self.config.final_window, metrics.episode_return.shape[0])
        _, k_eval = jax.random.split(state.rng)
        return TrainResult(
            final_return=metrics.episode_return[-window:].mean(),
            eval_return=self.evaluate(state.params, k_eval, env_params),
            curve=metrics.episode_return,
            metrics=metrics,
            diverged=state.diverged,
            params=state.params if self.config.return_params else None,
        )

    def train(self, meta_params: Any, rng: jax.Array, env_params: Any = None) -> TrainResult:
        """A whole training: :meth:`init`, ``config.num_updates`` updates, :meth:`result`."""
        state = self.init(meta_params, rng, env_params)
        state, metrics = self.run(meta_params, state, self.config.num_updates, env_params)
        return self.result(state, metrics, env_params)


def haiku_to_flax(arrays: dict[str, np.ndarray], prefix: str = "mlp") -> dict:
    """The reference agent network's haiku parameters (flat ``module/path/w|b`` keys) as :class:`DiscoNet`
    parameters: used to check our network against the reference's outputs."""
    heads = {"z_head": "mlp", "aux_pi_head": "mlp_1", "q_head": "mlp_2"}
    out: dict = {}

    def put(ours: str, theirs: str) -> None:
        out[ours] = {
            "kernel": jnp.asarray(arrays[f"{prefix}/{theirs}/w"]),
            "bias": jnp.asarray(arrays[f"{prefix}/{theirs}/b"]),
        }

    i = 0
    while f"{prefix}/~_embedding_pass/torso/~/linear_{i}/w" in arrays:
        put(f"torso_{i}", f"~_embedding_pass/torso/~/linear_{i}")
        i += 1
    put("pi_head", "~_head_pass/torso_head/~/linear_0")
    put("y_head", "~_head_pass/torso_head_1/~/linear_0")
    put("model_root_0", "linear")
    put("model_lstm_0", "action_cond/linear")
    for ours, theirs in heads.items():
        j = 0
        while f"{prefix}/{theirs}/~/linear_{j}/w" in arrays:
            put(f"{ours}_{j}", f"{theirs}/~/linear_{j}")
            j += 1
    return {"params": out}
