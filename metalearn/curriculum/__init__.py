"""Curricula over environment levels: one interface (:mod:`~metalearn.curriculum.base`), kinds by name
(``CURRICULA``: GROOVE's own level buffer, prioritised level replay, domain randomisation, a frozen set),
level scores by name (``LEVEL_SCORES``)."""

from metalearn.curriculum import plr
from metalearn.curriculum.base import Curriculum, LevelBatch, random_levels
from metalearn.curriculum.plr import (
    REPLAY_MODES,
    SCORE_TRANSFORMS,
    PLRConfig,
    PLRState,
    insert,
    next_levels,
    record_scores,
    sample_probs,
    sample_replay,
    score_probs,
    staleness_probs,
    update_scores,
)
from metalearn.curriculum.registry import CURRICULA, make_curriculum
from metalearn.curriculum.scores import LEVEL_SCORES, LevelScore, ScoreInputs

__all__ = [
    "CURRICULA",
    "LEVEL_SCORES",
    "REPLAY_MODES",
    "SCORE_TRANSFORMS",
    "Curriculum",
    "LevelBatch",
    "LevelScore",
    "PLRConfig",
    "PLRState",
    "ScoreInputs",
    "insert",
    "make_curriculum",
    "next_levels",
    "plr",
    "random_levels",
    "record_scores",
    "sample_probs",
    "sample_replay",
    "score_probs",
    "staleness_probs",
    "update_scores",
]
