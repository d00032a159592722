"""The meta-training engine: one jitted generation of ask → evaluate → tell.

Evaluation trains every member of the population on every task and seed with
the inner trainer (``vmap`` over members × seeds, tasks one after another in
the same jitted program). The population axis is sharded over all devices of
a ``jax.sharding.Mesh`` — across processes too after
``jax.distributed.initialize`` — and everything else is replicated, so each
process ends a generation with the same state. A member whose training
diverged, or whose fitness is not finite, gets a fitness below every healthy
member's, so the update never sees a NaN.

With a ``curriculum`` the one task runs on levels of its env's level family
chosen per generation (``levels_per_generation`` of them, every member on all
of them) by a :class:`~metalearn.curriculum.base.Curriculum` (``dr``: fresh
random levels; ``groove``: GROOVE's own buffer), and each level gets a score from
:data:`~metalearn.curriculum.scores.LEVEL_SCORES` after the evaluation. The
curriculum's state is part of :class:`MetaState`, so it is checkpointed and a
resumed run continues exactly.

ES as GROOVE/TA-LPG run it (``MetaConfig.task_sampling="antithetic"``,
``fitness_shaping="pair_winner"``) works on the strategy's antithetic pairs
(``Strategy.antithetic_pairs``): with antithetic task sampling each pair has
its own seeds and, with a curriculum, its own level (N/2 levels a generation),
both shared by its two members; with pair-winner shaping the strategy is told
1 for the fitter member of each pair and 0 for the other.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from metalearn.curriculum.base import LevelBatch, random_levels
from metalearn.curriculum.registry import make_curriculum
from metalearn.curriculum.scores import LEVEL_SCORES, ScoreInputs
from metalearn.envs import level_family, make_env
from metalearn.es import antithetic_strategies, make_strategy, pair_winner_fitness
from metalearn.inner import TrainConfig, Trainer, TrainResult, make_trainer
from metalearn.meta.config import MetaConfig, TaskConfig
from metalearn.rules import load_rule, make_rule, published_rule

# Keys of streams that must not overlap the search's own are folded with this (a prime far above any index).
_SEPARATE_STREAM = 1_000_003


def level_key(key: jax.Array) -> jax.Array:
    """The levels' stream of ``key``: a generation's curriculum key from its evaluation key, and the random levels
    a curriculum task is evaluated on from the evaluation's key (a separate stream, so runs without a curriculum
    draw exactly what they drew before curricula existed)."""
    return jax.random.fold_in(key, _SEPARATE_STREAM)


def pair_seeds(key: jax.Array, t: int, num_pairs: int, n: int) -> jax.Array:
    """(num_pairs, n, 2) inner seeds of task ``t`` under antithetic task sampling: pair p's own ``n``.

    Both members of pair p train on them (and, on the pair's level, the regret baseline).
    """
    task_key = jax.random.fold_in(key, t)
    return jax.vmap(lambda p: jax.random.split(jax.random.fold_in(task_key, p), n))(jnp.arange(num_pairs))


def pair_of_member(pairs: np.ndarray) -> np.ndarray:
    """(N,) the index of each member's pair, from ``pairs`` (N/2, 2) member indices."""
    index = np.empty(pairs.size, np.int32)
    index[pairs] = np.arange(len(pairs), dtype=np.int32)[:, None]
    return index


def eval_key(seed: int, generation: int) -> jax.Array:
    """Held-out evaluation key of a run with ``seed`` at ``generation``: apart from the search's own stream."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + _SEPARATE_STREAM), generation)


class MetaState(NamedTuple):
    es_state: Any
    key: jax.Array
    generation: jax.Array  # () int32, generations done
    best_fitness: jax.Array  # () best healthy member fitness so far (−inf before any)
    best_params: Any  # that member's meta-parameters
    levels: Any = ()  # the curriculum's state (a buffer kind: its buffer); () for none


class Evaluation(NamedTuple):
    """A population's evaluation; N members, T tasks, L curriculum levels.

    fitness: (N,) mean over tasks; diverged: (N,) bool; per_task: (T, N).
    level_stats: name -> (M, L) statistics of the M members trained on each
      curriculum level, averaged over seeds (``ScoreInputs.level_stats`` lists
      them): M = N, every member (shared task sampling), or M = 2, the level's
      pair in ``antithetic_pairs`` order (antithetic); empty without a curriculum.
    """

    fitness: jax.Array
    diverged: jax.Array
    per_task: jax.Array
    level_stats: dict[str, jax.Array]


class _Task(NamedTuple):
    name: str
    trainer: Trainer
    reference: float | None


def _level_stats(result: TrainResult, fitness: str, window: int) -> dict[str, jax.Array]:
    """Per-agent statistics a level score may read (leaves shaped like ``result.final_return``)."""

    def final(x: jax.Array) -> jax.Array:
        return x[..., -window:].mean(-1)

    m = result.metrics
    return {
        "return": _statistic(result, fitness),
        "eval_return": result.eval_return,
        "value_loss": final(m.value_loss),
        "positive_value_loss": final(m.positive_value_loss),
        "l1_value_loss": final(m.l1_value_loss),
    }


def _statistic(result: TrainResult, name: str) -> jax.Array:
    if name == "final_return":
        return result.final_return
    if name == "eval_return":
        return result.eval_return
    return result.curve.mean(-1)  # mean_return: area under the learning curve


class MetaTrainer:
    """Built once from a :class:`MetaConfig`; ``generation`` and ``evaluate_rule`` are jitted."""

    def __init__(self, config: MetaConfig, devices: list | None = None):
        self.config = config
        self.rule = make_rule(config.rule.name, **config.rule.kwargs)
        self.initial_mean = self._initial_mean()
        strategy_config = config.strategy
        if config.fitness_shaping == "pair_winner":
            # The strategy uses the 1/0 values as told (MetaConfig allows only none or null here).
            strategy_config = dataclasses.replace(strategy_config, fitness_shaping="none")
        self.strategy = make_strategy(strategy_config, self.initial_mean)
        self.pairs = self._antithetic_pairs()  # (N/2, 2), or None when neither pair option is set
        self.curriculum = self.level_score = self.baseline = self.antagonist = None
        if config.curriculum is not None:
            # A curriculum's one task draws its levels from its env's level family.
            family = self._level_family(config.tasks[0])
            self.curriculum = make_curriculum(config.curriculum, family)
            self.level_score = LEVEL_SCORES[config.curriculum.score]
        self.tasks = [self._task(t, self.curriculum is not None) for t in config.tasks]
        if self.level_score is not None:
            self._check_level_score()
            if self.level_score.needs_baseline:
                self.baseline = self._baseline()
            if self.level_score.needs_antagonist:
                self.antagonist = self._antagonist()
        self.held_out = [self._task(t) for t in config.held_out_tasks]
        devices = jax.devices() if devices is None else devices
        n = config.strategy.population_size
        if n % len(devices):
            raise ValueError(
                f"strategy.population_size={n} must be a multiple of the number of devices ({len(devices)}) "
                "so the population can be sharded"
            )
        self.mesh = Mesh(np.asarray(devices), ("pop",))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._sharded = NamedSharding(self.mesh, PartitionSpec("pop"))
        self.generation = jax.jit(self._generation, out_shardings=self._replicated)
        self.evaluate_rule = jax.jit(self._evaluate_rule, out_shardings=self._replicated)
        self.init = jax.jit(self._init, out_shardings=self._replicated)

    def _antithetic_pairs(self) -> np.ndarray | None:
        """The strategy's antithetic pairs (N/2, 2) if ``task_sampling`` or ``fitness_shaping`` uses them, else None."""
        c = self.config
        uses = []
        if c.task_sampling == "antithetic":
            uses.append("task_sampling='antithetic'")
        if c.fitness_shaping == "pair_winner":
            uses.append("fitness_shaping='pair_winner'")
        if not uses:
            return None
        pairs = self.strategy.antithetic_pairs()
        if pairs is None:
            flag = c.strategy.antithetic
            how = "" if flag is None else f" with strategy.antithetic: {str(flag).lower()}"
            raise ValueError(
                f"{' and '.join(uses)} needs a strategy that samples antithetic pairs; strategy.name="
                f"{c.strategy.name!r}{how} does not; allowed: {', '.join(antithetic_strategies())}"
            )
        if c.fitness_shaping == "pair_winner" and getattr(self.strategy, "ranks_fitness", False):
            others = [n for n in antithetic_strategies() if n.split()[0] != self.strategy.name]
            raise ValueError(
                f"fitness_shaping='pair_winner' needs a strategy whose update uses the 1/0 values as told; "
                f"{self.strategy.name} ranks fitness in its own update; allowed: {', '.join(others)}"
            )
        return pairs

    def _initial_mean(self) -> Any:
        """The search's starting meta-parameters: ``rule.init`` at the run's seed, or ``rule.start``'s."""
        start = self.config.rule.start
        template = self.rule.init(jax.random.PRNGKey(self.config.seed))
        if start is None:
            return template
        if start.startswith("published:"):
            rule, meta_params = published_rule(start.removeprefix("published:"))
        else:
            rule, meta_params, _ = load_rule(start)
        same = rule.name == self.rule.name and jax.tree.structure(meta_params) == jax.tree.structure(template)
        shapes = [np.shape(x) for x in jax.tree.leaves(meta_params)] == [np.shape(x) for x in jax.tree.leaves(template)]
        if not (same and shapes):
            raise ValueError(
                f"rule.start={start!r} holds meta-parameters of rule {rule.name!r} {dict(rule.kwargs)}, which do not "
                f"fit rule.name={self.rule.name!r} {dict(self.rule.kwargs)}; allowed: a start of the same rule"
            )
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), meta_params)

    def _level_family(self, task: TaskConfig) -> Any:
        env_name, _, _ = task.resolve()
        try:
            return level_family(env_name, self.config.curriculum.distribution)
        except ValueError as err:
            raise ValueError(f"curriculum: task {task.name}: {err}") from None

    def _task(self, task: TaskConfig, curriculum: bool = False) -> _Task:
        env_name, env_kwargs, train_config = task.resolve()
        train_config = self._train_config(train_config)
        if curriculum:
            # The env's padded sizes are the level family's; its levels come from the curriculum.
            env_kwargs = {**env_kwargs, "level": self.curriculum.family.template}
        env = make_env(env_name, **env_kwargs)
        trainer = make_trainer(env, train_config, optimizer=self.rule.optimizer, objective=self.rule.objective)
        if train_config.level_lifetime:
            longest = self._longest_lifetime(env, curriculum)
            if self.config.regime == "es" and train_config.num_updates < longest:
                raise ValueError(
                    f"task {task.name}: train.level_lifetime=true with {train_config.num_updates} updates, but its "
                    f"levels live up to {longest} updates; allowed: total_timesteps >= "
                    f"{longest * train_config.batch_size} (the longest lifetime x num_envs x num_steps)"
                )
        return _Task(task.name, trainer, task.reference_return)

    def _longest_lifetime(self, env: Any, curriculum: bool) -> int:
        """The longest lifetime (updates) of the levels an agent of ``env`` trains on: its curriculum family's,
        else its own level's."""
        return self.curriculum.family.max_lifetime if curriculum else int(env.default_params.lifetime)

    def _train_config(self, config: TrainConfig) -> TrainConfig:
        """A task's inner config as this regime runs it (ES: as given)."""
        return config

    def _baseline(self) -> Trainer:
        """The hand-designed agent whose return on a level regret is measured against."""
        return Trainer(self.tasks[0].trainer.base_env, self.config.curriculum.baseline_config())

    def _antagonist(self) -> Trainer:
        """GROOVE's antagonist: the baseline agent trained for the level family's longest lifetime."""
        config = self.config.curriculum.baseline_config()
        lifetime = self.curriculum.family.max_lifetime
        config = config.replace(total_timesteps=lifetime * config.batch_size, level_lifetime=False)
        return Trainer(self.tasks[0].trainer.base_env, config)

    def _check_level_score(self) -> None:
        """Fails now on a score that reads what this run does not produce."""
        c, task = self.config.curriculum, self.tasks[0].trainer.config
        if self.level_score.needs_critic and task.vf_coef <= 0:
            raise ValueError(
                f"curriculum.score={c.score!r} reads the agents' critic, which train.vf_coef={task.vf_coef} leaves "
                "untrained; allowed: train.vf_coef > 0 in the curriculum task (the actor's updates do not change: "
                "actor and critic are separate networks, clipped and optimised separately)"
            )
        if self.level_score.needs_antagonist:
            for who, eval_envs in (("the task's", task.eval_envs), ("the baseline's", c.baseline_config().eval_envs)):
                if eval_envs < 1:
                    raise ValueError(
                        f"curriculum.score={c.score!r} evaluates agents by rollouts, but {who} eval_envs=0; "
                        "allowed: eval_envs >= 1"
                    )

    @property
    def horizon(self) -> int:
        """Inner updates of the (first) task's agents: the horizon a temporally-aware rule is meta-trained at.

        With ``level_lifetime`` agents live as long as their levels say; this is the longest of them.
        """
        trainer = self.tasks[0].trainer
        if trainer.config.level_lifetime:
            return self._longest_lifetime(trainer.base_env, self.curriculum is not None)
        return trainer.config.num_updates

    def env_steps_per_generation(self) -> int:
        """Environment steps a generation simulates: every member's inner trainings on every task (and level),
        and the curriculum's hand-designed agents (evaluation rollouts not counted)."""
        c, n, s = self.config, self.config.strategy.population_size, self.config.seeds_per_member
        levels = 1 if self.curriculum is None else c.curriculum.levels_per_generation
        members = n * s * (levels if c.task_sampling == "shared" else 1)
        steps = sum(members * t.trainer.config.num_updates * t.trainer.config.batch_size for t in self.tasks)
        for agent in (self.baseline, self.antagonist):
            if agent is not None:
                steps += levels * s * agent.config.num_updates * agent.config.batch_size
        return steps

    def replicate(self, tree: Any) -> Any:
        """``tree`` placed as a generation's state is: replicated on every device of the mesh."""
        return jax.device_put(tree, self._replicated)

    # ------------------------------------------------------------------ state
    def _init(self) -> MetaState:
        key = jax.random.PRNGKey(self.config.seed)
        key, k_init = jax.random.split(key)
        state = MetaState(
            es_state=self.strategy.init(k_init, self.initial_mean),
            key=key,
            generation=jnp.zeros((), jnp.int32),
            best_fitness=jnp.asarray(-jnp.inf, jnp.float32),
            best_params=self.initial_mean,
            levels=() if self.curriculum is None else self.curriculum.init(self._curriculum_key()),
        )
        # Strong types everywhere, as a generation returns them: otherwise the second
        # generation would compile again (evosax initialises some leaves weakly typed).
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), state)

    def _curriculum_key(self) -> jax.Array:
        # folded off the seed, apart from the main key chain: runs without a random curriculum state keep theirs
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 0xC0C0)

    def mean_params(self, state: MetaState) -> Any:
        """The search distribution's centre (for population-based strategies, the best member)."""
        return self.strategy.mean(state.es_state)

    # ------------------------------------------------------------- evaluate
    def _fitness(self, task: _Task, results: TrainResult) -> jax.Array:
        stat = _statistic(results, self.config.fitness)
        return stat / task.reference if task.reference else stat

    @staticmethod
    def _task_seeds(key: jax.Array, t: int, n: int) -> jax.Array:
        """(n, 2) inner-training seeds of task ``t``, shared by every member (and the regret baseline)."""
        return jax.random.split(jax.random.fold_in(key, t), n)

    def evaluate_population(self, population: Any, key: jax.Array, levels: Any = None) -> Evaluation:
        """Trains every member on every task and its seeds; with a curriculum, on its level(s) too.

        ``levels``: the curriculum task's levels, leaves (L, ...), or None.
        """
        population = jax.lax.with_sharding_constraint(population, self._sharded)
        n = jax.tree.leaves(population)[0].shape[0]
        per_task, diverged, level_stats = [], None, {}
        if levels is not None:
            chex.assert_tree_shape_prefix(levels, (self.config.curriculum.levels_per_generation,))
        for t, task in enumerate(self.tasks):
            results = self._train_members(task, t, population, key, levels)  # (N, [L,] S, ...)
            stat = self._fitness(task, results)
            per_task.append(stat.reshape(n, -1).mean(axis=1))
            bad = results.diverged.reshape(n, -1).any(axis=1)
            diverged = bad if diverged is None else diverged | bad
            if levels is not None:  # the curriculum's one task (MetaConfig allows no other)
                stats = _level_stats(results, self.config.fitness, task.trainer.config.final_window)
                level_stats = {k: self._per_level(v.mean(axis=-1)) for k, v in stats.items()}
        per_task = jnp.stack(per_task)
        return Evaluation(per_task.mean(axis=0), diverged, per_task, level_stats)

    def _train_members(self, task: _Task, t: int, population: Any, key: jax.Array, levels: Any) -> TrainResult:
        """Every member trained on task ``t`` (results' leaves lead with the axes below).

        Shared task sampling: every member on the same S seeds and on each of
        the L levels: (N, L, S), or (N, S) without levels. Antithetic: each
        member on its pair's own S seeds and on its pair's level: (N, S).
        """
        s = self.config.seeds_per_member
        train = jax.vmap(task.trainer.train, in_axes=(None, 0, None))  # seeds
        if self.config.task_sampling == "shared":
            seeds = self._task_seeds(key, t, s)
            if levels is not None:
                train = jax.vmap(train, in_axes=(None, None, 0))  # levels
            return jax.vmap(train, in_axes=(0, None, None))(population, seeds, levels)
        pair = pair_of_member(self.pairs)  # (N,)
        seeds = pair_seeds(key, t, len(self.pairs), s)[pair]  # (N, S, 2)
        levels = None if levels is None else jax.tree.map(lambda x: x[pair], levels)  # (N, ...)
        return jax.vmap(train, in_axes=(0, 0, None if levels is None else 0))(population, seeds, levels)

    def _per_level(self, stat: jax.Array) -> jax.Array:
        """(M, L) a statistic of the members trained on each level, from ``_train_members``' (N, L) or (N,)."""
        return stat if self.config.task_sampling == "shared" else stat[self.pairs].T

    def _level_healthy(self, healthy: jax.Array) -> jax.Array:
        """Health of the rows of ``Evaluation.level_return``: (N,) members (shared), (2, L) pairs (antithetic)."""
        return healthy if self.config.task_sampling == "shared" else healthy[self.pairs].T

    # ------------------------------------------------------------ curriculum
    def _hand_designed(self, trainer: Trainer, key: jax.Array, levels: Any) -> TrainResult:
        """``trainer`` (a hand-designed agent) on ``levels`` with the members' seeds there: leaves (L, S, ...)."""
        s = self.config.seeds_per_member
        train = jax.vmap(trainer.train, in_axes=(None, 0, None))  # seeds
        if self.config.task_sampling == "shared":
            seeds = self._task_seeds(key, 0, s)  # the members' seeds on the one task
            train = jax.vmap(train, in_axes=(None, None, 0))  # levels
        else:
            seeds = pair_seeds(key, 0, len(self.pairs), s)  # level p: pair p's seeds
            train = jax.vmap(train, in_axes=(None, 0, 0))  # (levels, pairs) together
        return train(None, seeds, levels)

    def _baseline_return(self, key: jax.Array, levels: Any) -> jax.Array:
        """(L,) the baseline agent's fitness statistic (raw) on ``levels``, with the members' seeds there."""
        return _statistic(self._hand_designed(self.baseline, key, levels), self.config.fitness).mean(axis=-1)

    def _antagonist_return(self, key: jax.Array, levels: Any) -> jax.Array:
        """(L,) the antagonist's evaluation-rollout return on ``levels``, with the members' seeds there."""
        return self._hand_designed(self.antagonist, key, levels).eval_return.mean(axis=-1)

    def level_scores(self, key: jax.Array, levels: Any, evaluation: Evaluation, healthy: jax.Array) -> jax.Array:
        """(L,) the curriculum's score of each level after the population was evaluated on it."""
        inputs = ScoreInputs(
            key=key,
            levels=levels,
            level_stats=evaluation.level_stats,
            healthy=self._level_healthy(healthy),
            baseline_return=self._baseline_return if self.baseline is not None else None,
            antagonist_return=self._antagonist_return if self.antagonist is not None else None,
        )
        return self.level_score.fn(inputs)

    def _generation(self, state: MetaState) -> tuple[MetaState, dict[str, jax.Array]]:
        key, k_ask, k_eval, k_tell = jax.random.split(state.key, 4)
        population, es_state = self.strategy.ask(k_ask, state.es_state)
        batch, levels_state = None, state.levels
        if self.curriculum is not None:
            n = self.config.curriculum.levels_per_generation
            batch, levels_state = self.curriculum.next_levels(level_key(k_eval), state.levels, n)
        evaluation = self.evaluate_population(population, k_eval, None if batch is None else batch.levels)
        raw, diverged, per_task = evaluation.fitness, evaluation.diverged, evaluation.per_task
        healthy = ~diverged & jnp.isfinite(raw)
        lowest = jnp.min(jnp.where(healthy, raw, jnp.inf))
        lowest = jnp.where(jnp.isfinite(lowest), lowest, 0.0)
        fitness = jnp.where(healthy, raw, lowest - 1.0)  # below every healthy member, never NaN
        if self.config.fitness_shaping == "pair_winner":
            fitness = pair_winner_fitness(fitness, healthy, self.pairs)  # the strategy's own shaping is none
        es_state, es_metrics = self.strategy.tell(k_tell, population, fitness, es_state)

        candidate = jnp.where(healthy, raw, -jnp.inf)
        i = jnp.argmax(candidate)
        improved = candidate[i] > state.best_fitness
        best_params = jax.tree.map(lambda old, pop: jnp.where(improved, pop[i], old), state.best_params, population)
        masked = jnp.where(healthy, raw, jnp.nan)
        metrics = {
            "generation": state.generation + 1,
            "best_fitness": jnp.nanmax(masked),
            "mean_fitness": jnp.nanmean(masked),
            "median_fitness": jnp.nanmedian(masked),
            "nan_count": jnp.sum(~healthy),
            "sigma": es_metrics["sigma"],
            "task_fitness": jnp.nanmean(jnp.where(healthy, per_task, jnp.nan), axis=1),
            "fitness": raw,
        }
        if batch is not None:
            level_scores = self.level_scores(k_eval, batch.levels, evaluation, healthy)
            levels_state = self.curriculum.record(levels_state, batch, level_scores)
            metrics["curriculum"] = self._curriculum_metrics(batch, level_scores, evaluation, healthy, levels_state)
        new_state = MetaState(
            es_state=es_state,
            key=key,
            generation=state.generation + 1,
            best_fitness=jnp.maximum(state.best_fitness, candidate[i]),
            best_params=best_params,
            levels=levels_state,
        )
        return new_state, metrics

    def _curriculum_metrics(
        self, batch: LevelBatch, level_scores: jax.Array, evaluation: Evaluation, healthy: jax.Array, levels_state: Any
    ) -> dict[str, jax.Array]:
        """What the curriculum did this generation (for metrics.jsonl and levels.png)."""
        level_healthy = self._level_healthy(healthy)
        level_healthy = level_healthy[:, None] if level_healthy.ndim == 1 else level_healthy  # (M, L) or (M, 1)
        return {
            "batch_score": jnp.nanmean(level_scores),
            "batch_return": jnp.nanmean(jnp.where(level_healthy, evaluation.level_stats["return"], jnp.nan)),
            "replayed": jnp.mean(batch.replayed.astype(jnp.float32)),
            "level_scores": level_scores,  # (L,) each level's score, and whether it was replayed
            "level_replayed": batch.replayed,
            **self.curriculum.family.summary(batch.levels),  # grid_size, objects, walls for GridWorld
            **self.curriculum.metrics(levels_state),  # buffer_size, buffer_score_mean, buffer_score_q for GROOVE
        }

    # ------------------------------------------------------------ eval rule
    def _evaluate_rule(self, meta_params: Any, key: jax.Array) -> dict[str, jax.Array]:
        """Trains ``meta_params`` on ``eval_seeds`` seeds on every task and held-out task.

        A curriculum's task is evaluated on ``eval_seeds`` random levels of its
        distribution (one per seed), not on the curriculum's own levels.

        Returns per task ``(eval_seeds,)`` arrays: ``return`` (the fitness
        statistic, raw), ``fitness`` (normalised as in training) and ``diverged``
        (the seed's training diverged, or its statistic is not finite).
        """
        out = {}
        for t, task in enumerate(self.tasks + self.held_out):
            seeds = self._task_seeds(key, t, self.config.eval_seeds)
            levels = None
            if self.curriculum is not None and t < len(self.tasks):
                # A curriculum task has no level of its own: one fresh random level per seed.
                levels = random_levels(self.curriculum.family, level_key(key), self.config.eval_seeds)
            in_axes = (None, 0, None if levels is None else 0)
            results = jax.vmap(task.trainer.train, in_axes=in_axes)(meta_params, seeds, levels)
            stat = _statistic(results, self.config.fitness)
            out[task.name] = {
                "return": stat,
                "fitness": self._fitness(task, results),
                "diverged": results.diverged | ~jnp.isfinite(stat),
            }
        return out

    def eval_key(self, generation: int) -> jax.Array:
        """Held-out seeds: a key stream separate from the search's own."""
        return eval_key(self.config.seed, generation)
