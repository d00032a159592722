"""Meta-gradients through K updates of persistent agents: how LPG is meta-trained (Oh et al. 2020).

The regime of the GROOVE / TA-LPG reference (its default): a batch of A
agents lives across meta-steps, each with its own level (env params carrying
a lifetime), env workers, actor (with LPG's prediction head), optimizer
state, update count, and a separately trained value critic. One meta-step:

1. every agent does K updates with the current rule η (vmapped over agents);
2. the updated agent θ_K(η) acts for one more rollout; its value critic is
   trained on the K rollouts and then gives GAE advantages Â on the new one
   (``freeze_critic``: it keeps its initialisation, as the reference's code
   does by a bug);
3. the meta-loss of the agent is the policy-gradient loss of θ_K on that
   rollout, regularised as the reference does (means over the K updates)::

       L(η) = −mean(log π_θK(a|s) · Â) − β0·H[π_θk] − β1·H[y_θk] + β2·mean(π̂²) + β3·mean(Σ ŷ²)

   and dL/dη, taken through the K updates (the agent's inputs to the rule
   held constant, as in the reference), is averaged over agents (in
   ``agent_batches`` sequential chunks to bound memory), clipped to
   ``max_grad_norm`` and applied by Adam at ``lr``;
4. agents whose update count reached their level's lifetime (and agents
   whose meta-loss is not finite) are replaced by new agents, with new
   critics, on new levels (the task's own level, or the curriculum's). With
   a scoring curriculum (``groove``, GROOVE's own buffer) each level whose agent
   ended is scored first: ``alg_regret`` trains an antagonist there for the
   level family's longest lifetime and evaluates it and the agent by rollouts.

A "generation" is ``steps_per_generation`` meta-steps in one jitted scan; the
whole state (rule, Adam, agents, critics, levels, curriculum) is a pytree that
is checkpointed between generations, so a resumed run continues exactly.
The terms that need LPG's outputs (H[y], π̂, ŷ) are zero for rules without
them, so any differentiable rule (a drift objective, a learned optimizer)
can be meta-trained this way.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metalearn.curriculum.base import LevelBatch
from metalearn.curriculum.config import CurriculumConfig
from metalearn.curriculum.scores import ScoreInputs
from metalearn.inner import RunnerState, TrainConfig
from metalearn.inner.advantage import gae
from metalearn.inner.distributions import Categorical
from metalearn.inner.trainer import Rollout, Transition
from metalearn.meta.config import MetaConfig, MetaGradientConfig
from metalearn.meta.context import MetaContext
from metalearn.meta.regime import GenerationMetrics
from objectives import OBJECTIVES

# Curriculum kinds the persistent regime can run: kinds that give replaced agents levels one agent at a time.
MG_CURRICULA = ("dr", "frozen", "groove")


class Agents(NamedTuple):
    """A batch of persistent agents; leaves (A, ...)."""

    runner: RunnerState  # parameters, optimizer state, env workers, update count, lifetime
    level: Any  # the env params each agent trains on
    critic: Any  # the separate value critic's params (the meta-loss's advantages)
    critic_opt: Any  # its Adam state
    level_index: jax.Array  # (A,) int32 the level's slot in the curriculum's buffer; -1 for none


class PersistentState(NamedTuple):
    """Everything a meta-gradient run carries between generations (a checkpoint)."""

    meta_params: Any
    opt_state: Any  # the meta-optimizer's
    agents: Agents
    key: jax.Array
    generation: jax.Array  # () int32, generations done
    best_fitness: jax.Array  # () best mean agent return at a generation's end so far
    best_params: Any  # the rule at that generation
    levels: Any = ()  # the curriculum's state; () for none


class StepMetrics(NamedTuple):
    """One meta-step; scalars are means over agents (finite ones), ``agent_return`` (A,)."""

    meta_loss: jax.Array
    pg_loss: jax.Array
    policy_entropy: jax.Array
    target_entropy: jax.Array
    pi_hat_l2: jax.Array
    y_hat_l2: jax.Array
    value_loss: jax.Array
    grad_norm: jax.Array  # of the mean meta-gradient, before clipping
    replaced: jax.Array  # agents replaced after this step
    nan_count: jax.Array  # agents whose meta-loss or gradient was not finite
    agent_return: jax.Array  # (A,) each agent's mean episode return over its K updates
    scored: jax.Array  # levels scored after this step (their agents' lifetimes ended)
    score_sum: jax.Array  # the sum of their scores


def meta_optimizer(mg: MetaGradientConfig) -> optax.GradientTransformation:
    """Adam at ``mg.lr`` on the mean meta-gradient clipped to global norm ``mg.max_grad_norm``; 0: unclipped
    (the reference's meta-Adam, whose optimizer ignores its max_grad_norm)."""
    clip = optax.clip_by_global_norm(mg.max_grad_norm) if mg.max_grad_norm > 0 else optax.identity()
    return optax.chain(clip, optax.adam(mg.lr))


class MetaGradientTrainer(MetaContext):
    """The meta-gradient regime (``regime: meta_gradient``); ``generation`` runs a chunk of meta-steps."""

    name: ClassVar[str] = "meta_gradient"
    owns: ClassVar[tuple[str, ...]] = ("meta_gradient",)
    whole_lifetimes = False  # agents persist across meta-steps; a lifetime ends when it ends

    @classmethod
    def check_config(cls, config: MetaConfig) -> None:
        """One task whose agent the rule does not bring, and a curriculum that hands out levels one at a time."""
        agent = getattr(OBJECTIVES.get(config.rule.name), "agent", None)
        if agent is not None:
            raise ValueError(
                f"regime=meta_gradient with rule {config.rule.name!r}, which brings its own agent ({agent!r}); "
                "allowed: regime=es, or a rule the PPO/A2C agent trains (meta-gradients flow through its updates)"
            )
        if len(config.tasks) != 1:
            raise ValueError(
                f"regime=meta_gradient with {len(config.tasks)} tasks; allowed: exactly one task (its agents persist "
                "across meta-steps; put other envs in held_out_tasks)"
            )
        c, agents = config.curriculum, config.meta_gradient.num_agents
        if c is not None and c.kind not in MG_CURRICULA:
            raise ValueError(
                f"regime=meta_gradient with curriculum.kind={c.kind!r}; allowed: no curriculum or "
                f"{' | '.join(MG_CURRICULA)} (kinds that give replaced agents levels one agent at a time)"
            )
        if c is not None and c.kind == "groove" and c.levels_per_generation != agents:
            raise ValueError(
                f"curriculum.levels_per_generation={c.levels_per_generation} is invalid with regime=meta_gradient "
                f"and kind='groove'; allowed: meta_gradient.num_agents = {agents} (each agent holds one "
                "level of the buffer)"
            )

    @staticmethod
    def shrink(d: dict[str, Any], population: int) -> None:
        """A config dict's meta-gradient settings at a tiny size (``metalearn.meta.shrink``): 2 agents (the ES
        ``population`` does not apply), 2 updates per meta-step, one meta-step; a ``groove`` buffer's level
        per agent."""
        d["meta_gradient"] = {
            **d.get("meta_gradient", {}),
            "num_agents": 2,
            "updates_per_step": 2,
            "steps_per_generation": 1,
            "agent_batches": 1,
        }
        if d.get("curriculum") is not None and d["curriculum"].get("kind", CurriculumConfig.kind) == "groove":
            d["curriculum"]["levels_per_generation"] = 2

    def __init__(self, config: MetaConfig, devices: list | None = None):
        self.mg = config.meta_gradient
        self.meta_optimizer = meta_optimizer(self.mg)
        super().__init__(config, devices)
        self.task = self.tasks[0].trainer
        self._check_curriculum()
        # The value critic learns as the agent's own would: Adam at the task's learning rate.
        self.critic_optimizer = optax.adam(self.task.config.lr, eps=self.task.config.adam_eps)
        self.generation = jax.jit(self._generation, out_shardings=self._replicated)
        self.init = jax.jit(self._init, out_shardings=self._replicated)
        self.meta_step = jax.jit(self._meta_step)
        self.advance = jax.jit(self._advance)

    def _train_config(self, config: TrainConfig) -> TrainConfig:
        # A meta-gradient passes through the agents' Adam: sqrt'(0) is infinite where a gradient is exactly 0.
        return config.replace(adam_eps_root=self.mg.adam_eps_root) if config.adam_eps_root == 0 else config

    def env_steps_per_generation(self) -> int:
        """Environment steps a generation simulates: each agent's K updates and its fresh rollout per meta-step
        (antagonists trained when lifetimes end, and evaluation rollouts, not counted)."""
        mg, config = self.mg, self.task.config
        return mg.num_agents * mg.steps_per_generation * (mg.updates_per_step + 1) * config.batch_size

    def describe(self) -> str:
        mg = self.mg
        return f"{mg.num_agents} persistent agents x {mg.steps_per_generation} meta-steps of K = {mg.updates_per_step}"

    def search_label(self) -> str:
        return "meta-gradients"

    def smaller(self) -> str:
        return "fewer meta_gradient.num_agents, more meta_gradient.agent_batches, a smaller eval_seeds or num_envs"

    # ------------------------------------------------------------------ state
    def _check_curriculum(self) -> None:
        """The persistent regime scores a level when its agent's lifetime ends, from that agent alone."""
        c = self.config.curriculum
        if c is None:
            return
        if c.score not in MG_SCORES and self.curriculum.remembers_scores:
            raise ValueError(
                f"curriculum.score={c.score!r} is invalid with regime=meta_gradient and kind={c.kind!r}; allowed: "
                f"{' | '.join(MG_SCORES)} (scores of one agent at the end of its lifetime)"
            )

    def _new_levels(self, key: jax.Array, levels_state: Any) -> tuple[LevelBatch, Any]:
        """Levels (leaves (A, ...)) for A new agents: the curriculum's, or the task's own level for every agent."""
        n = self.mg.num_agents
        if self.curriculum is not None:
            return self.curriculum.next_levels(key, levels_state, n)
        level = self.task.base_env.default_params
        levels = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), level)
        return LevelBatch(levels, -jnp.ones((n,), jnp.int32), jnp.zeros((n,), bool)), levels_state

    def _new_agents(self, meta_params: Any, key: jax.Array, batch: LevelBatch) -> Agents:
        """Fresh agents and critics on ``batch``'s levels (leaves (A, ...))."""
        dummy = jnp.zeros((self.task.spec.obs_dim,), jnp.float32)

        def one(k: jax.Array, level: Any, index: jax.Array) -> Agents:
            k_agent, k_critic = jax.random.split(k)
            runner = self.task.init(meta_params, k_agent, level)
            critic = self.task.critic.init(k_critic, dummy)
            return Agents(runner, level, critic, self.critic_optimizer.init(critic), index)

        return jax.vmap(one)(jax.random.split(key, self.mg.num_agents), batch.levels, batch.indices)

    def _init(self) -> PersistentState:
        key = jax.random.PRNGKey(self.config.seed)
        key, k_levels, k_agents = jax.random.split(key, 3)
        levels_state = () if self.curriculum is None else self.curriculum.init(self._curriculum_key())
        batch, levels_state = self._new_levels(k_levels, levels_state)
        state = PersistentState(
            meta_params=self.initial_mean,
            opt_state=self.meta_optimizer.init(self.initial_mean),
            agents=self._new_agents(self.initial_mean, k_agents, batch),
            key=key,
            generation=jnp.zeros((), jnp.int32),
            best_fitness=jnp.asarray(-jnp.inf, jnp.float32),
            best_params=self.initial_mean,
            levels=levels_state,
        )
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), state)

    def mean_params(self, state: PersistentState) -> Any:
        return state.meta_params

    # -------------------------------------------------------------- meta-loss
    def _regularisers(self, params: Any, rollout: Rollout) -> jax.Array:
        """(4,) H[π], H[y], mean π̂², mean Σŷ² of the agent ``params`` just updated on ``rollout``."""
        dist, prediction, _ = self.task.actor.apply(params["actor"], rollout.traj.obs)
        zero = jnp.zeros((), jnp.float32)
        target_entropy = zero if prediction is None else Categorical(prediction).entropy().mean()
        targets = rollout.rule_targets if isinstance(rollout.rule_targets, dict) else {}
        pi_l2 = jnp.mean(targets["pi_hat"] ** 2) if "pi_hat" in targets else zero
        y_l2 = jnp.mean(jnp.sum(targets["y_hat"] ** 2, axis=-1)) if "y_hat" in targets else zero
        return jnp.stack([dist.entropy().mean(), target_entropy, pi_l2, y_l2])

    def _critic_step(self, carry: tuple[Any, Any], xs: tuple[Transition, jax.Array]):
        """One Adam step of the value critic on a rollout (none with ``freeze_critic``); returns its value loss
        and GAE advantages before the step."""
        critic, opt_state = carry
        traj, last_obs = xs
        cfg = self.task.config

        def loss(c):
            value, _ = self.task.critic.apply(c, traj.obs)
            last_value, _ = self.task.critic.apply(c, last_obs)
            advantages, returns = gae(
                traj.reward, jax.lax.stop_gradient(value), traj.done, last_value, cfg.gamma, cfg.gae_lambda
            )
            return 0.5 * jnp.mean((value - jax.lax.stop_gradient(returns)) ** 2), jax.lax.stop_gradient(advantages)

        (value_loss, advantages), grads = jax.value_and_grad(loss, has_aux=True)(critic)
        if self.mg.freeze_critic:
            return carry, (value_loss, advantages)
        updates, opt_state = self.critic_optimizer.update(grads, opt_state, critic)
        return (optax.apply_updates(critic, updates), opt_state), (value_loss, advantages)

    def agent_meta_loss(self, meta_params: Any, agent: Agents) -> tuple[jax.Array, tuple]:
        """One agent's regularised meta-loss after K updates with ``meta_params``, and the agent after them.

        Every random choice comes from the agent's own key stream (its ``RunnerState.rng``).
        """
        mg, task = self.mg, self.task

        def k_update(runner, _):
            runner, metrics, rollout = task.update_with_rollout(meta_params, runner, agent.level)
            return runner, (rollout.traj, metrics.episode_return, self._regularisers(runner.params, rollout))

        runner, (trajs, returns, regs) = jax.lax.scan(k_update, agent.runner, None, mg.updates_per_step)
        runner, fresh = task.rollout(runner.params, runner, agent.level)

        # The critic learns from the K rollouts, then scores the fresh one (GAE bootstraps from the next obs).
        rollouts = jax.tree.map(lambda k, f: jnp.concatenate([k, f[None]]), trajs, fresh)
        last_obs = jnp.concatenate([rollouts.obs[1:, 0], runner.obs[None]])
        (critic, critic_opt), (value_loss, advantages) = jax.lax.scan(
            self._critic_step, (agent.critic, agent.critic_opt), (rollouts, last_obs)
        )
        adv = advantages[-1]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        dist, _, _ = task.actor.apply(runner.params["actor"], fresh.obs)
        pg_loss = -jnp.mean(dist.log_prob(fresh.action) * adv)
        policy_entropy, target_entropy, pi_l2, y_l2 = regs.mean(axis=0)
        loss = (
            pg_loss
            - mg.policy_entropy_coef * policy_entropy
            - mg.target_entropy_coef * target_entropy
            + mg.policy_l2_coef * pi_l2
            + mg.target_l2_coef * y_l2
        )
        parts = jnp.stack([pg_loss, policy_entropy, target_entropy, pi_l2, y_l2, value_loss[-1], returns.mean()])
        return loss, (agent._replace(runner=runner, critic=critic, critic_opt=critic_opt), parts)

    # -------------------------------------------------------------- meta-step
    def meta_gradients(self, meta_params: Any, agents: Agents):
        """Per-agent meta-gradients (leaves (A, ...)), losses (A,), agents after their K updates, parts (A, 7)."""
        n, b = self.mg.num_agents, self.mg.agent_batches
        per_agent = jax.vmap(jax.value_and_grad(self.agent_meta_loss, has_aux=True), in_axes=(None, 0))
        if b == 1:
            (loss, (agents, parts)), grads = per_agent(meta_params, agents)
            return grads, loss, agents, parts
        # Chunks of A / b agents one after another: memory for b times fewer agents' backward passes.
        chunked = jax.tree.map(lambda x: x.reshape((b, n // b, *x.shape[1:])), agents)
        (loss, (agents, parts)), grads = jax.lax.map(lambda a: per_agent(meta_params, a), chunked)
        return jax.tree.map(lambda x: x.reshape((n, *x.shape[2:])), (grads, loss, agents, parts))

    def _lifetime_scores(self, key: jax.Array, agents: Agents, scored: jax.Array) -> jax.Array:
        """(A,) the curriculum's score of each agent's level from that agent at the end of its lifetime (NaN
        where not ``scored``): its final policy evaluated by rollouts, and the antagonist where the score
        needs one (trained on every agent's level; the ones not scored are masked)."""
        k_eval, k_score = jax.random.split(key)
        runner = agents.runner
        eval_return = jax.vmap(self.task.evaluate)(
            runner.params, runner.env_state, jax.random.split(k_eval, self.mg.num_agents), agents.level
        )
        inputs = ScoreInputs(
            key=k_score,
            levels=agents.level,
            level_stats={"eval_return": eval_return[None]},  # (M = 1 agent, L = A levels)
            healthy=scored[None],
            antagonist_return=self._antagonist_return if self.antagonist is not None else None,
        )
        return jnp.where(scored, self.level_score.fn(inputs), jnp.nan)

    def _replace_finished(
        self, state: PersistentState, agents: Agents, broken: jax.Array, meta_params: Any
    ) -> tuple[PersistentState, jax.Array, jax.Array]:
        """``state`` with ``agents`` in it, those at the end of their lifetime (or ``broken``, (A,)) replaced
        by new agents with new critics on new levels; the (A,) mask of replaced agents, and the (A,) scores
        of their levels (NaN where none: not replaced, broken, or no scoring curriculum)."""
        key, k_levels, k_agents = jax.random.split(state.key, 3)
        ended = agents.runner.update_idx >= agents.runner.lifetime
        done = ended | broken | agents.runner.diverged
        nan = jnp.full(done.shape, jnp.nan, jnp.float32)
        scoring = self.curriculum is not None and self.curriculum.remembers_scores

        def replace(agents: Agents) -> tuple[Agents, Any, jax.Array]:
            if self.curriculum is None:
                batch, levels_state = self._new_levels(k_levels, state.levels)
                scores = nan
            else:
                # A lifetime cut short (a broken agent) gives its level no score; it is freed all the same.
                fair = ended & ~broken & ~agents.runner.diverged
                scores = self._lifetime_scores(jax.random.fold_in(k_levels, 1), agents, fair) if scoring else nan
                current = LevelBatch(agents.level, agents.level_index, jnp.zeros(done.shape, bool))
                batch, levels_state = self.curriculum.replace_levels(k_levels, state.levels, current, done, scores)
            fresh = self._new_agents(meta_params, k_agents, batch)
            agents = jax.tree.map(lambda new, old: jnp.where(_bcast(done, old), new, old), fresh, agents)
            return agents, levels_state, scores

        # Most meta-steps end no lifetime: skip making new agents then (a third of a step's cost on CPU).
        agents, levels_state, scores = jax.lax.cond(done.any(), replace, lambda a: (a, state.levels, nan), agents)
        return state._replace(agents=agents, key=key, levels=levels_state), done, scores

    def _advance(self, state: PersistentState) -> tuple[PersistentState, jax.Array]:
        """K updates of every agent with the rule held fixed, then the replacements: the regime without its
        meta-update (to use a rule the way it was meta-trained, and to time what the meta-gradient adds).
        Returns the state and each agent's mean episode return over the K updates, (A,)."""
        k = self.mg.updates_per_step
        run = jax.vmap(lambda runner, level: self.task.run(state.meta_params, runner, k, level))
        runner, metrics = run(state.agents.runner, state.agents.level)
        agents = state.agents._replace(runner=runner)
        state, _, _ = self._replace_finished(state, agents, jnp.zeros_like(runner.diverged), state.meta_params)
        return state, metrics.episode_return.mean(-1)

    def _meta_step(self, state: PersistentState) -> tuple[PersistentState, StepMetrics]:
        grads, loss, agents, parts = self.meta_gradients(state.meta_params, state.agents)
        finite = jnp.isfinite(loss) & jax.vmap(lambda g: jnp.all(jnp.isfinite(optax.tree.norm(g))))(grads)
        weight = finite.astype(jnp.float32) / jnp.maximum(finite.sum(), 1)
        grad = jax.tree.map(lambda g: jnp.tensordot(weight, jnp.where(_bcast(finite, g), g, 0.0), axes=1), grads)
        updates, opt_state = self.meta_optimizer.update(grad, state.opt_state, state.meta_params)
        meta_params = optax.apply_updates(state.meta_params, updates)
        state, done, scores = self._replace_finished(state, agents, ~finite, meta_params)

        def mean(x: jax.Array) -> jax.Array:
            return jnp.sum(weight * jnp.where(finite, x, 0.0))

        metrics = StepMetrics(
            meta_loss=mean(loss),
            pg_loss=mean(parts[:, 0]),
            policy_entropy=mean(parts[:, 1]),
            target_entropy=mean(parts[:, 2]),
            pi_hat_l2=mean(parts[:, 3]),
            y_hat_l2=mean(parts[:, 4]),
            value_loss=mean(parts[:, 5]),
            grad_norm=optax.tree.norm(grad),
            replaced=done.sum(),
            nan_count=(~finite).sum(),
            agent_return=parts[:, 6],
            scored=jnp.isfinite(scores).sum(),
            score_sum=jnp.nansum(scores),
        )
        return state._replace(meta_params=meta_params, opt_state=opt_state), metrics

    def _generation(self, state: PersistentState) -> tuple[PersistentState, GenerationMetrics]:
        state, steps = jax.lax.scan(lambda s, _: self._meta_step(s), state, None, self.mg.steps_per_generation)
        fitness = steps.agent_return[-1]  # (A,) at the generation's last meta-step
        healthy = jnp.isfinite(fitness)
        mean_return = jnp.nanmean(jnp.where(healthy, fitness, jnp.nan))
        improved = mean_return > state.best_fitness
        best_params = jax.tree.map(lambda b, p: jnp.where(improved, p, b), state.best_params, state.meta_params)
        state = state._replace(
            generation=state.generation + 1,
            best_fitness=jnp.where(improved, mean_return, state.best_fitness),
            best_params=best_params,
        )
        curriculum = {}
        if self.curriculum is not None:
            scored = steps.scored.sum()
            curriculum = {
                "levels_scored": scored,  # lifetimes that ended this generation, and their levels' mean score
                "scored_mean": jnp.where(scored > 0, steps.score_sum.sum() / jnp.maximum(scored, 1), jnp.nan),
                **self.curriculum.metrics(state.levels),
            }
        metrics = GenerationMetrics(
            generation=state.generation,
            best_fitness=jnp.nanmax(jnp.where(healthy, fitness, jnp.nan)),
            mean_fitness=mean_return,
            median_fitness=jnp.nanmedian(jnp.where(healthy, fitness, jnp.nan)),
            nan_count=steps.nan_count.sum(),
            task_fitness=mean_return[None],
            fitness=fitness,
            search={
                "meta_gradient": {
                    **{f: getattr(steps, f).mean() for f in StepMetrics._fields if f not in _NOT_AVERAGED},
                    "replaced": steps.replaced.sum(),
                }
            },
            curriculum=curriculum,
        )
        return state, metrics


# Step metrics not averaged over a generation's steps: the counts are summed, and each agent's return is the
# generation's fitness of that agent.
_NOT_AVERAGED = ("agent_return", "replaced", "scored", "score_sum")
# Scores the persistent regime computes from one agent at the end of its lifetime.
MG_SCORES = ("alg_regret", "random")


def _bcast(mask: jax.Array, x: jax.Array) -> jax.Array:
    """(A,) ``mask`` shaped to broadcast against ``x`` (A, ...)."""
    return mask.reshape(mask.shape + (1,) * (x.ndim - 1))
