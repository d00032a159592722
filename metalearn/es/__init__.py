"""Evolution strategies over pytrees, all maximising fitness.

``make_strategy(config, template)`` builds any evosax 0.3 strategy by name
(OpenES, SNES, CMA-ES, Sep-CMA-ES, PGPE, ...); our own strategies implement
the same ``init / ask / tell / mean`` interface (see ``base.py``).
"""

from typing import Any

from metalearn.es.base import FITNESS_SHAPINGS, Strategy, StrategyConfig, shape_fitness
from metalearn.es.evosax_strategy import EvosaxStrategy, evosax_names, resolve_strategy_name


def list_strategies() -> list[str]:
    return evosax_names()


def make_strategy(config: StrategyConfig, template: Any) -> Strategy:
    """The strategy ``config.name`` searching over pytrees shaped like ``template``."""
    return EvosaxStrategy(config, template)


__all__ = [
    "FITNESS_SHAPINGS",
    "EvosaxStrategy",
    "Strategy",
    "StrategyConfig",
    "list_strategies",
    "make_strategy",
    "resolve_strategy_name",
    "shape_fitness",
]
