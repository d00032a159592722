"""The agent a DiscoRL update rule brings (Disco103 by default): its settings, network, replay and learning step.

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

:class:`DiscoAgent` is the agent ``"disco"`` of :mod:`metalearn.inner.registry`, an
:class:`~metalearn.inner.agent.Agent` like PPO/A2C's :class:`~metalearn.inner.trainer.Trainer`:
``make_trainer(env, config, objective=rule.objective).train(meta_params, rng) -> TrainResult`` is pure
and jittable, so ``jax.vmap`` runs seeds (and populations of rules) at once. Its settings are
:class:`DiscoAgentConfig` (a rule ``disco`` takes them as keywords, beside the rule's own
:class:`objectives.disco.DiscoHyper`), and from :class:`TrainConfig` what every agent reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalearn.envs import make_env, wrap_for_training
from metalearn.inner import agent
from metalearn.inner.config import TrainConfig
from metalearn.inner.results import UpdateMetrics, all_finite, update_metrics
from objectives import Objective, disco

# ---------------------------------------------------------------------------------------------
# The agent's settings.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DiscoAgentConfig:
    """The DiscoRL agent's own settings (the reference's ``net_settings`` and optimiser), apart from the rule's
    hyper-parameters (:class:`objectives.disco.DiscoHyper`); defaults as the reference's colab sets them for Catch.

    ``replay_capacity``: trajectories the replay holds (0: learn from each fresh rollout only);
    ``batch_size``: trajectories per update; ``min_replay``: trajectories the replay holds before the first
    learning step (the reference's colab waits for ``batch_size``; 0 learns from the first rollout);
    ``model_lstm`` / ``model_head``: the action model's LSTM and head widths; ``head_init_std``: the
    policy/prediction heads' initial scale; ``max_abs_update``: Adam's elementwise update clip. The torso
    (``hidden_size`` × ``num_hidden_layers``, ReLU) and learning rate are TrainConfig's, as for every agent.
    """

    replay_capacity: int = 1024
    batch_size: int = 64
    min_replay: int = 0
    model_lstm: int = 128
    model_head: int = 128
    head_init_std: float = 1e-2
    max_abs_update: float = 1.0

    def __post_init__(self) -> None:
        ints = {"replay_capacity": 0, "batch_size": 1, "min_replay": 0, "model_lstm": 1, "model_head": 1}
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"DiscoAgentConfig.{name}={v!r} is invalid; allowed: an integer >= {low}")
        for name in ("head_init_std", "max_abs_update"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or not v > 0:
                raise ValueError(f"DiscoAgentConfig.{name}={v!r} is invalid; allowed: a finite number > 0")
        if self.min_replay > self.replay_capacity:
            raise ValueError(
                f"DiscoAgentConfig.min_replay={self.min_replay} is invalid; allowed: 0 <= min_replay <= "
                f"replay_capacity = {self.replay_capacity}"
            )


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


class DiscoAgent(agent.Agent):
    """The agent a DiscoRL rule trains (an :class:`~metalearn.inner.agent.Agent`); all methods are pure and
    jittable.

    Built as every agent, ``DiscoAgent(env, config, optimizer=None, objective=None)``: ``objective`` is the
    rule's (``make_rule("disco", ...).objective``: its :class:`objectives.disco.DiscoHyper` and this agent's
    :class:`DiscoAgentConfig`; None: Disco103's defaults); the agent trains with its own optimizer (Adam with
    an elementwise update clip), so a given ``optimizer`` is refused. From ``config`` (a :class:`TrainConfig`)
    it reads ``total_timesteps``, ``num_envs`` (actor streams), ``num_steps`` (T, the trajectory length),
    ``lr``, the torso's ``hidden_size`` × ``num_hidden_layers`` (ReLU, as the reference), ``final_window``,
    ``eval_envs``, ``eval_steps`` and ``return_params``; one update per rollout of ``num_envs * num_steps``
    steps, so ``config.num_updates`` updates. PPO/A2C-only fields are not read.
    """

    settings_type = DiscoAgentConfig
    config_fields = (
        *("total_timesteps", "num_envs", "num_steps", "lr", "hidden_size", "num_hidden_layers"),
        *("final_window", "eval_envs", "eval_steps", "return_params"),
    )

    def __init__(self, env: Any, config: TrainConfig, optimizer: Any = None, objective: Objective | None = None):
        if optimizer is not None:
            raise ValueError(
                "an 'agent' rule (DiscoRL) trains its agent with its own optimizer; a learned or given optimizer "
                "is invalid with it; allowed: optimizer=None"
            )
        objective = disco.to_objective() if objective is None else objective
        if objective.agent != disco.AGENT:
            raise ValueError(
                f"the DiscoRL agent trains with a DiscoRL rule; got a rule of kind {objective.kind!r} "
                f"(agent {objective.agent!r}); allowed: make_rule('disco').objective"
            )
        settings = DiscoAgentConfig() if objective.agent_config is None else objective.agent_config
        if isinstance(env, str):
            env = make_env(env)
        if not env.spec.discrete:
            raise ValueError(f"DiscoRL agents act in discrete action spaces; {env.spec.name} is continuous")
        if settings.replay_capacity == 0 and settings.batch_size != config.num_envs:
            raise ValueError(
                f"DiscoAgentConfig.batch_size={settings.batch_size} is invalid without replay (replay_capacity=0): "
                f"each update learns from the fresh rollout's num_envs={config.num_envs} trajectories; allowed: "
                f"batch_size = num_envs = {config.num_envs}"
            )
        if 0 < settings.replay_capacity < max(settings.batch_size, config.num_envs):
            raise ValueError(
                f"DiscoAgentConfig.replay_capacity={settings.replay_capacity} is invalid; allowed: 0 (no replay) or "
                f">= max(batch_size, num_envs) = {max(settings.batch_size, config.num_envs)}"
            )
        self.base_env = env
        self.spec = env.spec
        self.config = config
        self.settings = settings
        self.hyper = objective.hyper
        self.env = wrap_for_training(env)
        self.eval_steps = self.spec.max_episode_steps if config.eval_steps is None else config.eval_steps
        self.net = DiscoNet(
            num_actions=self.spec.action_dim,
            torso=(config.hidden_size,) * config.num_hidden_layers,
            model_lstm=settings.model_lstm,
            model_head=(settings.model_head,),
            head_init_std=settings.head_init_std,
        )
        self.optimizer = optax.chain(
            optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
            optax.clip(settings.max_abs_update),
            optax.scale(-config.lr),
        )

    def _env_params(self, env_params: Any) -> Any:
        return self.base_env.default_params if env_params is None else env_params

    def init(self, meta_params: Any, rng: jax.Array, env_params: Any = None, hypers: dict | None = None) -> DiscoState:
        del meta_params  # the rule's state starts the same for every rule
        agent.refuse_hypers("DiscoRL", hypers)
        cfg = self.config
        rng, k_net, k_env = jax.random.split(rng, 3)
        params = self.net.init(k_net, jnp.zeros((self.spec.obs_dim,), jnp.float32))
        obs, env_state = self.env.reset(jax.random.split(k_env, cfg.num_envs), self._env_params(env_params))
        replay = None
        if self.settings.replay_capacity:
            t, n, a = cfg.num_steps, cfg.num_envs, self.spec.action_dim
            example = Trajectories(
                jnp.zeros((t + 1, n, self.spec.obs_dim)),
                jnp.zeros((t, n), jnp.int32),
                jnp.zeros((t, n)),
                jnp.zeros((t, n), bool),
                jnp.zeros((t, n, a)),
            )
            replay = replay_init(example, self.settings.replay_capacity)
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
            trajs = replay_sample(replay, k_sample, self.settings.batch_size)
        if self.settings.min_replay:
            # Until the replay holds min_replay trajectories the agent only acts (the reference's colab):
            # no learning step, so neither its parameters, its target copy nor the rule's state move.
            learn = lambda s: self.learn(meta_params, s, trajs)
            skipped = jax.tree.map(lambda x: jnp.full(x.shape, jnp.nan, x.dtype), jax.eval_shape(learn, state)[1])
            state, m = jax.lax.cond(state.replay.size >= self.settings.min_replay, learn, lambda s: (s, skipped), state)
        else:
            state, m = self.learn(meta_params, state, trajs)
        # No ratio is clipped (clip_frac NaN); the advantages are the rule's Retrace ones over the learned batch.
        out = update_metrics(state.env_state, trajs.is_terminal.sum(), m, m["adv"])
        return state._replace(update_idx=state.update_idx + 1), out

    def evaluate(self, params: Any, env_state: Any, rng: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean return of one episode per eval env under the (sampling) policy; NaN when disabled. ``env_state``
        is unused: this agent's observations are not normalised."""
        act = lambda obs, key: jax.random.categorical(key, self.net.apply(params, obs).logits).astype(jnp.int32)
        return agent.evaluate_policy(
            self.env, act, rng, self.config.eval_envs, self.eval_steps, self._env_params(env_params)
        )


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
