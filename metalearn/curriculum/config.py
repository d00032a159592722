"""Curriculum settings of a meta-training run (``curriculum:`` in its config)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from metalearn.curriculum.plr import SCORE_TRANSFORMS, PLRConfig
from metalearn.curriculum.registry import CURRICULA
from metalearn.curriculum.scores import LEVEL_SCORES
from metalearn.envs.gridworld import LEVEL_DISTRIBUTIONS
from metalearn.inner import TrainConfig, get_preset
from metalearn.overrides import apply_overrides
from metalearn.validation import field_error

# Kind names from before the kinds were named for what they are (``groove`` was the PLR buffer,
# ``groove_buffer`` GROOVE's own), and today's name of what each meant.
# A config may still name ``groove_buffer`` (with a warning); ``groove`` in it is GROOVE's own buffer.
RENAMED_KINDS = {"groove_buffer": "groove"}
# A run's config stored before the renames (its config.json has no ``config_version``) is read in the old names.
RENAMED_KINDS_STORED = {"groove": "plr", "groove_buffer": "groove"}
_MEANING = {"groove": "GROOVE's own level buffer", "plr": "the prioritised level replay buffer"}


def renamed_kind(curriculum: Mapping[str, Any], stored: bool = False) -> dict[str, Any]:
    """A ``curriculum:`` mapping with an old kind name replaced by today's, and a one-line warning naming both.

    ``stored``: the mapping is from a run stored before the renames, whose ``groove`` was the PLR buffer.
    """
    out = dict(curriculum)
    old = out.get("kind")
    new = (RENAMED_KINDS_STORED if stored else RENAMED_KINDS).get(old) if isinstance(old, str) else None
    if new is not None:
        said = "in a run stored before the kinds were renamed is read as" if stored else "is deprecated; use"
        warnings.warn(f"curriculum.kind={old!r} {said} {new!r} ({_MEANING[new]})", FutureWarning, stacklevel=2)
        out["kind"] = new
    return out


@dataclasses.dataclass(frozen=True)
class CurriculumConfig:
    """Which gridworld levels each generation's population is trained on.

    ``kind`` names a curriculum in :data:`metalearn.curriculum.registry.CURRICULA`
    and ``score`` a level score in :data:`metalearn.curriculum.scores.LEVEL_SCORES`.

    Kinds: ``groove``: GROOVE's own level buffer (:mod:`metalearn.curriculum.groove`:
    reset the lowest-scoring, replay by softmax(score / T)); ``plr``: a prioritised
    level replay buffer (:mod:`metalearn.curriculum.plr`: rank^(1/β) plus
    staleness, insertion over the lowest score); ``dr`` (domain randomisation):
    ``levels_per_generation`` fresh random levels from ``distribution`` every
    generation; ``frozen``: ``capacity`` random levels drawn once, sampled
    uniformly. (``groove_buffer`` is the old name of ``groove``; see
    :data:`RENAMED_KINDS`.)

    The defaults are the published GROOVE (Jackson et al. 2023; the reference
    EmptyJackson/groove run with ``--score_function alg_regret``): its own buffer
    of 4000 levels (``buffer_size``), replay probability 0.5 (``p_replay``),
    ``rank`` transform at temperature 1 (``score_transform``,
    ``score_temperature``), scored by algorithmic regret. ``staleness_coef`` is
    read only by ``plr``. These are the only defaults of the buffers' settings
    (:class:`~metalearn.curriculum.plr.PLRConfig` takes them from here).

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
    score: str = "alg_regret"
    baseline: str = "gridworld-a2c"
    baseline_train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    capacity: int = 4000
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
        CURRICULA[self.kind].validate(self)  # the kind's own checks (a buffer's settings)
        if LEVEL_SCORES[self.score].needs_baseline:
            self.baseline_config()  # fails now on an unknown preset or a bad override

    def plr(self) -> PLRConfig:
        """The PLR buffer's settings (kind ``plr``)."""
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
