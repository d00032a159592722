"""Curricula in the meta-trainer: regret by hand, DR vs GROOVE levels, exact resume with the buffer."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.analysis import analyze
from metalearn.curriculum import scores
from metalearn.meta import MetaConfig, MetaTrainer, resume_run, start_run
from metalearn.meta.checkpoint import latest_checkpoint
from metalearn.pytree_io import flatten_with_names, load_pytree
from metalearn.rules import load_rule

from .conftest import tiny_meta_dict

# 2 updates of 4 envs x 10 steps per agent: the smallest LPG agent that still rolls out and learns.
_TRAIN = {"total_timesteps": 80, "num_envs": 4, "num_steps": 10, "final_window": 2, "aux_head_dim": 4}


def curriculum_dict(kind: str = "groove", score: str = "regret", generations: int = 3) -> dict:
    return {
        "rule": {"name": "lpg", "kwargs": {"hidden": 8, "embed": 4, "target_dim": 4}},
        "strategy": {"name": "open_es", "population_size": 4, "sigma": 0.1, "lr": 0.05},
        "tasks": [{"preset": "gridworld-lpg", "train": _TRAIN}],
        "curriculum": {
            "kind": kind,
            "score": score,
            "levels_per_generation": 3,
            "capacity": 4,
            "replay_prob": 0.5,
            "baseline_train": {k: v for k, v in _TRAIN.items() if k != "aux_head_dim"},
        },
        "generations": generations,
        "eval_every": 100,
        "eval_seeds": 2,
    }


@pytest.fixture(scope="module")
def groove():
    return MetaTrainer(MetaConfig.from_dict(curriculum_dict()))


# ------------------------------------------------------------------ scores
def test_regret_by_hand():
    baseline = jnp.array([1.0, 2.0, 0.0])
    rule = jnp.array([[0.5, 1.0, 0.2], [1.5, 3.0, 0.4], [100.0, 100.0, 100.0]])
    healthy = jnp.array([True, True, False])  # the diverged member is ignored
    np.testing.assert_allclose(scores.regret(baseline, rule, healthy), [0.0, 0.0, -0.3], atol=1e-6)
    np.testing.assert_allclose(scores.regret(baseline, rule[:1], healthy[:1]), [0.5, 1.0, -0.2], atol=1e-6)
    assert np.isnan(scores.regret(baseline, rule, jnp.zeros(3, bool))).all()  # no healthy member: skipped later
    np.testing.assert_allclose(scores.value_loss(rule, healthy), [1.0, 2.0, 0.3], atol=1e-6)


def test_regret_in_the_trainer_is_the_baselines_return_minus_the_populations(groove):
    """The trainer's score equals A2C trained directly on the same levels and seeds minus the members' mean."""
    state = groove.init()
    population, _ = groove.strategy.ask(jax.random.PRNGKey(1), state.es_state)
    batch, _ = groove._next_levels(jax.random.PRNGKey(2), state.levels)
    key = jax.random.PRNGKey(3)
    evaluation = groove.evaluate_population(population, key, batch.levels)
    healthy = ~evaluation.diverged
    got = groove.level_scores(key, batch.levels, evaluation, healthy)

    seed = jax.random.split(jax.random.fold_in(key, 0), 1)[0]  # seeds_per_member=1: the members' seed
    baseline_train, member_train = jax.jit(groove.baseline.train), jax.jit(groove.tasks[0].trainer.train)
    baseline = np.array([
        float(baseline_train(None, seed, jax.tree.map(lambda x, i=i: x[i], batch.levels)).final_return)
        for i in range(3)
    ])  # fmt: skip
    members = np.array([
        [
            float(member_train(
                jax.tree.map(lambda x, m=m: x[m], population), seed, jax.tree.map(lambda x, i=i: x[i], batch.levels)
            ).final_return)
            for i in range(3)
        ]
        for m in range(4)
    ])  # fmt: skip
    assert healthy.all()
    np.testing.assert_allclose(got, baseline - members.mean(0), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ levels
def test_groove_fills_its_buffer_and_rescores_replayed_levels(groove):
    state = groove.init()
    assert int(state.levels.size) == 0
    seen = []
    for _ in range(3):
        before = state.levels
        state, metrics = groove.generation(state)
        seen.append(jax.device_get(metrics["curriculum"]))
    buf = jax.device_get(state.levels)
    assert int(buf.step) == 3 and 3 <= int(buf.valid.sum()) <= 4
    assert np.isfinite(buf.scores[buf.valid]).all()
    assert seen[0]["replayed"] == 0.0  # an empty buffer replays nothing
    assert int(seen[-1]["buffer_size"]) == int(buf.valid.sum())
    # Whatever was replayed last generation got a new score or kept its slot; nothing else moved.
    assert jax.tree.structure(before) == jax.tree.structure(state.levels)


def test_dr_draws_fresh_levels_and_keeps_no_buffer():
    trainer = MetaTrainer(MetaConfig.from_dict(curriculum_dict(kind="dr", score="random")))
    state = trainer.init()
    assert state.levels == ()
    a, _ = trainer._next_levels(jax.random.PRNGKey(0), state.levels)
    b, _ = trainer._next_levels(jax.random.PRNGKey(1), state.levels)
    assert not bool(a.replayed.any())
    assert not np.array_equal(np.asarray(a.levels.walls), np.asarray(b.levels.walls))
    state, metrics = trainer.generation(state)
    assert np.isfinite(float(metrics["mean_fitness"])) and "buffer_size" not in metrics["curriculum"]


# ------------------------------------------------------------------ resume
def _checkpoint(run_dir) -> dict[str, np.ndarray]:
    """The latest checkpoint's leaves by name."""
    tree, _ = load_pytree(latest_checkpoint(run_dir), format="metalearn-checkpoint")
    names, leaves, _ = flatten_with_names(tree)
    return dict(zip(names, leaves, strict=True))


@pytest.mark.slow
def test_curriculum_run_resumes_exactly_buffer_included(tmp_path):
    config = MetaConfig.from_dict(curriculum_dict(generations=3))
    straight = start_run(config, run_dir=tmp_path / "straight", progress=False)
    cut = start_run(dataclasses.replace(config, generations=2), run_dir=tmp_path / "cut", progress=False)
    resume_run(cut, generations=3, progress=False)

    a, b = _checkpoint(straight), _checkpoint(cut)
    assert any(k.startswith("levels") for k in a), "the level buffer is not in the checkpoint"
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows = [json.loads(line) for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == [1, 2, 3] and "curriculum" in rows[-1]
    assert (straight / "levels.png").stat().st_size > 10_000
    assert load_rule(straight / "rules" / "mean.npz")[2]["num_updates"] == 2  # 80 steps of 4 envs x 10
    report = analyze(straight, out=tmp_path / "analysis")
    assert "](levels.png)" in report.read_text() and (tmp_path / "analysis" / "levels.png").is_file()


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "change,message",
    [
        ({"curriculum": {"kind": "plr"}}, r"curriculum.kind='plr' is invalid; allowed: dr \| groove"),
        ({"curriculum": {"distribution": "huge"}}, "curriculum.distribution='huge' is invalid"),
        ({"curriculum": {"score": "td"}}, "curriculum.score='td' is invalid; allowed: regret | value_loss | random"),
        ({"curriculum": {"baseline": "a2c"}}, "unknown preset 'a2c'"),
        ({"curriculum": {"capacity": 0}}, "capacity=0 is invalid"),
        ({"curriculum": {"levels": 4}}, r"unknown key\(s\) \['curriculum.levels'\]"),
        ({"tasks": [{"preset": "gridworld-lpg"}, {"preset": "cartpole-lpg"}]}, "allowed: exactly one"),
    ],
)
def test_bad_curriculum_configs_name_the_value(change, message):
    d = curriculum_dict()
    for k, v in change.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) else v
    with pytest.raises(ValueError, match=message):
        MetaConfig.from_dict(d)


def test_curriculum_needs_a_gridworld_task():
    d = curriculum_dict()
    d["tasks"] = [{"preset": "cartpole-lpg", "train": {"total_timesteps": 640}}]
    with pytest.raises(ValueError, match="needs a GridWorld task"):
        MetaTrainer(MetaConfig.from_dict(d))


def test_duplicate_task_names_are_refused():
    d = curriculum_dict()
    d["held_out_tasks"] = [{"preset": "gridworld-lpg", "env_kwargs": {"level": "dense"}}] * 2
    with pytest.raises(ValueError, match=r"gridworld-lpg\[level=dense\].*more than once"):
        MetaConfig.from_dict(d)


def test_runs_without_a_curriculum_keep_their_search_hash():
    """Adding the curriculum field must not orphan older runs: this hash was computed before it existed."""
    config = MetaConfig.from_dict(tiny_meta_dict())
    assert config.curriculum is None
    assert config.search_hash() == "e75c901b827825a9"


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["lpo", "open"])
def test_other_rules_on_a_curriculum_are_a_config_change(rule):
    """LPO (a PPO objective) and OPEN (an optimizer) meta-train on GROOVE levels by swapping rule and task."""
    d = curriculum_dict(generations=1)
    d["rule"] = {"name": rule}
    d["tasks"] = [{"preset": "gridworld-a2c", "train": {**_TRAIN, "algorithm": "ppo", "aux_head_dim": 0}}]
    trainer = MetaTrainer(MetaConfig.from_dict(d))
    state, metrics = trainer.generation(trainer.init())
    assert np.isfinite(float(metrics["mean_fitness"])) and int(metrics["nan_count"]) == 0
    assert int(state.levels.size) == 3
