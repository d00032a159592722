"""Rules the meta-trainer can evolve: meta-parameters plus pure functions.

A :class:`Rule` is built by name from the leaf packages' registries
(``learned_optimizers.LEARNED_OPTIMIZERS`` and ``objectives.OBJECTIVES``), so the
engine has no rule-specific code.
Rule files (``save_rule`` / ``load_rule``) are one ``.npz``: the
meta-parameters plus a JSON manifest naming the rule and its hyper-parameters.
This module is the one place that reads them; ``load_objective`` gives a rule
file's objective as a plain loss.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from learned_optimizers import LEARNED_OPTIMIZERS, load_published
from learned_optimizers import published_names as open_published_names
from metalearn import __version__
from metalearn.inner.registry import AGENTS
from metalearn.pytree_io import load_pytree, read_manifest, save_pytree
from metalearn.runs import RunDir
from metalearn.validation import check_type, unknown
from objectives import OBJECTIVES, BoundObjective, Objective, disco

RULE_FORMAT = "metalearn-rule"


@dataclasses.dataclass(frozen=True)
class Rule:
    """A learned rule: ``init(rng) -> meta_params`` and the trainer hooks it fills.

    ``optimizer(meta_params)`` gives an optax transformation; ``objective``
    is an :class:`objectives.Objective`, called ``(meta_params, ObjectiveInputs)
    -> per-sample loss``. Either may be None (the inner trainer's default is used).
    """

    name: str
    kwargs: Mapping[str, Any]
    init: Callable[[jax.Array], Any]
    optimizer: Callable[[Any], Any] | None = None
    objective: Objective | None = None


_CLASH = set(LEARNED_OPTIMIZERS) & set(OBJECTIVES)
assert not _CLASH, f"names in both LEARNED_OPTIMIZERS and OBJECTIVES: {sorted(_CLASH)}"


def list_rules() -> list[str]:
    """Every rule name: learned optimizers and actor objectives."""
    return sorted({*LEARNED_OPTIMIZERS, *OBJECTIVES})


def _split_kwargs(name: str, kwargs: Mapping[str, Any], *fns: Callable) -> list[dict]:
    """Routes each keyword to the functions that accept it; unknown ones fail."""
    params = [
        {k: p for k, p in inspect.signature(f).parameters.items() if k not in ("rng", "meta_params")} for f in fns
    ]
    accepted = [set(p) for p in params]
    unknown = sorted(set(kwargs) - set().union(*accepted))
    if unknown:
        allowed = sorted(set().union(*accepted))
        raise ValueError(f"rule {name!r} has no hyper-parameter(s) {unknown}; allowed: {allowed}")
    for ps in params:  # a value of the wrong type fails here, by name, not deep inside the rule
        for k, p in ps.items():
            if k in kwargs:
                check_type(f"rule {name!r} hyper-parameter {k}", kwargs[k], p.annotation)
    return [{k: v for k, v in kwargs.items() if k in acc} for acc in accepted]


def make_rule(name: str, **kwargs: Any) -> Rule:
    """The rule called ``name`` with hyper-parameters ``kwargs``.

    An optimizer rule fills ``Rule.optimizer``; an objective rule fills
    ``Rule.objective`` (an :class:`objectives.Objective`). A rule that brings its own
    agent (DiscoRL) also takes that agent's settings as keywords: they become
    ``Rule.objective.agent_config``, apart from the rule's own hyper-parameters.
    """
    if name in LEARNED_OPTIMIZERS:
        module, defaults = LEARNED_OPTIMIZERS[name]
        hook = module.to_optax
    elif name in OBJECTIVES:
        module, defaults = OBJECTIVES[name]
        hook = module.to_objective
    else:
        raise unknown("rule", name, list_rules())
    kwargs = {**defaults, **kwargs}
    settings = AGENTS[module.AGENT].settings_type if getattr(module, "AGENT", None) else None
    fns = (module.init, hook, settings) if settings else (module.init, hook)
    init_kw, hook_kw, *agent_kw = _split_kwargs(name, kwargs, *fns)
    module.init(jax.random.PRNGKey(0), **init_kw)  # validates hyper-parameters now, not mid-run
    init = lambda rng: module.init(rng, **init_kw)
    if name in LEARNED_OPTIMIZERS:
        return Rule(name=name, kwargs=dict(kwargs), init=init, optimizer=lambda mp: hook(mp, **hook_kw))
    objective = hook(**hook_kw)
    if settings:
        objective = dataclasses.replace(objective, agent_config=settings(**agent_kw[0]))
    return Rule(name=name, kwargs=dict(kwargs), init=init, objective=objective)


def with_kwargs(rule: Rule, meta_params: Any, **kwargs: Any) -> Rule:
    """``rule`` rebuilt with some hyper-parameters changed (e.g. Disco103's agent without replay), refused where
    the change would not fit ``meta_params`` (a different network size)."""
    new = make_rule(rule.name, **{**rule.kwargs, **kwargs})
    layout = lambda tree: (jax.tree.structure(tree), [np.shape(x) for x in jax.tree.leaves(tree)])
    if layout(new.init(jax.random.PRNGKey(0))) != layout(meta_params):
        raise ValueError(
            f"rule {rule.name!r}: {kwargs} change(s) the shapes of its meta-parameters; allowed: hyper-parameters "
            f"that keep the loaded meta-parameters' shapes"
        )
    return new


def published_names() -> list[str]:
    """Every published rule :func:`published_rule` loads by name: OPEN's weights and Disco103."""
    return [*open_published_names(), *disco.PUBLISHED_NAMES]


def published_rule(name_or_path: str) -> tuple[Rule, Any]:
    """(rule, meta_params) for published weights: OPEN's (a name such as ``breakout``, or a ``.npy`` path)
    or DiscoRL's (``disco103``, or a reference-format ``.npz`` path)."""
    if str(name_or_path) in disco.PUBLISHED_NAMES or str(name_or_path).endswith(".npz"):
        return make_rule("disco"), disco.load_published(name_or_path)
    if str(name_or_path) not in open_published_names() and not Path(name_or_path).is_file():
        raise ValueError(f"no published rule {str(name_or_path)!r}; known: {', '.join(published_names())}")
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


class DivergedRuleError(ValueError):
    """A rule file whose meta-parameters are not finite (the search diverged)."""


def load_rule(path: str | Path) -> tuple[Rule, Any, dict]:
    """(rule, meta_params, manifest) from a rule file; shapes are checked against the rule."""
    manifest = read_manifest(path, format=RULE_FORMAT)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("rule"), str):
        raise ValueError(f"{path}: its manifest names no rule (expected a 'rule' name and 'kwargs' mapping)")
    kwargs = manifest.get("kwargs", {})
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"{path}: its manifest's 'kwargs' is {kwargs!r}; allowed: a mapping of name: value")
    try:
        rule = make_rule(manifest["rule"], **kwargs)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    template = rule.init(jax.random.PRNGKey(0))
    meta_params, _ = load_pytree(path, format=RULE_FORMAT, template=template)
    bad = sum(int(np.size(x) - np.isfinite(x).sum()) for x in jax.tree.leaves(meta_params))
    if bad:
        raise DivergedRuleError(f"{path}: its meta-parameters hold {bad} non-finite values (NaN/inf); a diverged rule")
    return rule, meta_params, manifest


def load_objective(path: str | Path) -> BoundObjective:
    """The objective saved in ``path`` as a plain loss: ``loss(ObjectiveInputs) -> (B,)``.

    ``path`` is a rule ``.npz`` from training or :func:`save_rule`; see
    :class:`objectives.BoundObjective`. A missing, corrupt or foreign file, an
    optimizer's rule file, or meta-parameters whose shapes do not fit the named
    rule fail with a ``ValueError`` that says which.
    """
    rule, meta_params, manifest = load_rule(path)
    if rule.objective is None:
        raise ValueError(f"{path}: holds the optimizer rule {rule.name!r}, not an objective; load it with load_rule")
    return BoundObjective(rule.objective, meta_params, rule.name, manifest)


def resolve_rule(ref: str, which: str = "mean", kwargs: Mapping[str, Any] | None = None) -> tuple[Rule, Any, str]:
    """(rule, meta_params, label) for a rule reference — the one place that reads them:

    ``published:NAME`` (published weights, :func:`published_rule`), ``discovered:NAME`` (the zoo), a rule
    ``.npz`` file, a meta-training run directory (its ``rules/{which}.npz``), the name of a hand-designed
    rule (one without meta-parameters, e.g. ``dpo``), or ``init:NAME[@SEED]`` (a learnable rule at its
    initialisation ``init(PRNGKey(SEED))``, SEED 0 by default, as meta-training starts it). ``kwargs`` change the
    rule's hyper-parameters where they keep the meta-parameters' shapes (:func:`with_kwargs`).
    """
    if which not in ("mean", "best"):
        raise ValueError(f"which={which!r} is invalid; allowed: mean, best")
    if ref.startswith("init:"):
        name, _, seed = ref.removeprefix("init:").partition("@")
        if seed and not seed.lstrip("-").isdigit():
            raise ValueError(f"rule reference {ref!r}: seed {seed!r} is invalid; allowed: init:NAME@INTEGER")
        rule = make_rule(name, **(kwargs or {}))  # kwargs shape a fresh rule's meta-parameters
        return rule, rule.init(jax.random.PRNGKey(int(seed or 0))), f"{name} at init ({ref})"
    if ref.startswith("published:"):
        rule, meta_params = published_rule(ref.removeprefix("published:"))
        label = f"{rule.name} ({ref})"
    elif ref.startswith("discovered:"):
        from metalearn.zoo import load_discovered

        rule, meta_params, _ = load_discovered(ref.removeprefix("discovered:"))
        label = f"{rule.name} ({ref})"
    elif not Path(ref).exists() and ref in list_rules():
        rule = make_rule(ref)
        meta_params = rule.init(jax.random.PRNGKey(0))
        if jax.tree.leaves(meta_params):
            raise ValueError(f"rule {ref!r} has meta-parameters to learn; pass a rule file or run directory of it")
        label = ref
    else:
        path = Path(ref)
        if not path.exists() and path.suffix != ".npz" and len(path.parts) == 1:  # a name, not a path
            raise unknown(
                "rule",
                ref,
                list_rules(),
                allowed="published:NAME, discovered:NAME, a rule file, a run "
                "directory, or a rule without meta-parameters: " + ", ".join(list_rules()),
            )
        # a missing file fails in load_rule: "no such file"
        rule_file = RunDir(path).rule(which) if path.is_dir() else path
        rule, meta_params, _ = load_rule(rule_file)
        label = f"{rule.name} ({rule_file.name})"
    rule, label = apply_kwargs(rule, meta_params, label, kwargs)
    return rule, meta_params, label


def apply_kwargs(rule: Rule, meta_params: Any, label: str, kwargs: Mapping[str, Any] | None) -> tuple[Rule, str]:
    """``rule`` with hyper-parameters ``kwargs`` (:func:`with_kwargs`) and its label saying so; unchanged if none."""
    if not kwargs:
        return rule, label
    rule = with_kwargs(rule, meta_params, **kwargs)
    return rule, label + " with " + " ".join(f"{k}={v}" for k, v in kwargs.items())
