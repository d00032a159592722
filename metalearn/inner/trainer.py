"""PPO / A2C inner training in the PureJaxRL style: the agent ``"ppo"`` of :mod:`metalearn.inner.registry`.

:class:`Trainer` is an :class:`~metalearn.inner.agent.Agent`: ``train(meta_params, rng, env_params=None)
-> TrainResult`` runs rollouts, GAE, epochs and minibatches all inside ``lax.scan``, so ``jax.vmap`` over
``meta_params`` (a population of rules) and ``rng`` (seeds) runs many trainings at once; ``init`` / ``run``
/ ``result`` give the same run in pieces, for callers that want progress between chunks of updates.
``make_train(env, config, optimizer=None, objective=None)`` (:mod:`metalearn.inner.registry`) jits it.

Hooks for learned rules:

* ``optimizer`` — ``None`` (Adam, linearly annealed as in PureJaxRL), any
  ``optax.GradientTransformation``, or ``meta_params -> GradientTransformation``
  for a learned optimizer; it receives the extra arguments documented in
  :mod:`learned_optimizers.base`.
* ``objective`` — ``None`` (PPO-clip, or the A2C policy gradient when
  ``config.algorithm == "a2c"``), an :class:`objectives.Objective` (a rule's
  ``objective``), or a bare ``(meta_params, ObjectiveInputs) -> per-sample
  loss``. A trajectory objective's (LPG) ``targets`` run once per rollout over
  the whole trajectory and reach the loss per sample as ``rule_targets``.

Names: ``returns`` are GAE's value targets; ``rule_targets`` a trajectory
objective's outputs; ``prediction`` the agent's prediction head (LPG's y(s),
``TrainConfig.aux_head_dim`` logits).

Episodes that end by time limit are treated as terminal by GAE (as in
PureJaxRL and the OPEN reference): ``done = terminated | truncated``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from learned_optimizers import make_baseline
from metalearn.envs import make_env, wrap_for_training
from metalearn.envs.wrappers import NormObsState, find_wrapper_state
from metalearn.inner import agent
from metalearn.inner.advantage import gae
from metalearn.inner.config import TrainConfig
from metalearn.inner.networks import PREDICTION_PREFIX, Actor, Critic, layer_proportions
from metalearn.inner.results import UpdateMetrics, all_finite, update_metrics
from objectives import Objective, ObjectiveInputs, TrajectoryInputs, a2c, ppo_clip

OptimizerLike = optax.GradientTransformation | Callable[[Any], optax.GradientTransformation]

# TrainConfig fields an agent may carry as traced numbers (RunnerState.hypers), so one compiled
# training serves a whole grid of them (``metalearn tune``); the others shape the program.
TRACED_HYPERS = ("lr", "ent_coef", "vf_coef", "gae_lambda", "max_grad_norm")


class Transition(NamedTuple):
    """One rollout step for all envs; leaves (num_envs, ...)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array  # terminated | truncated
    prediction: jax.Array | None  # prediction-head logits (LPG-style agents), else None


class RunnerState(NamedTuple):
    params: Any  # {"actor": flax params, "critic": flax params}
    opt_state: Any
    env_state: Any
    obs: jax.Array  # (num_envs, obs_dim)
    rng: jax.Array
    update_idx: jax.Array  # () int32, updates done so far (stops at ``lifetime``)
    diverged: jax.Array  # () bool, a loss or parameter was ever non-finite
    lifetime: jax.Array  # () int32, this agent's horizon N in updates; updates past it are discarded
    hypers: Any = None  # {field: () float32} overriding TRACED_HYPERS fields of the config, else None


def default_optimizer(config: TrainConfig, lr: Any = None) -> optax.GradientTransformation:
    """``config.optimizer`` (Adam by default) at ``lr`` (default ``config.lr``; may be traced), linearly
    annealed over updates as in PureJaxRL when ``anneal_lr``."""
    peak = config.lr if lr is None else lr
    lr = peak
    if config.anneal_lr:

        def lr(count):
            return peak * (1.0 - (count // config.steps_per_update) / config.num_updates)

    return make_baseline(config.optimizer, lr, eps=config.adam_eps, eps_root=config.adam_eps_root)


def _resolve_optimizer(optimizer: OptimizerLike | None, config: TrainConfig):
    if optimizer is None:
        optimizer = default_optimizer(config)
    if isinstance(optimizer, optax.GradientTransformation):
        fixed = optax.with_extra_args_support(optimizer)
        return lambda meta_params: fixed
    if callable(optimizer):
        return lambda meta_params: optax.with_extra_args_support(optimizer(meta_params))
    raise TypeError(
        f"optimizer must be None, an optax.GradientTransformation, or a function "
        f"meta_params -> GradientTransformation; got {type(optimizer).__name__}"
    )


def _safe_norm(tree: Any) -> jax.Array:
    """Global L2 norm whose own gradient is finite at 0 (a meta-gradient passes through it; sqrt'(0) is inf)."""
    sq = sum(jnp.sum(x**2) for x in jax.tree.leaves(tree))
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _clip_by_global_norm(grads: Any, max_norm: float | jax.Array) -> tuple[Any, jax.Array]:
    norm = _safe_norm(grads)
    if isinstance(max_norm, int | float):
        if max_norm <= 0:  # 0 disables clipping
            return grads, norm
        scale = jnp.where(norm < max_norm, 1.0, max_norm / norm)
    else:  # traced (a tuning grid)
        scale = jnp.where((max_norm <= 0) | (norm < max_norm), 1.0, max_norm / norm)
    return jax.tree.map(lambda g: g * scale, grads), norm


def _split_prediction(actor_tree: Any) -> tuple[dict, dict]:
    """An actor-shaped tree's layers as (policy's, prediction's): the latter those named ``aux_*``."""
    layers = actor_tree["params"]
    pred = {k: v for k, v in layers.items() if k.startswith(PREDICTION_PREFIX)}
    return {k: v for k, v in layers.items() if k not in pred}, pred


def _clip_actor(grads: Any, max_norm: float | jax.Array, separate: bool) -> tuple[Any, jax.Array]:
    """The actor's gradients clipped to ``max_norm`` as one, or (``separate``) the policy's and the prediction
    network's each by its own global norm; and the norm before clipping."""
    if not separate:
        return _clip_by_global_norm(grads, max_norm)
    policy, pred = _split_prediction(grads)
    policy, norm_pi = _clip_by_global_norm(policy, max_norm)
    pred, norm_y = _clip_by_global_norm(pred, max_norm)
    return {**grads, "params": {**policy, **pred}}, _safe_norm([norm_pi, norm_y])


def _scale_prediction(actor_tree: Any, scale: float) -> Any:
    """An actor-shaped tree with its prediction layers' leaves multiplied by ``scale``."""
    if scale == 1:
        return actor_tree
    policy, pred = _split_prediction(actor_tree)
    return {**actor_tree, "params": {**policy, **jax.tree.map(lambda u: u * scale, pred)}}


def _rollout_mean(x: jax.Array) -> jax.Array:
    """Mean of a (num_steps, num_envs) rollout statistic, summed step by step in a scan: the same additions in
    the same order whatever vmap adds around it (one flat reduction is tiled differently under vmap)."""
    total, _ = jax.lax.scan(lambda acc, row: (acc + row, None), jnp.zeros(x.shape[1:], x.dtype), x)
    return total.mean()


class Rollout(NamedTuple):
    """What one update learned from (for meta-gradients): leaves (num_steps, num_envs, ...)."""

    traj: Transition
    rule_targets: Any  # a trajectory objective's targets, else None


class Trainer(agent.Agent):
    """One PPO/A2C training configuration (an :class:`~metalearn.inner.agent.Agent`); all methods are pure and
    jittable.

    Every agent has a ``lifetime`` N (updates): ``config.num_updates``, or with
    ``config.level_lifetime`` its level's own (``env_params.lifetime``, as
    GROOVE's gridworld levels carry). Progress n / (N − 1) and log N are what
    temporally-aware rules read; an update computed once N updates are done is
    discarded (the env still steps), as the GROOVE reference does.
    """

    settings_type = None  # every setting is TrainConfig's
    config_fields = None  # and it reads every one

    def __init__(
        self,
        env: Any,
        config: TrainConfig,
        optimizer: OptimizerLike | None = None,
        objective: Objective | Callable | None = None,
    ):
        if isinstance(env, str):
            env = make_env(env)
        self.base_env = env
        self.spec = env.spec
        self.config = config
        self.env = wrap_for_training(
            env,
            clip_action=config.clip_action,
            normalize_obs=config.normalize_obs,
            normalize_reward=config.normalize_reward,
            gamma=config.gamma,
        )
        self.eval_env = wrap_for_training(
            env, clip_action=config.clip_action, normalize_obs=config.normalize_obs, update_obs_stats=False
        )
        self.eval_steps = self.spec.max_episode_steps if config.eval_steps is None else config.eval_steps
        self.actor = Actor(
            action_dim=self.spec.action_dim,
            discrete=self.spec.discrete,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            activation=config.activation,
            aux_head_dim=config.aux_head_dim,
            separate_prediction=config.separate_prediction,
        )
        self.critic = Critic(config.hidden_size, config.num_hidden_layers, config.activation)
        self._optimizer = _resolve_optimizer(optimizer, config)
        self._default_optimizer = optimizer is None
        if objective is None:
            objective = ppo_clip(config.clip_eps) if config.algorithm == "ppo" else a2c()
        elif not isinstance(objective, Objective):
            objective = Objective(objective)  # a bare (meta_params, inputs) -> (B,) loss
        if objective.kind == "agent":
            raise ValueError(
                f"this rule brings its own agent ({objective.agent!r}), not a PPO/A2C one; build its trainer with "
                "metalearn.inner.make_trainer(env, config, objective=rule.objective)"
            )
        if objective.kind == "trajectory" and not config.aux_head_dim:
            raise ValueError(
                "this objective trains the agent's prediction head y(s): TrainConfig.aux_head_dim=0 is "
                "invalid for it; allowed: the rule's prediction size (e.g. 8 for lpg's default target_dim)"
            )
        self._objective = objective
        if config.level_lifetime and not hasattr(env.default_params, "lifetime"):
            raise ValueError(
                f"TrainConfig.level_lifetime=True is invalid for {self.spec.name}: its levels carry no lifetime; "
                "allowed: envs whose params have a `lifetime` (GridWorld), or level_lifetime=False"
            )

    def _env_params(self, env_params: Any) -> Any:
        return self.base_env.default_params if env_params is None else env_params

    def _hp(self, hypers: dict | None, name: str) -> Any:
        """The agent's value of TrainConfig field ``name``: its traced override, else the config's."""
        return getattr(self.config, name) if hypers is None or name not in hypers else hypers[name]

    def _opt(self, meta_params: Any, hypers: dict | None) -> optax.GradientTransformation:
        if hypers is not None and "lr" in hypers:
            return optax.with_extra_args_support(default_optimizer(self.config, lr=hypers["lr"]))
        return self._optimizer(meta_params)

    def _check_hypers(self, hypers: dict | None) -> dict | None:
        if hypers is None:
            return None
        for name in hypers:
            if name not in TRACED_HYPERS:
                raise ValueError(f"hypers field {name!r} is invalid; allowed: {', '.join(TRACED_HYPERS)}")
        if "lr" in hypers and not self._default_optimizer:
            raise ValueError(
                "hypers field 'lr' is invalid with a given optimizer (a rule's or an optax one); allowed: lr only "
                "with the config's own optimizer (optimizer=None)"
            )
        return {k: jnp.asarray(v, jnp.float32) for k, v in hypers.items()}

    # ------------------------------------------------------------------ init
    def init(self, meta_params: Any, rng: jax.Array, env_params: Any = None, hypers: dict | None = None) -> RunnerState:
        """A fresh agent on ``env_params``. ``hypers`` ({field: () number}, fields in TRACED_HYPERS) overrides
        those config fields for this agent and may be traced, so agents vmapped over it share one program."""
        env_params = self._env_params(env_params)
        hypers = self._check_hypers(hypers)
        rng, k_actor, k_critic, k_env = jax.random.split(rng, 4)
        if self.config.shared_init_key:
            k_critic = k_actor
        dummy = jnp.zeros((self.spec.obs_dim,), jnp.float32)
        params = {"actor": self.actor.init(k_actor, dummy), "critic": self.critic.init(k_critic, dummy)}
        opt_state = self._opt(meta_params, hypers).init(params)
        obs, env_state = self.env.reset(jax.random.split(k_env, self.config.num_envs), env_params)
        return RunnerState(
            params,
            opt_state,
            env_state,
            obs,
            rng,
            jnp.zeros((), jnp.int32),
            jnp.zeros((), bool),
            self.lifetime(env_params),
            hypers,
        )

    def lifetime(self, env_params: Any = None) -> jax.Array:
        """() int32, the horizon N of an agent on ``env_params`` (see the class docstring)."""
        if self.config.level_lifetime:
            return jnp.asarray(self._env_params(env_params).lifetime, jnp.int32)
        return jnp.asarray(self.config.num_updates, jnp.int32)

    @staticmethod
    def progress(state: RunnerState) -> jax.Array:
        """() float32 n / (N − 1) of ``state``'s agent: 0 at its first update, 1 at its last."""
        return state.update_idx.astype(jnp.float32) / jnp.maximum(state.lifetime - 1, 1).astype(jnp.float32)

    # ----------------------------------------------------------------- learn
    def _loss(self, params, batch, progress, lifetime, meta_params, hypers):
        cfg = self.config
        traj, advantages, returns, rule_targets = batch
        dist, prediction, actor_act = self.actor.apply(params["actor"], traj.obs)
        value, critic_act = self.critic.apply(params["critic"], traj.obs)

        if cfg.clip_value:
            value_clipped = traj.value + jnp.clip(value - traj.value, -cfg.clip_eps, cfg.clip_eps)
            value_loss = 0.5 * jnp.maximum((value - returns) ** 2, (value_clipped - returns) ** 2).mean()
        else:
            value_loss = 0.5 * ((value - returns) ** 2).mean()

        if cfg.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        log_prob = dist.log_prob(traj.action)
        log_ratio = log_prob - traj.log_prob
        ratio = jnp.exp(log_ratio)
        inputs = ObjectiveInputs(
            ratio=ratio,
            advantage=advantages,
            log_prob=log_prob,
            old_log_prob=traj.log_prob,
            progress=progress,
            num_updates=lifetime,
            rule_targets=rule_targets,
            prediction=prediction,
        )
        actor_loss = self._objective(meta_params, inputs).mean()
        entropy = dist.entropy().mean()
        total = actor_loss + self._hp(hypers, "vf_coef") * value_loss - self._hp(hypers, "ent_coef") * entropy
        metrics = {
            "total_loss": total,
            "entropy": entropy,
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_frac": jnp.mean(jnp.abs(ratio - 1.0) > cfg.clip_eps),
            "value_loss": value_loss,
            "actor_loss": actor_loss,
        }
        return total, ({"actor": actor_act, "critic": critic_act}, metrics)

    def _rule_targets(self, meta_params, params, traj: Transition, last_obs, progress, lifetime) -> Any:
        """A trajectory objective's targets for this rollout (leaves (T, E, ...)), else None.

        The agent's outputs enter the rule as constants (so the agent's gradient treats the
        targets as fixed, and a meta-gradient flows through the rule's parameters only, as in
        the GROOVE reference).
        """
        if self._objective.targets is None:
            return None
        _, last_prediction, _ = self.actor.apply(params["actor"], last_obs)
        prediction = jax.nn.softmax(traj.prediction, axis=-1)
        next_prediction = jnp.concatenate([prediction[1:], jax.nn.softmax(last_prediction, axis=-1)[None]], axis=0)
        inputs = TrajectoryInputs(
            reward=traj.reward,
            done=traj.done,
            pi=jnp.exp(traj.log_prob),
            prediction=prediction,
            next_prediction=next_prediction,
            progress=progress,
            num_updates=lifetime,
        )
        return self._objective.rule_targets(meta_params, jax.lax.stop_gradient(inputs))

    def rollout(self, params: Any, state: RunnerState, env_params: Any = None) -> tuple[RunnerState, Transition]:
        """``num_steps`` steps of every env under ``params``: ``state`` with its envs and key advanced, and the
        transitions (leaves (num_steps, num_envs, ...))."""
        cfg = self.config
        env_params = self._env_params(env_params)

        def env_step(carry, _):
            env_state, obs, rng = carry
            rng, k_act, k_step = jax.random.split(rng, 3)
            dist, prediction, _ = self.actor.apply(params["actor"], obs)
            value, _ = self.critic.apply(params["critic"], obs)
            action = dist.sample(k_act)
            log_prob = dist.log_prob(action)
            keys = jax.random.split(k_step, cfg.num_envs)
            next_obs, env_state, reward, terminated, truncated, _ = self.env.step(keys, env_state, action, env_params)
            done = jnp.logical_or(terminated, truncated)
            return (env_state, next_obs, rng), Transition(obs, action, log_prob, value, reward, done, prediction)

        (env_state, obs, rng), traj = jax.lax.scan(
            env_step, (state.env_state, state.obs, state.rng), None, cfg.num_steps
        )
        return state._replace(env_state=env_state, obs=obs, rng=rng), traj

    def update(self, meta_params: Any, state: RunnerState, env_params: Any = None) -> tuple[RunnerState, UpdateMetrics]:
        """One rollout of ``num_steps`` × ``num_envs`` plus its epochs of minibatch updates."""
        state, metrics, _ = self.update_with_rollout(meta_params, state, env_params)
        return state, metrics

    def update_with_rollout(
        self, meta_params: Any, state: RunnerState, env_params: Any = None
    ) -> tuple[RunnerState, UpdateMetrics, Rollout]:
        """:meth:`update`, also returning the rollout it learned from (differentiable in ``meta_params``)."""
        cfg = self.config
        env_params = self._env_params(env_params)
        opt = self._opt(meta_params, state.hypers)
        progress = self.progress(state)
        lifetime = state.lifetime.astype(jnp.float32)
        params = state.params

        rolled, traj = self.rollout(params, state, env_params)
        env_state, obs, rng = rolled.env_state, rolled.obs, rolled.rng
        last_value, _ = self.critic.apply(params["critic"], obs)
        advantages, returns = gae(
            traj.reward, traj.value, traj.done, last_value, cfg.gamma, self._hp(state.hypers, "gae_lambda")
        )
        rule_targets = self._rule_targets(meta_params, params, traj, obs, progress, lifetime)

        # Constant trees a learned optimizer reads; dropped by XLA when unused.
        layer_props = {k: layer_proportions(v) for k, v in params.items()}
        actor_mask = {k: jax.tree.map(lambda _, m=float(k == "actor"): jnp.float32(m), v) for k, v in params.items()}
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def minibatch_step(carry, batch, batch_progress, k_opt):
            params, opt_state = carry
            (_, (activations, metrics)), grads = grad_fn(params, batch, progress, lifetime, meta_params, state.hypers)
            max_norm = self._hp(state.hypers, "max_grad_norm")
            grads_a, norm_a = _clip_actor(grads["actor"], max_norm, cfg.separate_prediction)
            grads_c, norm_c = _clip_by_global_norm(grads["critic"], max_norm)
            updates, opt_state = opt.update(
                {"actor": grads_a, "critic": grads_c},
                opt_state,
                params,
                training_progress=progress,
                batch_progress=batch_progress,
                layer_props=layer_props,
                activations=activations,
                actor_mask=actor_mask,
                key=k_opt,
            )
            updates = {**updates, "actor": _scale_prediction(updates["actor"], cfg.prediction_lr_scale)}
            params = optax.apply_updates(params, updates)
            metrics["grad_norm"] = _safe_norm([norm_a, norm_c])
            return (params, opt_state), metrics

        def epoch_step(carry, epoch):
            params, opt_state, rng = carry
            rng, k_perm, k_opt = jax.random.split(rng, 3)
            perm = jax.random.permutation(k_perm, cfg.batch_size)

            def to_minibatches(x):
                x = x.reshape((cfg.batch_size, *x.shape[2:]))
                return jnp.take(x, perm, axis=0).reshape((cfg.num_minibatches, cfg.minibatch_size, *x.shape[1:]))

            batches = jax.tree.map(to_minibatches, (traj, advantages, returns, rule_targets))
            batch_progress = epoch.astype(jnp.float32) / max(cfg.update_epochs - 1, 1)
            # Optimizer keys derive from k_opt, so XLA drops them when no rule reads them.
            (params, opt_state), metrics = jax.lax.scan(
                lambda c, xs: minibatch_step(c, xs[0], batch_progress, jax.random.fold_in(k_opt, xs[1])),
                (params, opt_state),
                (batches, jnp.arange(cfg.num_minibatches)),
            )
            return (params, opt_state, rng), metrics

        (params, opt_state, rng), metrics = jax.lax.scan(
            epoch_step, (params, state.opt_state, rng), jnp.arange(cfg.update_epochs)
        )
        metrics = jax.tree.map(jnp.mean, metrics)
        diverged = state.diverged | ~jnp.isfinite(metrics["total_loss"]) | ~all_finite(params)
        # Past its lifetime an agent keeps its parameters: the update just computed is discarded.
        live = state.update_idx < state.lifetime
        params, opt_state, diverged = jax.tree.map(
            lambda new, old: jnp.where(live, new, old),
            (params, opt_state, diverged),
            (state.params, state.opt_state, state.diverged),
        )
        out = update_metrics(env_state, traj.done.sum(), metrics, advantages, mean=_rollout_mean)
        update_idx = state.update_idx + live.astype(jnp.int32)
        new_state = RunnerState(
            params, opt_state, env_state, obs, rng, update_idx, diverged, state.lifetime, state.hypers
        )
        return new_state, out, Rollout(traj, rule_targets)

    def evaluate(self, params: Any, env_state: Any, rng: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean return of one episode per eval env under the (stochastic) policy (:func:`agent.evaluate_policy`).

        Observation statistics are taken frozen from ``env_state`` (the training env's state) when
        observations are normalised.
        """
        env_params = self._env_params(env_params)
        reset = None
        if self.config.normalize_obs:
            stats = find_wrapper_state(env_state, NormObsState).obs_stats
            reset = lambda keys: self.eval_env.reset_with_stats(keys, env_params, stats)
        act = lambda obs, key: self.actor.apply(params["actor"], obs)[0].sample(key)
        return agent.evaluate_policy(
            self.eval_env, act, rng, self.config.eval_envs, self.eval_steps, env_params, reset=reset
        )
