"""The meta-training engine: one jitted generation of ask → evaluate → tell.

Evaluation trains every member of the population on every task and seed with
the inner trainer (``vmap`` over members × seeds, tasks one after another in
the same jitted program). The population axis is sharded over all devices of
a ``jax.sharding.Mesh`` — across processes too after
``jax.distributed.initialize`` — and everything else is replicated, so each
process ends a generation with the same state. A member whose training
diverged, or whose fitness is not finite, gets a fitness below every healthy
member's, so the update never sees a NaN.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from metalearn.envs import make_env
from metalearn.es import make_strategy
from metalearn.inner import Trainer, TrainResult
from metalearn.meta.config import MetaConfig, TaskConfig
from metalearn.rules import make_rule


class MetaState(NamedTuple):
    es_state: Any
    key: jax.Array
    generation: jax.Array  # () int32, generations done
    best_fitness: jax.Array  # () best healthy member fitness so far (−inf before any)
    best_params: Any  # that member's meta-parameters


class _Task(NamedTuple):
    name: str
    trainer: Trainer
    reference: float | None


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
        self.initial_mean = self.rule.init(jax.random.PRNGKey(config.seed))
        self.strategy = make_strategy(config.strategy, self.initial_mean)
        self.tasks = [self._task(t) for t in config.tasks]
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

    def _task(self, task: TaskConfig) -> _Task:
        env_name, env_kwargs, train_config = task.resolve()
        trainer = Trainer(
            make_env(env_name, **env_kwargs), train_config, optimizer=self.rule.optimizer, objective=self.rule.objective
        )
        return _Task(task.name, trainer, task.reference_return)

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
        )
        # Strong types everywhere, as a generation returns them: otherwise the second
        # generation would compile again (evosax initialises some leaves weakly typed).
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), state)

    def mean_params(self, state: MetaState) -> Any:
        """The search distribution's centre (for population-based strategies, the best member)."""
        return self.strategy.mean(state.es_state)

    # ------------------------------------------------------------- evaluate
    def _fitness(self, task: _Task, results: TrainResult) -> jax.Array:
        stat = _statistic(results, self.config.fitness)
        return stat / task.reference if task.reference else stat

    def evaluate_population(self, population: Any, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Trains every member on every task and seed.

        Returns fitness (N,), diverged (N,) bool, and per-task fitness (T, N).
        """
        population = jax.lax.with_sharding_constraint(population, self._sharded)
        per_task, diverged = [], None
        for t, task in enumerate(self.tasks):
            seeds = jax.random.split(jax.random.fold_in(key, t), self.config.seeds_per_member)
            train = jax.vmap(jax.vmap(task.trainer.train, in_axes=(None, 0)), in_axes=(0, None))
            results = train(population, seeds)  # leaves (N, S, ...)
            per_task.append(self._fitness(task, results).mean(axis=1))
            bad = results.diverged.any(axis=1)
            diverged = bad if diverged is None else diverged | bad
        per_task = jnp.stack(per_task)
        return per_task.mean(axis=0), diverged, per_task

    def _generation(self, state: MetaState) -> tuple[MetaState, dict[str, jax.Array]]:
        key, k_ask, k_eval, k_tell = jax.random.split(state.key, 4)
        population, es_state = self.strategy.ask(k_ask, state.es_state)
        raw, diverged, per_task = self.evaluate_population(population, k_eval)
        healthy = ~diverged & jnp.isfinite(raw)
        lowest = jnp.min(jnp.where(healthy, raw, jnp.inf))
        lowest = jnp.where(jnp.isfinite(lowest), lowest, 0.0)
        fitness = jnp.where(healthy, raw, lowest - 1.0)  # below every healthy member, never NaN
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
        new_state = MetaState(
            es_state=es_state,
            key=key,
            generation=state.generation + 1,
            best_fitness=jnp.maximum(state.best_fitness, candidate[i]),
            best_params=best_params,
        )
        return new_state, metrics

    # ------------------------------------------------------------ eval rule
    def _evaluate_rule(self, meta_params: Any, key: jax.Array) -> dict[str, jax.Array]:
        """Trains ``meta_params`` on ``eval_seeds`` seeds on every task and held-out task.

        Returns per task ``(eval_seeds,)`` arrays: ``return`` (the fitness
        statistic, raw) and ``fitness`` (normalised as in training).
        """
        out = {}
        for t, task in enumerate(self.tasks + self.held_out):
            seeds = jax.random.split(jax.random.fold_in(key, t), self.config.eval_seeds)
            results = jax.vmap(task.trainer.train, in_axes=(None, 0))(meta_params, seeds)
            out[task.name] = {
                "return": _statistic(results, self.config.fitness),
                "fitness": self._fitness(task, results),
            }
        return out

    def eval_key(self, generation: int) -> jax.Array:
        """Held-out seeds: a key stream separate from the search's own."""
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed + 1_000_003), generation)
