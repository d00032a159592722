"""Learned optimizers (OPEN and its ablations) and hand-designed baselines.

The contract with the inner trainer is in :mod:`learned_optimizers.base`. This
package imports nothing from ``metalearn``.
"""

from learned_optimizers.base import UPDATE_EXTRA_ARGS

__all__ = ["UPDATE_EXTRA_ARGS"]
