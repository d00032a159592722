"""Learned optimizers (OPEN and its ablations) and hand-designed baselines.

Each optimizer is a module with ``init(rng, **hyper) -> meta_params`` and
``to_optax(meta_params, **hyper) -> optax.GradientTransformation``; a new one
is one module plus one line in ``LEARNED_OPTIMIZERS`` (a variant is a line with other
default hyper-parameters). The contract with the inner trainer is in
:mod:`learned_optimizers.base`. This package imports nothing from ``metalearn``.
"""

from types import ModuleType
from typing import Any, NamedTuple

from learned_optimizers import lr_schedule, symbolic_open, symbolic_schedule
from learned_optimizers import open as open_opt
from learned_optimizers.base import UPDATE_EXTRA_ARGS
from learned_optimizers.baselines import BASELINES, make_baseline
from learned_optimizers.published import load_published, published_names


class Variant(NamedTuple):
    module: ModuleType
    defaults: dict[str, Any]


LEARNED_OPTIMIZERS = {
    "lr_schedule": Variant(lr_schedule, {}),
    "symbolic_lr_schedule": Variant(symbolic_schedule, {}),
    "symbolic_open": Variant(symbolic_open, {}),
    "open": Variant(open_opt, {}),
    "open_large": Variant(open_opt, {"gru_features": 16, "hidden_size": 32}),
    "open_no_noise": Variant(open_opt, {"stochastic": False}),
    "open_mlp": Variant(open_opt, {"use_gru": False}),
    **{f"open_no_{group}": Variant(open_opt, {"ablate": (group,)}) for group in open_opt.FEATURE_GROUPS},
}

__all__ = [
    "BASELINES",
    "LEARNED_OPTIMIZERS",
    "UPDATE_EXTRA_ARGS",
    "Variant",
    "load_published",
    "lr_schedule",
    "make_baseline",
    "open_opt",
    "published_names",
    "symbolic_open",
    "symbolic_schedule",
]
