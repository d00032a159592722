"""Regimes as values: the run loop, checkpoints and evaluation know only the Regime interface; each regime's
settings are its own; a new regime is one class plus one registry line."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.meta import REGIMES, ESTrainer, GenerationMetrics, MetaConfig, resume_run, start_run
from metalearn.meta.context import MetaContext
from metalearn.meta.plan import format_plan, plan
from metalearn.meta.shrink import shrink
from metalearn.rules import load_rule
from metalearn.runs import read_jsonl

from .conftest import tiny_meta_dict

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ each regime's settings are its own
@pytest.mark.parametrize(
    "change,message",
    [
        (
            {"regime": "meta_gradient", "strategy": {"name": "snes"}},
            r"^strategy is a setting of regime=es, set in a regime=meta_gradient run; allowed with "
            r'regime=meta_gradient: strategy left out \(at its default, \{"name": "open_es", ',
        ),
        (
            {"regime": "meta_gradient", "fitness_shaping": "pair_winner"},
            r"^fitness_shaping is a setting of regime=es, set in a regime=meta_gradient run",
        ),
        (
            {"meta_gradient": {"num_agents": 4}},
            r"^meta_gradient is a setting of regime=meta_gradient, set in a regime=es run; allowed with regime=es: "
            r"meta_gradient left out",
        ),
        ({"regime": "llm"}, r"^regime='llm' is invalid; allowed: es \| meta_gradient$"),
    ],
)
def test_a_setting_of_another_regime_is_refused_by_name(change, message):
    d = {**tiny_meta_dict(), **change}
    if d.get("regime") == "meta_gradient" and "strategy" not in change:
        del d["strategy"]
    with pytest.raises(ValueError, match=message):
        MetaConfig.from_dict(d)


def test_a_regimes_settings_at_their_defaults_are_accepted_anywhere():
    """What a run's config.json stores (every field, the other regime's at its defaults) reads back."""
    d = {**tiny_meta_dict(), "regime": "meta_gradient"}
    del d["strategy"]
    stored = MetaConfig.from_dict(d).to_dict()
    assert "strategy" in stored and MetaConfig.from_dict(stored).regime == "meta_gradient"


def test_no_regime_string_checks_outside_the_registry():
    """``regime ==`` (or ``!=``) in the package outside the regime registry would be a regime told apart by name."""
    out = subprocess.run(
        ["grep", "-rnE", r"regime\"?\]?\)? *[!=]=", "--include=*.py", "metalearn"], cwd=ROOT, capture_output=True
    )
    hits = [line for line in out.stdout.decode().splitlines() if not line.startswith("metalearn/meta/registry.py")]
    assert hits == []


# ------------------------------------------------------------------ a fourth regime, defined here
class _HillState(NamedTuple):
    mean: Any
    key: jax.Array
    generation: jax.Array
    best_fitness: jax.Array
    best_params: Any
    levels: Any = ()


class _HillClimb(MetaContext):
    """A toy regime: each generation tries ``TRIES`` Gaussian steps around the rule on the first task and moves to
    the fittest when it beats the rule itself; settings are class constants, so it owns no config field."""

    name: ClassVar[str] = "hill_climb"
    owns: ClassVar[tuple[str, ...]] = ()
    TRIES, STEP = 3, 0.1

    @classmethod
    def check_config(cls, config: MetaConfig) -> None:
        if config.curriculum is not None:
            raise ValueError("curriculum is invalid with regime=hill_climb; allowed: none")

    @staticmethod
    def shrink(d: dict[str, Any], population: int) -> None:
        del d, population

    def __init__(self, config: MetaConfig, devices: list | None = None):
        super().__init__(config, devices)
        self.init = jax.jit(self._init)
        self.generation = jax.jit(self._generation)

    def _init(self) -> _HillState:
        zero = jnp.zeros((), jnp.int32)
        key = jax.random.PRNGKey(self.config.seed)
        return _HillState(self.initial_mean, key, zero, jnp.asarray(-jnp.inf), self.initial_mean)

    def _score(self, params: Any, key: jax.Array) -> jax.Array:
        seeds = self._task_seeds(key, 0, self.config.seeds_per_member)
        results = jax.vmap(self.tasks[0].trainer.train, in_axes=(None, 0, None))(params, seeds, None)
        return self._fitness(self.tasks[0], results).mean()

    def _generation(self, state: _HillState) -> tuple[_HillState, GenerationMetrics]:
        key, k_step, k_eval = jax.random.split(state.key, 3)
        leaves, tree = jax.tree.flatten(state.mean)
        noise = [
            jax.random.normal(k, (self.TRIES, *x.shape))
            for k, x in zip(jax.random.split(k_step, len(leaves)), leaves, strict=True)
        ]
        tries = jax.tree.unflatten(tree, [x + self.STEP * n for x, n in zip(leaves, noise, strict=True)])
        fitness = jax.vmap(self._score, in_axes=(0, None))(tries, k_eval)  # (TRIES,)
        here = self._score(state.mean, k_eval)
        i = jnp.argmax(fitness)
        moved = fitness[i] > here
        mean = jax.tree.map(lambda t, m: jnp.where(moved, t[i], m), tries, state.mean)
        best = jnp.maximum(fitness[i], here)
        improved = best > state.best_fitness
        state = _HillState(
            mean,
            key,
            state.generation + 1,
            jnp.where(improved, best, state.best_fitness),
            jax.tree.map(lambda new, old: jnp.where(improved, new, old), mean, state.best_params),
        )
        metrics = GenerationMetrics(
            generation=state.generation,
            best_fitness=fitness.max(),
            mean_fitness=fitness.mean(),
            median_fitness=jnp.median(fitness),
            nan_count=jnp.sum(~jnp.isfinite(fitness)),
            task_fitness=fitness.mean()[None],
            fitness=fitness,
            search={"moved": moved.astype(jnp.float32)},
            curriculum={},
        )
        return state, metrics

    def mean_params(self, state: _HillState) -> Any:
        return state.mean

    def env_steps_per_generation(self) -> int:
        c = self.tasks[0].trainer.config
        return (self.TRIES + 1) * self.config.seeds_per_member * c.num_updates * c.batch_size

    def describe(self) -> str:
        return f"{self.TRIES} tries + the rule x {self.config.seeds_per_member} seed(s)"

    def search_label(self) -> str:
        return "hill climbing"

    def smaller(self) -> str:
        return "a smaller seeds_per_member or num_envs"


@pytest.mark.slow  # trains, resumes and plans the regime: its generation and evaluation compile (~30 s)
def test_a_fourth_regime_is_one_class_and_one_registry_line(monkeypatch, tmp_path):
    """Run loop, checkpoints, exact resume, evaluation, rules, plan and shrink reach a regime only through its
    interface: one defined here trains, resumes bit-identically and plans as is; its rule then starts another run
    (``rule.start`` = its run directory)."""
    monkeypatch.setitem(REGIMES, "hill_climb", _HillClimb)
    d = {**tiny_meta_dict(generations=2, timesteps=256), "regime": "hill_climb", "eval_every": 1}
    del d["strategy"]
    config = MetaConfig.from_dict(d)
    straight = start_run(config, run_dir=tmp_path / "straight", progress=False)
    rows = read_jsonl(straight / "metrics.jsonl")
    assert [r["generation"] for r in rows] == [1, 2] and all(r["moved"] in (0.0, 1.0) for r in rows)
    assert len(read_jsonl(straight / "eval.jsonl")) == 3  # the starting rule, then every generation
    _, meta_params, _ = load_rule(straight / "rules" / "mean.npz")
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(meta_params))

    stopped = start_run(MetaConfig.from_dict({**d, "generations": 1}), run_dir=tmp_path / "resumed", progress=False)
    resume_run(stopped, generations=2, progress=False)
    drop_seconds = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert drop_seconds(read_jsonl(stopped / "metrics.jsonl")) == drop_seconds(rows)
    assert (stopped / "eval.jsonl").read_text() == (straight / "eval.jsonl").read_text()

    p = plan(config, repeats=0)
    assert p.who == "3 tries + the rule x 2 seed(s)" and "(hill_climb, rule lr_schedule, 3 tries" in format_plan(p, "t")
    assert shrink(d)["regime"] == "hill_climb" and "strategy" not in shrink(d)
    assert json.loads((straight / "config.json").read_text())["config"]["regime"] == "hill_climb"
    monkeypatch.undo()
    with pytest.raises(ValueError, match=re.escape("regime='hill_climb' is invalid; allowed: es | meta_gradient")):
        MetaConfig.from_dict(d)

    # A run directory is a rule reference like any other, so another run (of any regime) can start from its rule.
    started = ESTrainer(MetaConfig.from_dict({**tiny_meta_dict(), "rule": {**d["rule"], "start": str(straight)}}))
    for a, b in zip(jax.tree.leaves(started.initial_mean), jax.tree.leaves(meta_params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
