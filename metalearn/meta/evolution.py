"""The ES regime (``regime: es``): one jitted generation of ask → evaluate → tell.

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
from typing import Any, ClassVar, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metalearn.curriculum.base import LevelBatch
from metalearn.curriculum.scores import ScoreInputs
from metalearn.es import antithetic_strategies, make_strategy, pair_winner_fitness
from metalearn.inner import Trainer, TrainResult
from metalearn.meta.config import MetaConfig
from metalearn.meta.context import MetaContext, Task, level_key, statistic
from metalearn.meta.regime import GenerationMetrics

# Fields of MetaConfig only this regime reads, and their defaults (other regimes must leave them there).
ES_FIELDS = ("strategy", "task_sampling", "fitness_shaping")


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


def _level_stats(result: TrainResult, fitness: str, window: int) -> dict[str, jax.Array]:
    """Per-agent statistics a level score may read (leaves shaped like ``result.final_return``)."""

    def final(x: jax.Array) -> jax.Array:
        return x[..., -window:].mean(-1)

    m = result.metrics
    return {
        "return": statistic(result, fitness),
        "eval_return": result.eval_return,
        "value_loss": final(m.value_loss),
        "positive_value_loss": final(m.positive_value_loss),
        "l1_value_loss": final(m.l1_value_loss),
    }


class ESTrainer(MetaContext):
    """The ES regime, built once from a :class:`MetaConfig`; ``generation`` and ``evaluate_rule`` are jitted."""

    name: ClassVar[str] = "es"
    owns: ClassVar[tuple[str, ...]] = ES_FIELDS

    @classmethod
    def check_config(cls, config: MetaConfig) -> None:
        """The antithetic-pair options' own constraints (the strategy's pairs are checked when it is built)."""
        n = config.strategy.population_size
        levels = None if config.curriculum is None else config.curriculum.levels_per_generation
        if config.task_sampling == "antithetic" and levels is not None and levels != n // 2:
            raise ValueError(
                f"task_sampling='antithetic' trains each antithetic pair on its own level: "
                f"curriculum.levels_per_generation={levels} must be strategy.population_size/2 = {n // 2}"
            )
        shaping = config.strategy.fitness_shaping
        if config.fitness_shaping == "pair_winner" and shaping not in (None, "none"):
            raise ValueError(
                f"fitness_shaping='pair_winner' tells the strategy 1/0 per pair, unshaped: "
                f"strategy.fitness_shaping={shaping!r} is invalid with it; allowed: none (or null)"
            )

    @staticmethod
    def shrink(d: dict[str, Any], population: int) -> None:
        """A config dict's ES settings at a tiny size (``metalearn.meta.shrink``): ``population`` members, and
        one level per antithetic pair with antithetic task sampling."""
        d["strategy"] = {**d.get("strategy", {}), "population_size": population}
        if d.get("curriculum") is not None and d.get("task_sampling") == "antithetic":
            d["curriculum"]["levels_per_generation"] = population // 2

    def __init__(self, config: MetaConfig, devices: list | None = None):
        super().__init__(config, devices)
        strategy_config = config.strategy
        if config.fitness_shaping == "pair_winner":
            # The strategy uses the 1/0 values as told (MetaConfig allows only none or null here).
            strategy_config = dataclasses.replace(strategy_config, fitness_shaping="none")
        self.strategy = make_strategy(strategy_config, self.initial_mean)
        self.pairs = self._antithetic_pairs()  # (N/2, 2), or None when neither pair option is set
        n = config.strategy.population_size
        if n % len(self.devices):
            raise ValueError(
                f"strategy.population_size={n} must be a multiple of the number of devices ({len(self.devices)}) "
                "so the population can be sharded"
            )
        self.generation = jax.jit(self._generation, out_shardings=self._replicated)
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

    def describe(self) -> str:
        return f"{self.config.strategy.population_size} members x {self.config.seeds_per_member} seed(s)"

    def search_label(self) -> str:
        return self.config.strategy.name

    def smaller(self) -> str:
        return "a smaller strategy.population_size, seeds_per_member, eval_seeds or num_envs"

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

    def mean_params(self, state: MetaState) -> Any:
        """The search distribution's centre (for population-based strategies, the best member)."""
        return self.strategy.mean(state.es_state)

    # ------------------------------------------------------------- evaluate
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

    def _train_members(self, task: Task, t: int, population: Any, key: jax.Array, levels: Any) -> TrainResult:
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
        """As :meth:`MetaContext._hand_designed`; with antithetic task sampling level p gets pair p's seeds."""
        if self.config.task_sampling == "shared":
            return super()._hand_designed(trainer, key, levels)
        seeds = pair_seeds(key, 0, len(self.pairs), self.config.seeds_per_member)  # level p: pair p's seeds
        train = jax.vmap(jax.vmap(trainer.train, in_axes=(None, 0, None)), in_axes=(None, 0, 0))  # (levels, pairs)
        return train(None, seeds, levels)

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

    def _generation(self, state: MetaState) -> tuple[MetaState, GenerationMetrics]:
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
        curriculum = {}
        if batch is not None:
            level_scores = self.level_scores(k_eval, batch.levels, evaluation, healthy)
            levels_state = self.curriculum.record(levels_state, batch, level_scores)
            curriculum = self._curriculum_metrics(batch, level_scores, evaluation, healthy, levels_state)
        metrics = GenerationMetrics(
            generation=state.generation + 1,
            best_fitness=jnp.nanmax(masked),
            mean_fitness=jnp.nanmean(masked),
            median_fitness=jnp.nanmedian(masked),
            nan_count=jnp.sum(~healthy),
            task_fitness=jnp.nanmean(jnp.where(healthy, per_task, jnp.nan), axis=1),
            fitness=raw,
            search={"sigma": es_metrics["sigma"]},
            curriculum=curriculum,
        )
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
