"""Meta-training configuration: nested frozen dataclasses, loaded from YAML or dicts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from metalearn.curriculum.config import CurriculumConfig, renamed_kind
from metalearn.es import StrategyConfig
from metalearn.inner import TrainConfig, resolve_task
from metalearn.validation import check_type, field_error, read_yaml

FITNESS_STATS = ("final_return", "eval_return", "mean_return")
TASK_SAMPLINGS = ("shared", "antithetic")
FITNESS_SHAPINGS = ("strategy", "pair_winner")
# The antithetic-pair options and their defaults (the behaviour from before they existed).
_PAIR_OPTIONS = {"task_sampling": "shared", "fitness_shaping": "strategy"}
# meta_gradient options added after runs were stored, and their defaults (the behaviour from before them).
_MG_ADDED = {"freeze_critic": False}
# The config format a run records in its config.json (``config_version``): 2 since the curriculum kinds were
# named for what they are (``plr``, ``groove``); a config.json without one is version 1, in the old names.
CONFIG_VERSION = 2
# Curriculum kinds hash under the names they had before the renames, so runs stored then keep their hash.
_HASHED_KINDS = {"plr": "groove", "groove": "groove_buffer"}

# Fields left out of the search hash of a regime's runs, so runs stored before the fields existed keep their hash.
_NOT_HASHED_IN = {"es": ("regime", "meta_gradient")}
# Fields that do not change the search itself (only how long it runs, how it is
# observed and logged); a run may be resumed with different values for them.
_NOT_HASHED = {
    "generations",
    "eval_every",
    "eval_seeds",
    "held_out_tasks",
    "checkpoint_every",
    "keep_checkpoints",
    "tensorboard",
    "wandb",
    "wandb_project",
}


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """One inner task: an inner preset, optionally on another env, with overrides.

    ``reference_return`` normalises this task's fitness (return / reference,
    as OPEN did across envs) so tasks can be mixed; ``None`` leaves it raw.
    """

    preset: str
    env: str | None = None
    env_kwargs: Mapping[str, Any] | None = None
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reference_return: float | None = None

    def __post_init__(self) -> None:
        self.resolve()  # fails now on an unknown preset or a bad override
        if self.reference_return is not None and not self.reference_return > 0:
            raise ValueError(f"task {self.name}: reference_return={self.reference_return} must be > 0 (or null)")

    @property
    def name(self) -> str:
        """``preset``, ``preset@env``, plus ``[k=v,...]`` when ``env_kwargs`` are given (e.g. a level)."""
        name = self.preset if self.env is None else f"{self.preset}@{self.env}"
        if self.env_kwargs:
            name += "[" + ",".join(f"{k}={v}" for k, v in self.env_kwargs.items()) + "]"
        return name

    def resolve(self) -> tuple[str, dict[str, Any], TrainConfig]:
        """(env name, env kwargs, inner TrainConfig)."""
        return resolve_task(self.preset, self.env, self.env_kwargs, self.train)


@dataclasses.dataclass(frozen=True)
class MetaGradientConfig:
    """The persistent-agent regime (``regime: meta_gradient``); defaults are the GROOVE reference's.

    ``num_agents`` agents live across meta-steps; each meta-step moves every
    agent ``updates_per_step`` (K) updates and applies the meta-gradient of
    their regularised loss (coefficients β0…β3 below) with Adam at ``lr``,
    clipped to ``max_grad_norm`` (0: no clipping). ``agent_batches`` splits
    the agents into that many sequential chunks (memory ÷ agent_batches).
    A generation (one metrics row, one checkpoint) is ``steps_per_generation``
    meta-steps. ``adam_eps_root`` goes inside the square root of the agents'
    Adam when their task leaves ``train.adam_eps_root`` at 0 (optax's advice
    for differentiating through Adam: at 0 the meta-gradient is NaN wherever
    an agent's gradient is exactly zero). ``freeze_critic`` keeps every
    agent's value critic at its random initialisation (its advantages come
    from that fixed baseline): the GROOVE reference's behaviour, by a bug
    there (its critic update discards the new parameters), for replication
    only. See :mod:`metalearn.meta.metagrad`.
    """

    num_agents: int = 8
    updates_per_step: int = 5
    steps_per_generation: int = 10
    lr: float = 1e-4
    max_grad_norm: float = 0.5
    policy_entropy_coef: float = 5e-2
    target_entropy_coef: float = 1e-3
    policy_l2_coef: float = 5e-3
    target_l2_coef: float = 1e-3
    agent_batches: int = 1
    adam_eps_root: float = 1e-8
    freeze_critic: bool = False

    def __post_init__(self) -> None:
        for f in ("num_agents", "updates_per_step", "steps_per_generation", "agent_batches"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise field_error(self, f, "an integer >= 1", prefix="meta_gradient")
        if self.num_agents % self.agent_batches:
            raise field_error(
                self, "agent_batches", f"a divisor of num_agents={self.num_agents}", prefix="meta_gradient"
            )
        if not self.lr > 0:
            raise field_error(self, "lr", "a number > 0", prefix="meta_gradient")
        for f in (
            "max_grad_norm",
            "policy_entropy_coef",
            "target_entropy_coef",
            "policy_l2_coef",
            "target_l2_coef",
            "adam_eps_root",
        ):
            if not getattr(self, f) >= 0:
                raise field_error(self, f, "a number >= 0", prefix="meta_gradient")


@dataclasses.dataclass(frozen=True)
class RuleConfig:
    """The rule searched over: its registry ``name`` and ``kwargs``; ``start`` (optional) begins the search
    from existing meta-parameters instead of ``init``: any rule reference :func:`metalearn.rules.resolve_rule`
    reads (``published:NAME`` e.g. ``published:disco103``, ``discovered:NAME`` from the zoo, a rule ``.npz``
    file or a run directory's mean rule), which must be the same rule."""

    name: str = "lr_schedule"
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    start: str | None = None

    def __post_init__(self) -> None:
        if self.start is not None and (not isinstance(self.start, str) or not self.start):
            raise field_error(
                self, "start", "null, published:NAME, discovered:NAME, a rule .npz or a run directory", prefix="rule"
            )


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """A meta-training run: which rule, which search, on which tasks, for how long.

    Fitness of a member is ``fitness`` (a statistic of its inner TrainResult)
    averaged over ``seeds_per_member`` seeds and over ``tasks`` (each divided
    by its ``reference_return`` when set). Every ``eval_every`` generations the
    mean rule is trained on ``eval_seeds`` held-out seeds on the tasks and on
    ``held_out_tasks``.

    ``curriculum`` (optional, :class:`CurriculumConfig`) trains the one task
    on gridworld levels chosen each generation (domain randomisation or
    GROOVE's regret-prioritised buffer) instead of its fixed env.

    ``regime`` (a name in :data:`metalearn.meta.registry.REGIMES`): ``es``
    (every generation trains fresh agents for whole lifetimes and ``strategy``
    updates the rule) or ``meta_gradient`` (persistent agents, K updates per
    meta-step, the rule updated by the meta-gradient, with the settings in
    ``meta_gradient``; one task). Each regime owns its settings (ES:
    ``strategy``, ``task_sampling``, ``fitness_shaping``; meta-gradients:
    ``meta_gradient``): a run of one regime with another's set is refused by
    name, and the regime checks what else it needs (``check_config``).

    ES as GROOVE/TA-LPG run it (options of ``regime: es``; both need a
    strategy that samples antithetic pairs, ``Strategy.antithetic_pairs``):

    * ``task_sampling``: ``"shared"`` (default) trains every member on the same
      ``seeds_per_member`` seeds and on all the generation's levels;
      ``"antithetic"`` (antithetic task sampling) gives each antithetic pair
      its own seeds and, with a curriculum, its own level, shared by its two
      members, so a generation sees N/2 levels (``curriculum.levels_per_generation``
      must be ``strategy.population_size / 2``) and each member trains on one.
    * ``fitness_shaping``: ``"strategy"`` (default) tells the strategy the
      fitness, shaped by ``strategy.fitness_shaping``; ``"pair_winner"`` tells
      it 1 for the fitter member of each pair and 0 for the other (a tie: the
      first member, +ε, gets 0; a diverged member always 0), unshaped:
      ``strategy.fitness_shaping`` must be ``none`` or null (null means none
      here). Logged fitness stays the raw fitness.
    """

    rule: RuleConfig = dataclasses.field(default_factory=RuleConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    tasks: tuple[TaskConfig, ...] = (TaskConfig("cartpole"),)
    held_out_tasks: tuple[TaskConfig, ...] = ()
    curriculum: CurriculumConfig | None = None
    regime: str = "es"
    meta_gradient: MetaGradientConfig = dataclasses.field(default_factory=MetaGradientConfig)
    generations: int = 50
    seeds_per_member: int = 1
    fitness: str = "final_return"
    task_sampling: str = "shared"
    fitness_shaping: str = "strategy"
    eval_every: int = 10
    eval_seeds: int = 8
    checkpoint_every: int = 1
    keep_checkpoints: int = 2
    seed: int = 0
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "metalearn"

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("tasks is empty; allowed: a list of at least one task")
        for f in (
            "generations",
            "seeds_per_member",
            "eval_every",
            "eval_seeds",
            "checkpoint_every",
            "keep_checkpoints",
        ):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise field_error(self, f, "an integer >= 1", prefix="")
        if self.fitness not in FITNESS_STATS:
            raise field_error(self, "fitness", " | ".join(FITNESS_STATS), prefix="")
        if self.fitness == "eval_return" and any(t.resolve()[2].eval_envs == 0 for t in self.tasks):
            raise ValueError("fitness='eval_return' needs every task's train.eval_envs >= 1")
        names = [t.name for t in (*self.tasks, *self.held_out_tasks)]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"task names {dup} appear more than once; allowed: each task and held-out task once")
        if self.curriculum is not None and len(self.tasks) != 1:
            raise ValueError(
                f"curriculum with {len(self.tasks)} tasks; allowed: exactly one (GridWorld) task, whose levels "
                "the curriculum picks (put other envs in held_out_tasks)"
            )
        if self.task_sampling not in TASK_SAMPLINGS:
            raise field_error(self, "task_sampling", " | ".join(TASK_SAMPLINGS), prefix="")
        if self.fitness_shaping not in FITNESS_SHAPINGS:
            raise field_error(self, "fitness_shaping", " | ".join(FITNESS_SHAPINGS), prefix="")
        self._check_regime()

    def _check_regime(self) -> None:
        """The regime exists, no other regime's settings are set, and the regime can run this config."""
        from metalearn.meta.registry import REGIMES  # the regimes import this module

        if self.regime not in REGIMES:
            raise field_error(self, "regime", " | ".join(REGIMES), prefix="")
        for name, regime in REGIMES.items():
            for field in regime.owns if name != self.regime else ():
                default = _default(field)
                if getattr(self, field) != default:
                    raise ValueError(
                        f"{field} is a setting of regime={name}, set in a regime={self.regime} run; allowed with "
                        f"regime={self.regime}: {field} left out (at its default, {_shown(default)})"
                    )
        REGIMES[self.regime].check_config(self)

    # ------------------------------------------------------------ dict / YAML
    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], version: int = CONFIG_VERSION) -> MetaConfig:
        """A config from a mapping in the names of config format ``version`` (a run's config.json records
        its own: read it with :func:`stored_config`)."""
        d = dict(d)
        _check_keys("", d, cls)
        if "rule" in d:
            _check_keys("rule.", d["rule"], RuleConfig)
            d["rule"] = RuleConfig(**d["rule"])
        if "strategy" in d:
            _check_keys("strategy.", d["strategy"], StrategyConfig)
            d["strategy"] = StrategyConfig(**d["strategy"])
        if "meta_gradient" in d:
            _check_keys("meta_gradient.", d["meta_gradient"], MetaGradientConfig)
            d["meta_gradient"] = MetaGradientConfig(**d["meta_gradient"])
        if d.get("curriculum") is not None:
            _check_keys("curriculum.", d["curriculum"], CurriculumConfig)
            d["curriculum"] = CurriculumConfig(**renamed_kind(d["curriculum"], stored=version < 2))
        for field in ("tasks", "held_out_tasks"):
            if field in d:
                if not isinstance(d[field], list | tuple):
                    raise ValueError(f"{field} must be a list of tasks, got {type(d[field]).__name__}")
                for i, t in enumerate(d[field]):
                    _check_keys(f"{field}.{i}.", t, TaskConfig)
                d[field] = tuple(TaskConfig(**t) for t in d[field])
        return cls(**d)

    def search_hash(self) -> str:
        """Hash of everything that determines the search (see ``_NOT_HASHED``)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        if d["curriculum"] is None:
            del d["curriculum"]  # runs from before curricula existed keep their hash
        else:  # and runs from before the kinds' renames
            d["curriculum"]["kind"] = _HASHED_KINDS.get(d["curriculum"]["kind"], d["curriculum"]["kind"])
        for field in _NOT_HASHED_IN.get(d["regime"], ()):
            del d[field]  # likewise ES runs from before the meta-gradient regime
        for field, default in _PAIR_OPTIONS.items():
            if d[field] == default:
                del d[field]  # and runs from before the antithetic-pair options (at their defaults) too
        for field, default in _MG_ADDED.items():
            if d.get("meta_gradient", {}).get(field) == default:
                del d["meta_gradient"][field]  # and meta-gradient runs from before these options
        if d["rule"].get("start") is None:
            d["rule"] = {k: v for k, v in d["rule"].items() if k != "start"}  # and from before rule.start
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _default(field: str) -> Any:
    """MetaConfig's default value of ``field``."""
    f = MetaConfig.__dataclass_fields__[field]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _shown(value: Any) -> str:
    """A default as a config file spells it."""
    return json.dumps(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)


def stored_config(saved: Mapping[str, Any]) -> MetaConfig:
    """The config of a run from its config.json contents ``saved``, read in the names of the
    ``config_version`` it records (none: 1, the names from before the curriculum kinds were renamed)."""
    version = saved.get("config_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= CONFIG_VERSION:
        raise ValueError(
            f"config_version={version!r} is invalid; allowed: an integer in [1, {CONFIG_VERSION}] "
            "(a larger one is from a newer metalearn)"
        )
    return MetaConfig.from_dict(saved["config"], version=version)


def _check_keys(prefix: str, d: Any, cls: type) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(d) - set(fields)))
    if unknown:
        raise ValueError(
            f"unknown key(s) {[prefix + k for k in unknown]}; allowed: {sorted(prefix + a for a in fields)}"
        )
    required = [
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in d]
    if missing:
        raise ValueError(f"{prefix.rstrip('.') or 'config'}: missing key(s) {[prefix + n for n in missing]}")
    for key, value in d.items():
        check_type(prefix + key, value, fields[key].type)


# The named experiments ship with the package (metalearn/experiments/NAME.yaml), read as package data.
EXPERIMENTS_DIR = resources.files("metalearn") / "experiments"


def list_experiments() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in EXPERIMENTS_DIR.iterdir() if p.name.endswith(".yaml"))


def load_config_dict(spec: str) -> dict[str, Any]:
    """A config as a dict from a YAML path or the name of an experiment shipped in ``metalearn/experiments/``."""
    allowed = "a YAML mapping of config entries"
    path = Path(spec)
    if path.is_file():
        d = read_yaml(path, allowed)
    elif spec in list_experiments():
        with resources.as_file(EXPERIMENTS_DIR / f"{spec}.yaml") as path:
            d = read_yaml(path, allowed)
    else:
        raise ValueError(
            f"no config file {spec!r} and no experiment of that name; experiments: {', '.join(list_experiments())}"
        )
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return d
