"""Evolution strategies over pytrees, all maximising fitness.

``make_strategy(config, template)`` builds any evosax 0.3 strategy by name
(OpenES, SNES, CMA-ES, Sep-CMA-ES, PGPE, ...) or one of our own, which
implement the same ``init / ask / tell / mean`` interface (see ``base.py``):
``eggroll`` (low-rank ES, ``eggroll.py``; its population forward pass is in
``lowrank.py``).
"""

from typing import Any

from metalearn.es.base import (
    FITNESS_SHAPINGS,
    Strategy,
    StrategyConfig,
    TellMetrics,
    adjacent_pairs,
    mirrored_pairs,
    pair_winner_fitness,
    shape_fitness,
    strategy_key,
)
from metalearn.es.eggroll import EggrollState, EggrollStrategy
from metalearn.es.evosax_strategy import EvosaxStrategy, evosax_antithetic_names, evosax_names, resolve_strategy_name
from metalearn.validation import did_you_mean

# Our own strategies, by their lower-case name.
OWN_STRATEGIES = {"eggroll": EggrollStrategy}


def list_strategies() -> list[str]:
    return [*evosax_names(), *OWN_STRATEGIES]


def antithetic_strategies() -> list[str]:
    """Strategies that can sample antithetic pairs (``Strategy.antithetic_pairs``), for error messages."""
    return ["eggroll", *evosax_antithetic_names()]


def make_strategy(config: StrategyConfig, template: Any) -> Strategy:
    """The strategy ``config.name`` searching over pytrees shaped like ``template``."""
    own = {strategy_key(n): cls for n, cls in OWN_STRATEGIES.items()}
    if strategy_key(config.name) in own:
        return own[strategy_key(config.name)](config, template)
    try:
        resolve_strategy_name(config.name)
    except ValueError as err:
        hint = did_you_mean(config.name, OWN_STRATEGIES, n=1, cutoff=0.6, key=strategy_key).strip()
        raise ValueError(f"{err}; ours: {', '.join(OWN_STRATEGIES)}{f' ({hint})' if hint else ''}") from None
    return EvosaxStrategy(config, template)


__all__ = [
    "FITNESS_SHAPINGS",
    "EggrollState",
    "EggrollStrategy",
    "EvosaxStrategy",
    "Strategy",
    "StrategyConfig",
    "TellMetrics",
    "adjacent_pairs",
    "antithetic_strategies",
    "list_strategies",
    "make_strategy",
    "mirrored_pairs",
    "pair_winner_fitness",
    "resolve_strategy_name",
    "shape_fitness",
]
