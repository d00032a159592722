"""The interface every meta-training regime implements, and what one of its generations reports.

A regime turns meta-parameters into better ones: ES (:mod:`metalearn.meta.evolution`) evaluates a
population of whole inner trainings per generation; meta-gradients (:mod:`metalearn.meta.metagrad`)
differentiate through K updates of persistent agents. The run loop (:mod:`metalearn.meta.run`),
checkpointing, the evaluation of the mean rule, ``metalearn plan`` and plotting use only
:class:`Regime`; a new regime is one module implementing it plus one line in
:data:`metalearn.meta.registry.REGIMES`.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol

import jax

from metalearn.meta.config import MetaConfig


class GenerationMetrics(NamedTuple):
    """One generation of a regime; N: the members (ES) or agents (meta-gradients) it scored, T: tasks.

    ``search`` holds the regime's own numbers, as the metrics row holds them (scalars, possibly nested
    one level: ES ``{"sigma": σ}``, meta-gradients ``{"meta_gradient": {loss terms...}}``);
    ``curriculum`` what the curriculum did (empty without one).
    """

    generation: jax.Array  # () int32, generations done after this one
    best_fitness: jax.Array  # () the best healthy member's (agent's) fitness this generation
    mean_fitness: jax.Array  # () over healthy ones
    median_fitness: jax.Array  # ()
    nan_count: jax.Array  # () members (agents) that diverged or scored NaN
    task_fitness: jax.Array  # (T,) mean fitness per task over healthy ones
    fitness: jax.Array  # (N,) raw fitness of each member (agent)
    search: dict[str, Any]
    curriculum: dict[str, jax.Array]


class Regime(Protocol):
    """What the run loop, checkpoints, evaluation and ``plan`` know of a regime.

    ``state`` is any pytree with ``generation`` (() int32), ``best_fitness`` (()) and ``best_params`` (the rule's
    meta-parameters at that fitness) fields and ``levels`` (the curriculum's state); it is checkpointed whole.
    """

    name: ClassVar[str]  # the value of ``MetaConfig.regime`` that selects it
    owns: ClassVar[tuple[str, ...]]  # MetaConfig fields only this regime reads (others must leave them at default)
    config: MetaConfig
    rule: Any  # metalearn.rules.Rule
    tasks: list  # metalearn.meta.context.Task
    held_out: list
    curriculum: Any  # metalearn.curriculum.base.Curriculum | None

    @classmethod
    def check_config(cls, config: MetaConfig) -> None:
        """Raises ValueError (one line naming the field) for a config this regime cannot run."""

    @staticmethod
    def shrink(d: dict[str, Any], population: int) -> None:
        """Puts a config dict's settings of this regime at a tiny size, in place (:mod:`metalearn.meta.shrink`;
        ``population``: the members an ES-like regime should use)."""

    def init(self) -> Any:
        """The state before the first generation (jitted)."""

    def generation(self, state: Any) -> tuple[Any, GenerationMetrics]:
        """One generation (jitted): the next state and what it did."""

    def mean_params(self, state: Any) -> Any:
        """The rule the search currently stands at (ES: the distribution's centre; meta-gradients: η)."""

    def evaluate_rule(self, meta_params: Any, key: jax.Array) -> dict[str, Any]:
        """Held-out evaluation of a rule (jitted; see :class:`metalearn.meta.context.MetaContext`)."""

    def eval_key(self, generation: int) -> jax.Array: ...

    def replicate(self, tree: Any) -> Any: ...

    def env_steps_per_generation(self) -> int:
        """Environment steps one generation simulates."""

    @property
    def horizon(self) -> int:
        """Inner updates of the first task's agents: the horizon a temporally-aware rule is trained at."""

    def describe(self) -> str:
        """Who trains in a generation, for ``metalearn plan`` (e.g. "16 members x 1 seed(s)")."""

    def search_label(self) -> str:
        """The search, for plot titles (a strategy's name, "meta-gradients")."""

    def smaller(self) -> str:
        """The config fields that shrink a generation's memory, for ``plan``'s refusal."""
