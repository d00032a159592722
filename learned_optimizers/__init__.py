"""Learned optimizers (OPEN and its ablations) and hand-designed baselines.

Each optimizer is a module with ``init(rng, **hyper) -> meta_params`` and
``to_optax(meta_params, **hyper) -> optax.GradientTransformation``; a new one
is one module plus one line in ``OPTIMIZERS``. The contract with the inner
trainer is in :mod:`learned_optimizers.base`. This package imports nothing
from ``metalearn``.
"""

from learned_optimizers import lr_schedule
from learned_optimizers.base import UPDATE_EXTRA_ARGS

# name -> module with init(rng, **hyper) and to_optax(meta_params, **hyper)
OPTIMIZERS = {
    "lr_schedule": lr_schedule,
}

__all__ = ["OPTIMIZERS", "UPDATE_EXTRA_ARGS", "lr_schedule"]
