"""Rules the meta-trainer can evolve: meta-parameters plus pure functions.

A :class:`Rule` is built by name from the leaf packages' registries
(``learned_optimizers.OPTIMIZERS`` and ``objectives.OBJECTIVES``), so the
engine has no rule-specific code.
Rule files (``save_rule`` / ``load_rule``) are one ``.npz``: the
meta-parameters plus a JSON manifest naming the rule and its hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from learned_optimizers import OPTIMIZERS, load_published
from metalearn import __version__
from metalearn.pytree_io import load_pytree, read_manifest, save_pytree
from objectives import OBJECTIVES, TrajectoryObjective

RULE_FORMAT = "metalearn-rule"


@dataclasses.dataclass(frozen=True)
class Rule:
    """A learned rule: ``init(rng) -> meta_params`` and the trainer hooks it fills.

    ``optimizer(meta_params)`` gives an optax transformation; ``objective``
    is an actor objective ``(meta_params, ObjectiveInputs) -> loss``, or a
    :class:`objectives.TrajectoryObjective` (LPG). Either may be None (the
    inner trainer's default is used).
    """

    name: str
    kwargs: Mapping[str, Any]
    init: Callable[[jax.Array], Any]
    optimizer: Callable[[Any], Any] | None = None
    objective: Callable[[Any, Any], jax.Array] | TrajectoryObjective | None = None


_CLASH = set(OPTIMIZERS) & set(OBJECTIVES)
assert not _CLASH, f"names in both OPTIMIZERS and OBJECTIVES: {sorted(_CLASH)}"


def list_rules() -> list[str]:
    """Every rule name: learned optimizers and actor objectives."""
    return sorted({*OPTIMIZERS, *OBJECTIVES})


def _split_kwargs(name: str, kwargs: Mapping[str, Any], *fns: Callable) -> list[dict]:
    """Routes each keyword to the functions that accept it; unknown ones fail."""
    accepted = [set(inspect.signature(f).parameters) - {"rng", "meta_params"} for f in fns]
    unknown = sorted(set(kwargs) - set().union(*accepted))
    if unknown:
        allowed = sorted(set().union(*accepted))
        raise ValueError(f"rule {name!r} has no hyper-parameter(s) {unknown}; allowed: {allowed}")
    return [{k: v for k, v in kwargs.items() if k in acc} for acc in accepted]


def make_rule(name: str, **kwargs: Any) -> Rule:
    """The rule called ``name`` with hyper-parameters ``kwargs``.

    An optimizer rule fills ``Rule.optimizer``; an objective rule fills
    ``Rule.objective`` (``(meta_params, ObjectiveInputs) -> per-sample loss``).
    """
    if name in OPTIMIZERS:
        module, defaults = OPTIMIZERS[name]
        hook = module.to_optax
    elif name in OBJECTIVES:
        module, defaults = OBJECTIVES[name]
        hook = module.to_objective
    else:
        close = difflib.get_close_matches(name, list_rules(), n=3, cutoff=0.5)
        hint = f"did you mean: {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown rule {name!r}; {hint}allowed: {', '.join(list_rules())}")
    kwargs = {**defaults, **kwargs}
    to_targets = getattr(module, "to_targets", None)
    init_kw, hook_kw, targets_kw = _split_kwargs(name, kwargs, module.init, hook, to_targets or (lambda: None))
    meta_params = module.init(jax.random.PRNGKey(0), **init_kw)  # validates hyper-parameters now, not mid-run
    if name in OPTIMIZERS:
        return Rule(
            name=name,
            kwargs=dict(kwargs),
            init=lambda rng: module.init(rng, **init_kw),
            optimizer=lambda mp: hook(mp, **hook_kw),
        )
    hook(meta_params, **hook_kw)  # the objective's own hyper-parameters, checked now too

    def objective(mp, inputs):
        return hook(mp, **hook_kw)(inputs)

    if to_targets is not None:
        objective = TrajectoryObjective(lambda mp, traj: to_targets(mp, **targets_kw)(traj), objective)
    return Rule(name=name, kwargs=dict(kwargs), init=lambda rng: module.init(rng, **init_kw), objective=objective)


def published_rule(name_or_path: str) -> tuple[Rule, Any]:
    """(rule, meta_params) for published OPEN weights (a name such as ``breakout``, or a ``.npy`` path)."""
    meta_params, sizes = load_published(name_or_path)
    rule = make_rule("open", **sizes)
    return rule, meta_params


def save_rule(path: str | Path, rule: Rule, meta_params: Any, **info: Any) -> None:
    """Writes a standalone rule file (``info`` is added to its manifest)."""
    save_pytree(
        path,
        meta_params,
        format=RULE_FORMAT,
        manifest={"rule": rule.name, "kwargs": dict(rule.kwargs), "metalearn": __version__, **info},
    )


def load_rule(path: str | Path) -> tuple[Rule, Any, dict]:
    """(rule, meta_params, manifest) from a rule file; shapes are checked against the rule."""
    manifest = read_manifest(path, format=RULE_FORMAT)
    rule = make_rule(manifest["rule"], **manifest.get("kwargs", {}))
    template = rule.init(jax.random.PRNGKey(0))
    meta_params, _ = load_pytree(path, format=RULE_FORMAT, template=template)
    bad = sum(int(np.size(x) - np.isfinite(x).sum()) for x in jax.tree.leaves(meta_params))
    if bad:
        raise ValueError(f"{path}: its meta-parameters hold {bad} non-finite values (NaN/inf); a diverged rule")
    return rule, meta_params, manifest
