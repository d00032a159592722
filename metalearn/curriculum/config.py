"""Curriculum settings of a meta-training run (``curriculum:`` in its config)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from metalearn.curriculum.plr import SCORE_TRANSFORMS, PLRConfig
from metalearn.curriculum.registry import CURRICULA
from metalearn.curriculum.scores import LEVEL_SCORES
from metalearn.envs.gridworld import LEVEL_DISTRIBUTIONS
from metalearn.inner import TrainConfig, get_preset
from metalearn.overrides import apply_overrides
from metalearn.validation import field_error


@dataclasses.dataclass(frozen=True)
class CurriculumConfig:
    """Which gridworld levels each generation's population is trained on.

    ``kind`` names a curriculum in :data:`metalearn.curriculum.registry.CURRICULA`
    and ``score`` a level score in :data:`metalearn.curriculum.scores.LEVEL_SCORES`.

    Kinds: ``dr`` (domain randomisation): ``levels_per_generation`` fresh random
    levels from ``distribution`` every generation; ``groove``: a PLR buffer
    (:mod:`metalearn.curriculum.plr`: rank^(1/β) plus staleness); ``groove_buffer``:
    GROOVE's own buffer (:mod:`metalearn.curriculum.level_buffer`: reset the
    lowest-scoring, replay by softmax(score / T)); ``frozen``: ``capacity`` random
    levels drawn once, sampled uniformly.

    Scores (computed when the agents' lifetimes end, i.e. every generation with ES):

    * ``alg_regret`` — GROOVE's algorithmic regret: an antagonist (the
      ``baseline`` preset, trained for the family's longest lifetime on the
      members' seeds) and each agent evaluated by rollouts; antagonist's return
      minus the agent's, averaged over the level's healthy agents;
    * ``regret`` — our earlier variant: the baseline at the task's budget minus
      the members' mean, both read from training curves (the fitness statistic);
    * ``positive_value_loss``, ``l1_value_loss``, ``value_loss`` — the UED
      baselines of PLR, from the agents' own critic over their last updates
      (mean max(Â, 0), mean |Â| of GAE advantages, and the value loss); need
      ``train.vf_coef > 0``;
    * ``random`` — a uniform random score (a buffer that prioritises nothing).

    Under shared task sampling every member sees the same levels and seeds, so
    fitness differences come from the rules, not from the draw.
    """

    kind: str = "groove"
    distribution: str = "small"
    levels_per_generation: int = 4
    score: str = "regret"
    baseline: str = "gridworld-a2c"
    baseline_train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    capacity: int = 64
    replay_prob: float = 0.5
    score_transform: str = "rank"
    temperature: float = 1.0
    staleness_coef: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in CURRICULA:
            raise field_error(self, "kind", " | ".join(CURRICULA), prefix="curriculum")
        if self.distribution not in LEVEL_DISTRIBUTIONS:
            raise field_error(self, "distribution", " | ".join(LEVEL_DISTRIBUTIONS), prefix="curriculum")
        if not isinstance(self.levels_per_generation, int) or self.levels_per_generation < 1:
            raise field_error(self, "levels_per_generation", "an integer >= 1", prefix="curriculum")
        if self.score not in LEVEL_SCORES:
            raise field_error(self, "score", " | ".join(LEVEL_SCORES), prefix="curriculum")
        if self.score_transform not in SCORE_TRANSFORMS:
            raise field_error(self, "score_transform", " | ".join(SCORE_TRANSFORMS), prefix="curriculum")
        CURRICULA[self.kind].validate(self)  # the kind's own checks (GROOVE: the buffer's settings)
        if LEVEL_SCORES[self.score].needs_baseline:
            self.baseline_config()  # fails now on an unknown preset or a bad override

    def plr(self) -> PLRConfig:
        """The level buffer's settings."""
        return PLRConfig(
            capacity=self.capacity,
            replay_prob=self.replay_prob,
            score_transform=self.score_transform,
            temperature=self.temperature,
            staleness_coef=self.staleness_coef,
        )

    def baseline_config(self) -> TrainConfig:
        """The baseline agent's inner TrainConfig (its preset with ``baseline_train`` applied)."""
        return apply_overrides(get_preset(self.baseline).config, [f"{k}={v}" for k, v in self.baseline_train.items()])
