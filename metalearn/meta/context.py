"""What every meta-training regime shares: the rule, its tasks, the curriculum, and the rule's evaluation.

A regime (:mod:`metalearn.meta.regime`) searches meta-parameters; everything it
searches *on* is built here once from a :class:`MetaConfig`, the same way for
every regime: the rule and its starting meta-parameters, one inner agent per
task (and held-out task), the curriculum with its level score and the
hand-designed agents that score levels (regret's baseline, GROOVE's
antagonist), a device mesh, and the held-out evaluation of a rule
(``evaluate_rule``), which is the same whichever regime found it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from metalearn.curriculum.base import random_levels
from metalearn.curriculum.registry import make_curriculum
from metalearn.curriculum.scores import LEVEL_SCORES
from metalearn.envs import level_family, make_env
from metalearn.inner import TrainConfig, Trainer, TrainResult, make_trainer
from metalearn.meta.config import MetaConfig, TaskConfig
from metalearn.rules import make_rule, resolve_rule

# Keys of streams that must not overlap the search's own are folded with this (a prime far above any index).
_SEPARATE_STREAM = 1_000_003


def level_key(key: jax.Array) -> jax.Array:
    """The levels' stream of ``key``: a generation's curriculum key from its evaluation key, and the random levels
    a curriculum task is evaluated on from the evaluation's key (a separate stream, so runs without a curriculum
    draw exactly what they drew before curricula existed)."""
    return jax.random.fold_in(key, _SEPARATE_STREAM)


def eval_key(seed: int, generation: int) -> jax.Array:
    """Held-out evaluation key of a run with ``seed`` at ``generation``: apart from the search's own stream."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + _SEPARATE_STREAM), generation)


class Task(NamedTuple):
    name: str
    trainer: Trainer
    reference: float | None


def statistic(result: TrainResult, name: str) -> jax.Array:
    """``MetaConfig.fitness`` ``name`` of ``result``, per agent (raw)."""
    if name == "final_return":
        return result.final_return
    if name == "eval_return":
        return result.eval_return
    return result.curve.mean(-1)  # mean_return: area under the learning curve


class MetaContext:
    """Built once from a :class:`MetaConfig`: the rule, tasks, curriculum and mesh a regime searches with.

    ``whole_lifetimes``: the regime trains every agent for its level's whole
    lifetime in one training (ES), so a task whose agents live their levels'
    lifetimes must have as many updates as the longest; regimes whose agents
    persist across steps set it False.
    """

    whole_lifetimes = True

    def __init__(self, config: MetaConfig, devices: list | None = None):
        self.config = config
        self.rule = make_rule(config.rule.name, **config.rule.kwargs)
        self.initial_mean = self._initial_mean()
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
        self.devices = jax.devices() if devices is None else devices
        self.mesh = Mesh(np.asarray(self.devices), ("pop",))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._sharded = NamedSharding(self.mesh, PartitionSpec("pop"))
        self.evaluate_rule = jax.jit(self._evaluate_rule, out_shardings=self._replicated)

    def _initial_mean(self) -> Any:
        """The search's starting meta-parameters: ``rule.init`` at the run's seed, or ``rule.start``'s."""
        start = self.config.rule.start
        template = self.rule.init(jax.random.PRNGKey(self.config.seed))
        if start is None:
            return template
        rule, meta_params, _ = resolve_rule(start)  # published:, discovered:, a rule file or a run directory
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

    def _task(self, task: TaskConfig, curriculum: bool = False) -> Task:
        env_name, env_kwargs, train_config = task.resolve()
        train_config = self._train_config(train_config)
        if curriculum:
            # The env's padded sizes are the level family's; its levels come from the curriculum.
            env_kwargs = {**env_kwargs, "level": self.curriculum.family.template}
        env = make_env(env_name, **env_kwargs)
        trainer = make_trainer(env, train_config, optimizer=self.rule.optimizer, objective=self.rule.objective)
        if train_config.level_lifetime and self.whole_lifetimes:
            longest = self._longest_lifetime(env, curriculum)
            if train_config.num_updates < longest:
                raise ValueError(
                    f"task {task.name}: train.level_lifetime=true with {train_config.num_updates} updates, but its "
                    f"levels live up to {longest} updates; allowed: total_timesteps >= "
                    f"{longest * train_config.batch_size} (the longest lifetime x num_envs x num_steps)"
                )
        return Task(task.name, trainer, task.reference_return)

    def _longest_lifetime(self, env: Any, curriculum: bool) -> int:
        """The longest lifetime (updates) of the levels an agent of ``env`` trains on: its curriculum family's,
        else its own level's."""
        return self.curriculum.family.max_lifetime if curriculum else int(env.default_params.lifetime)

    def _train_config(self, config: TrainConfig) -> TrainConfig:
        """A task's inner config as the regime trains it (as given, unless the regime needs otherwise)."""
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

    def replicate(self, tree: Any) -> Any:
        """``tree`` placed as a generation's state is: replicated on every device of the mesh."""
        return jax.device_put(tree, self._replicated)

    def _curriculum_key(self) -> jax.Array:
        # folded off the seed, apart from the main key chain: runs without a random curriculum state keep theirs
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 0xC0C0)

    def _fitness(self, task: Task, results: TrainResult) -> jax.Array:
        stat = statistic(results, self.config.fitness)
        return stat / task.reference if task.reference else stat

    @staticmethod
    def _task_seeds(key: jax.Array, t: int, n: int) -> jax.Array:
        """(n, 2) inner-training seeds of task ``t``, shared by every member (and the regret baseline)."""
        return jax.random.split(jax.random.fold_in(key, t), n)

    # ------------------------------------------------------- hand-designed agents
    def _hand_designed(self, trainer: Trainer, key: jax.Array, levels: Any) -> TrainResult:
        """``trainer`` (a hand-designed agent) on ``levels`` (leaves (L, ...)) with the members' seeds there, every
        level with the task's S seeds: leaves (L, S, ...)."""
        seeds = self._task_seeds(key, 0, self.config.seeds_per_member)  # the members' seeds on the one task
        train = jax.vmap(jax.vmap(trainer.train, in_axes=(None, 0, None)), in_axes=(None, None, 0))  # levels, seeds
        return train(None, seeds, levels)

    def _baseline_return(self, key: jax.Array, levels: Any) -> jax.Array:
        """(L,) the baseline agent's fitness statistic (raw) on ``levels``, with the members' seeds there."""
        return statistic(self._hand_designed(self.baseline, key, levels), self.config.fitness).mean(axis=-1)

    def _antagonist_return(self, key: jax.Array, levels: Any) -> jax.Array:
        """(L,) the antagonist's evaluation-rollout return on ``levels``, with the members' seeds there."""
        return self._hand_designed(self.antagonist, key, levels).eval_return.mean(axis=-1)

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
            stat = statistic(results, self.config.fitness)
            out[task.name] = {
                "return": stat,
                "fitness": self._fitness(task, results),
                "diverged": results.diverged | ~jnp.isfinite(stat),
            }
        return out

    def eval_key(self, generation: int) -> jax.Array:
        """Held-out seeds: a key stream separate from the search's own."""
        return eval_key(self.config.seed, generation)
