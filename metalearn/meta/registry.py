"""Meta-training regimes by name (``MetaConfig.regime``); a new regime is one module plus one line here."""

from __future__ import annotations

from metalearn.meta.config import MetaConfig
from metalearn.meta.evolution import ESTrainer
from metalearn.meta.metagrad import MetaGradientTrainer
from metalearn.meta.regime import Regime

REGIMES: dict[str, type[Regime]] = {
    "es": ESTrainer,
    "meta_gradient": MetaGradientTrainer,
}


def make_meta_trainer(config: MetaConfig, devices: list | None = None) -> Regime:
    """The regime ``config.regime`` built for ``config`` (its population sharded over ``devices``, default all)."""
    return REGIMES[config.regime](config, devices)
