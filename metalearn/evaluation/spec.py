"""A comparison spec: rules × tasks × a tuned baseline × a seed count fixed before anything runs.

A spec is YAML (or a dict) with these keys; every other key is an error::

    name: lpo_cartpole            # names the result; a results folder holds one spec
    seeds: 16                     # evaluation agents per arm and task, fixed in advance
    seed: 0                       # evaluation keys: jax.random.split(PRNGKey(seed), seeds), the same for every arm
    instance_seeds: split         # a clustered arm's G instances share the S keys out (S/G each; default), or each
                                  # trains on all S (shared: G x S agents, the same keys for every instance)
    metric: final_return          # or eval_return
    margin: 10.0                  # optional: the equivalence margin in score units, stated before running
    relative_margin: 0.05         # else: this fraction of the task's score range, or of the baseline's |IQM|
    tasks:                        # each: a preset, optionally its budget, another env, env kwargs, --set overrides
      - {preset: cartpole, budget: 32768, set: [eval_envs=0], score_range: [0, 500]}
    arms:                         # each: one rule, or several instances (meta-seeds) of one rule: one clustered arm
      - {label: LPO, rule: runs/lpo/rules/mean.npz}
      - {label: LPO x3, rules: [runs/a, runs/b, runs/c]}
      - {label: Adam lr 1e-2, set: [lr=1e-2]}        # no rule: the hand-designed agent with these settings
    baseline:                     # the hand-designed agent, tuned here (or by a tune run) at each task's budget
      label: PPO
      set: [ent_coef=0]
      tune: {grid: [lr=1e-4,3e-4,1e-3], seeds: 16, rounds: 3, seed: 1000003}
    contrasts: [[LPO, LPO x3]]    # optional pairs of arms compared with each other too

Every arm is compared with the tuned baseline and with the untuned preset (the baseline's settings before
tuning), per task and pooled over tasks. ``baseline: null`` compares arms only with each other (``contrasts``),
for comparisons where no hand-designed agent is the reference (a rule before and after further meta-training).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metalearn.validation import read_yaml, unknown

METRICS = ("final_return", "eval_return")
INSTANCE_SEEDS = ("split", "shared")
TUNING_SEED_OFFSET = 1_000_003  # the default tuning seed is the evaluation seed + this


def _check_keys(where: str, d: Any, allowed: tuple[str, ...]) -> dict:
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}={d!r} is invalid; allowed: a mapping with keys {', '.join(allowed)}")
    for key in d:
        if key not in allowed:
            raise unknown(f"{where} field", key, allowed)
    return dict(d)


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value or ()):
        raise ValueError(f"{where}={value!r} is invalid; allowed: a list of strings")
    return tuple(value or ())


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}={value!r} is invalid; allowed: an integer >= 1")
    return value


def slug(text: str) -> str:
    """A file-name-safe form of a label: letters, digits, ``.``, ``-``, ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task: a preset at a budget, optionally on another env / level, with TrainConfig overrides."""

    preset: str
    budget: int | None = None
    env: str | None = None
    env_kwargs: Mapping[str, Any] | None = None
    set: tuple[str, ...] = ()
    score_range: tuple[float, float] | None = None
    name: str = ""

    @property
    def overrides(self) -> list[str]:
        return list(self.set) + ([f"total_timesteps={self.budget}"] if self.budget is not None else [])


@dataclasses.dataclass(frozen=True)
class ArmSpec:
    """One arm: a rule reference, several (one clustered arm), or none (the hand-designed agent)."""

    label: str
    rules: tuple[str, ...] = ()
    which: str = "mean"
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    set: tuple[str, ...] = ()
    tuned: bool = False  # the arm also takes every value the baseline's tuning changed


@dataclasses.dataclass(frozen=True)
class TuneSpec:
    """Successive halving over a grid on tuning seeds: every point gets ``seeds``; each round the better half
    (by IQM) gets ``seeds`` more, for up to ``rounds`` rounds; the best IQM over all its seeds is chosen."""

    grid: tuple[str, ...]
    seeds: int = 16
    rounds: int = 3
    seed: int | None = None  # None: the spec's seed + TUNING_SEED_OFFSET


@dataclasses.dataclass(frozen=True)
class BaselineSpec:
    """The hand-designed agent: the preset's after ``set``, tuned by ``tune`` or a tune run (``tuned``)."""

    label: str = "baseline"
    set: tuple[str, ...] = ()
    tune: TuneSpec | None = None
    tuned: str | None = None  # a `metalearn tune` run directory (one task only)

    @property
    def tunes(self) -> bool:
        """Whether a tuned baseline exists beside the untuned preset (tuned here, or by a tune run)."""
        return self.tune is not None or self.tuned is not None


@dataclasses.dataclass(frozen=True)
class CompareSpec:
    name: str
    seeds: int
    tasks: tuple[TaskSpec, ...]
    arms: tuple[ArmSpec, ...]
    baseline: BaselineSpec | None = BaselineSpec()
    seed: int = 0
    metric: str = "final_return"
    margin: float | None = None
    relative_margin: float = 0.05
    contrasts: tuple[tuple[str, str], ...] = ()
    instance_seeds: str = "split"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def arm(self, label: str) -> ArmSpec:
        return next(a for a in self.arms if a.label == label)


def _task(i: int, d: Any) -> TaskSpec:
    where = f"tasks[{i}]"
    d = _check_keys(where, d, tuple(f.name for f in dataclasses.fields(TaskSpec)))
    if not isinstance(d.get("preset"), str):
        raise ValueError(f"{where}.preset={d.get('preset')!r} is invalid; allowed: a preset name (metalearn list)")
    from metalearn.inner.presets import get_preset

    get_preset(d["preset"])  # an unknown preset fails here, listing close names
    if d.get("budget") is not None:
        budget = d["budget"]
        budget = int(float(budget)) if isinstance(budget, str | float) and float(budget).is_integer() else budget
        d["budget"] = _positive_int(f"{where}.budget", budget)
    if d.get("env_kwargs") is not None and not isinstance(d["env_kwargs"], Mapping):
        raise ValueError(f"{where}.env_kwargs={d['env_kwargs']!r} is invalid; allowed: a mapping")
    d["set"] = _strings(f"{where}.set", d.get("set"))
    if d.get("score_range") is not None:
        r = d["score_range"]
        if not (isinstance(r, list | tuple) and len(r) == 2 and all(isinstance(v, int | float) for v in r)):
            raise ValueError(f"{where}.score_range={r!r} is invalid; allowed: [low, high], numbers")
        if not r[1] > r[0]:
            raise ValueError(f"{where}.score_range={list(r)!r} is invalid; allowed: [low, high] with high > low")
        d["score_range"] = (float(r[0]), float(r[1]))
    task = TaskSpec(**d)
    if not task.name:
        extra = [f"{task.budget}"] if task.budget else []
        extra += [task.env] if task.env else []
        extra += [f"{k}={v}" for k, v in (task.env_kwargs or {}).items()]
        task = dataclasses.replace(task, name=slug("-".join([task.preset, *extra])))
    return task


def _arm(i: int, d: Any) -> ArmSpec:
    where = f"arms[{i}]"
    d = _check_keys(where, d, ("label", "rule", "rules", "which", "kwargs", "set", "tuned"))
    if not isinstance(d.get("label"), str) or not d["label"]:
        raise ValueError(f"{where}.label={d.get('label')!r} is invalid; allowed: a non-empty string")
    if "rule" in d and "rules" in d:
        raise ValueError(f"{where}: both rule and rules given; allowed: one rule, or rules (one arm's instances)")
    rules = (d.pop("rule"),) if "rule" in d else _strings(f"{where}.rules", d.pop("rules", ()))
    if not all(isinstance(r, str) for r in rules):
        raise ValueError(f"{where}.rule={rules[0]!r} is invalid; allowed: a rule reference (a string)")
    if not rules and d.get("kwargs"):
        raise ValueError(f"{where}.kwargs given without a rule; allowed: kwargs of a rule")
    if d.get("which", "mean") not in ("mean", "best"):
        raise ValueError(f"{where}.which={d['which']!r} is invalid; allowed: mean, best")
    if not isinstance(d.get("kwargs", {}), Mapping):
        raise ValueError(f"{where}.kwargs={d['kwargs']!r} is invalid; allowed: a mapping of hyper-parameters")
    if not isinstance(d.get("tuned", False), bool):
        raise ValueError(f"{where}.tuned={d['tuned']!r} is invalid; allowed: true or false")
    d["set"] = _strings(f"{where}.set", d.get("set"))
    return ArmSpec(rules=rules, **d)


def _baseline(d: Any, seeds_allowed: bool) -> BaselineSpec:
    d = _check_keys("baseline", d, ("label", "set", "tune", "tuned"))
    d["set"] = _strings("baseline.set", d.get("set"))
    if d.get("tune") is not None and d.get("tuned") is not None:
        raise ValueError("baseline: both tune and tuned given; allowed: one (a grid to tune here, or a tune run)")
    if d.get("tune") is not None:
        t = _check_keys("baseline.tune", d["tune"], ("grid", "seeds", "rounds", "seed"))
        t["grid"] = _strings("baseline.tune.grid", t.get("grid"))
        if not t["grid"]:
            raise ValueError("baseline.tune.grid is empty; allowed: FIELD=V1,V2,... items (e.g. lr=1e-4,3e-4)")
        for item in t["grid"]:
            if "=" not in item:
                raise ValueError(
                    f"baseline.tune.grid item {item!r} is invalid; allowed: FIELD=V1,V2,... (in YAML quote it: "
                    f"grid: ['lr=1e-4,1e-3'], or a block list, since a flow list splits at commas)"
                )
        for key in ("seeds", "rounds"):
            if key in t:
                _positive_int(f"baseline.tune.{key}", t[key])
        if t.get("seed") is not None and (isinstance(t["seed"], bool) or not isinstance(t["seed"], int)):
            raise ValueError(f"baseline.tune.seed={t['seed']!r} is invalid; allowed: an integer")
        d["tune"] = TuneSpec(**t)
    if d.get("tuned") is not None and not seeds_allowed:
        raise ValueError("baseline.tuned with several tasks; allowed: one task (a tune run tunes one preset, budget)")
    return BaselineSpec(**d)


def parse_spec(d: Mapping[str, Any]) -> CompareSpec:
    """A :class:`CompareSpec` from a mapping, every field checked (one-line errors naming the field)."""
    allowed = tuple(f.name for f in dataclasses.fields(CompareSpec))
    d = _check_keys("spec", d, allowed)
    for key in ("name", "seeds", "tasks", "arms"):
        if key not in d:
            raise ValueError(f"spec has no {key!r}; required: name, seeds, tasks, arms")
    if not isinstance(d["name"], str) or not d["name"] or slug(d["name"]) != d["name"]:
        raise ValueError(f"spec.name={d['name']!r} is invalid; allowed: letters, digits, '.', '-', '_'")
    _positive_int("spec.seeds", d["seeds"])
    if isinstance(d.get("seed", 0), bool) or not isinstance(d.get("seed", 0), int):
        raise ValueError(f"spec.seed={d['seed']!r} is invalid; allowed: an integer")
    if d.get("metric", "final_return") not in METRICS:
        raise unknown("metric", d["metric"], METRICS)
    for key in ("margin", "relative_margin"):
        value = d.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0):
            raise ValueError(f"spec.{key}={value!r} is invalid; allowed: a positive number")
    if not isinstance(d["tasks"], list) or not d["tasks"]:
        raise ValueError(f"spec.tasks={d['tasks']!r} is invalid; allowed: a non-empty list of tasks")
    if not isinstance(d["arms"], list) or not d["arms"]:
        raise ValueError(f"spec.arms={d['arms']!r} is invalid; allowed: a non-empty list of arms")
    d["tasks"] = tuple(_task(i, t) for i, t in enumerate(d["tasks"]))
    d["arms"] = tuple(_arm(i, a) for i, a in enumerate(d["arms"]))
    for kind, names in (("task name", [t.name for t in d["tasks"]]), ("arm label", [a.label for a in d["arms"]])):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{kind}s {repeated} repeat; allowed: each {kind} once")
    if d.get("instance_seeds", "split") not in INSTANCE_SEEDS:
        raise unknown("instance_seeds", d["instance_seeds"], INSTANCE_SEEDS)
    for arm in d["arms"]:
        if d.get("instance_seeds", "split") == "split" and arm.rules and d["seeds"] % len(arm.rules):
            raise ValueError(
                f"arm {arm.label!r}: seeds={d['seeds']} do not divide among its {len(arm.rules)} rule instances; "
                f"allowed: a multiple of {len(arm.rules)} (each instance trains seeds / instances agents), or "
                "instance_seeds: shared"
            )
    if "baseline" in d and d["baseline"] is None:  # no hand-designed reference: arms vs arms only
        if any(a.tuned for a in d["arms"]):
            raise ValueError("an arm has tuned: true but baseline is null; allowed: a baseline to take values from")
    else:
        d["baseline"] = _baseline(d.get("baseline", {}), seeds_allowed=len(d["tasks"]) == 1)
    labels = [a.label for a in d["arms"]]
    contrasts = []
    for pair in d.get("contrasts", []) or []:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValueError(f"spec.contrasts item {pair!r} is invalid; allowed: [ARM_LABEL, ARM_LABEL]")
        for label in pair:
            if label not in labels:
                raise unknown("arm label in contrasts", label, labels)
        contrasts.append((pair[0], pair[1]))
    d["contrasts"] = tuple(contrasts)
    return CompareSpec(**d)


def load_spec(source: str | Path | Mapping[str, Any]) -> CompareSpec:
    """A spec from a YAML/JSON file or a mapping."""
    if isinstance(source, Mapping):
        return parse_spec(source)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{path}: no such spec file; allowed: a YAML or JSON comparison spec")
    data = read_yaml(path, "a YAML or JSON comparison spec (see metalearn.evaluation.spec)")
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: holds {type(data).__name__}; allowed: a mapping (see metalearn.evaluation.spec)")
    try:
        return parse_spec(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def spec_from_dict(d: Mapping[str, Any]) -> CompareSpec:
    """Inverse of :meth:`CompareSpec.to_dict` (a stored spec.json): parse it again, nested specs included."""
    d = dict(d)
    d["tasks"] = [{k: v for k, v in t.items() if v is not None} for t in d["tasks"]]
    arms = []
    for a in d["arms"]:
        a = dict(a)
        rules = a.pop("rules")
        arms.append({**a, **({"rules": rules} if rules else {})})
    d["arms"] = arms
    if d.get("baseline") is not None:
        b = {k: v for k, v in d["baseline"].items() if v is not None}
        if "tune" in b:
            b["tune"] = {k: v for k, v in b["tune"].items() if v is not None}
        d["baseline"] = b
    d["contrasts"] = [list(c) for c in d.get("contrasts", [])]
    return parse_spec(d)
