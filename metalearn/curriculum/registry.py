"""Curriculum kinds by name (``curriculum.kind``); a new kind is one module plus one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metalearn.curriculum.base import Curriculum
from metalearn.curriculum.dr import DomainRandomisation
from metalearn.curriculum.frozen import Frozen
from metalearn.curriculum.groove import Groove
from metalearn.curriculum.plr import PLR

if TYPE_CHECKING:
    from metalearn.curriculum.config import CurriculumConfig
    from metalearn.envs.core import LevelFamily

CURRICULA: dict[str, type[Curriculum]] = {
    "groove": Groove,
    "plr": PLR,
    "dr": DomainRandomisation,
    "frozen": Frozen,
}


def make_curriculum(config: CurriculumConfig, family: LevelFamily) -> Curriculum:
    """The curriculum ``config.kind`` drawing levels from ``family``."""
    return CURRICULA[config.kind](config, family)
