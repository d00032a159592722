"""Curricula over environment levels: prioritised level replay (GROOVE's level sampler)."""

from metalearn.curriculum import plr
from metalearn.curriculum.plr import (
    REPLAY_MODES,
    SCORE_TRANSFORMS,
    LevelBatch,
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

__all__ = [
    "REPLAY_MODES",
    "SCORE_TRANSFORMS",
    "LevelBatch",
    "PLRConfig",
    "PLRState",
    "insert",
    "next_levels",
    "plr",
    "record_scores",
    "sample_probs",
    "sample_replay",
    "score_probs",
    "staleness_probs",
    "update_scores",
]
