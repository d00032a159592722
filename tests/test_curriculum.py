"""Curricula in the meta-trainer: regret by hand, each kind's levels, old kind names, exact resume with the buffer."""

from __future__ import annotations

import dataclasses
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.analysis import analyze
from metalearn.curriculum import LevelBatch, PLRConfig, scores
from metalearn.curriculum.base import Curriculum, random_levels
from metalearn.curriculum.config import CurriculumConfig
from metalearn.curriculum.registry import CURRICULA
from metalearn.meta import ESTrainer, MetaConfig, resume_run, start_run
from metalearn.meta.checkpoint import latest_checkpoint
from metalearn.meta.config import CONFIG_VERSION, stored_config
from metalearn.pytree_io import flatten_with_names, load_pytree
from metalearn.rules import load_rule

from .conftest import tiny_meta_dict

# 2 updates of 4 envs x 10 steps per agent: the smallest LPG agent that still rolls out and learns.
_TRAIN = {"total_timesteps": 80, "num_envs": 4, "num_steps": 10, "final_window": 2, "aux_head_dim": 4}


def curriculum_dict(kind: str = "plr", score: str = "regret", generations: int = 3) -> dict:
    # Scores read from the agents' critic need it trained (the LPG preset's vf_coef is 0).
    train = {**_TRAIN, "vf_coef": 0.5} if scores.LEVEL_SCORES[score].needs_critic else dict(_TRAIN)
    return {
        "rule": {"name": "lpg", "kwargs": {"hidden": 8, "embed": 4, "target_dim": 4}},
        "strategy": {"name": "open_es", "population_size": 4, "sigma": 0.1, "lr": 0.05},
        "tasks": [{"preset": "gridworld-lpg", "train": train}],
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
def plr():
    return ESTrainer(MetaConfig.from_dict(curriculum_dict()))


# ------------------------------------------------------------------ scores
def test_regret_by_hand():
    baseline = jnp.array([1.0, 2.0, 0.0])
    rule = jnp.array([[0.5, 1.0, 0.2], [1.5, 3.0, 0.4], [100.0, 100.0, 100.0]])
    healthy = jnp.array([True, True, False])  # the diverged member is ignored
    np.testing.assert_allclose(scores.regret(baseline, rule, healthy), [0.0, 0.0, -0.3], atol=1e-6)
    np.testing.assert_allclose(scores.regret(baseline, rule[:1], healthy[:1]), [0.5, 1.0, -0.2], atol=1e-6)
    assert np.isnan(scores.regret(baseline, rule, jnp.zeros(3, bool))).all()  # no healthy member: skipped later
    np.testing.assert_allclose(scores.healthy_mean(rule, healthy), [1.0, 2.0, 0.3], atol=1e-6)


def _score_one_batch(trainer: ESTrainer):
    """A population evaluated on 3 levels of the curriculum, and the levels' scores: (population, batch, key,
    evaluation, scores)."""
    state = trainer.init()
    population, _ = trainer.strategy.ask(jax.random.PRNGKey(1), state.es_state)
    batch, _ = trainer.curriculum.next_levels(jax.random.PRNGKey(2), state.levels, 3)
    key = jax.random.PRNGKey(3)
    evaluation = trainer.evaluate_population(population, key, batch.levels)
    scores = np.asarray(trainer.level_scores(key, batch.levels, evaluation, ~evaluation.diverged))
    return population, batch, key, evaluation, scores


@pytest.mark.slow
def test_regret_in_the_trainer_is_the_baselines_return_minus_the_populations(plr):
    """The trainer's score equals A2C trained directly on the same levels and seeds minus the members' mean."""
    population, batch, key, evaluation, got = _score_one_batch(plr)
    healthy = ~evaluation.diverged

    seed = jax.random.split(jax.random.fold_in(key, 0), 1)[0]  # seeds_per_member=1: the members' seed
    baseline_train, member_train = jax.jit(plr.baseline.train), jax.jit(plr.tasks[0].trainer.train)
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
@pytest.mark.slow
def test_plr_fills_its_buffer_and_rescores_replayed_levels(plr):
    state = plr.init()
    assert int(state.levels.size) == 0
    seen = []
    for _ in range(3):
        before = state.levels
        state, metrics = plr.generation(state)
        seen.append(jax.device_get(metrics.curriculum))
    buf = jax.device_get(state.levels)
    assert int(buf.step) == 3 and 3 <= int(buf.valid.sum()) <= 4
    assert np.isfinite(buf.scores[buf.valid]).all()
    assert seen[0]["replayed"] == 0.0  # an empty buffer replays nothing
    assert int(seen[-1]["buffer_size"]) == int(buf.valid.sum())
    assert int((before.valid != state.levels.valid).sum()) <= 3  # at most the generation's new levels were added

    # Rescoring the trained buffer: a round with replayed and new levels, then ``record``.
    for k in range(100):
        batch, mid = plr.curriculum.next_levels(jax.random.PRNGKey(k), state.levels, 3)
        if batch.replayed.any() and not batch.replayed.all():
            break
    replayed = np.asarray(batch.replayed)
    # A score per slot (repeated draws of a slot agree); NaN for the new levels, which the buffer skips.
    new_scores = jnp.where(batch.replayed, 100.0 + batch.indices, jnp.nan)
    after = plr.curriculum.record(mid, batch, new_scores)
    rescored = np.unique(np.asarray(batch.indices)[replayed])
    np.testing.assert_array_equal(np.asarray(after.scores)[rescored], 100.0 + rescored)
    untouched = np.setdiff1d(np.arange(4), rescored)
    chex.assert_trees_all_equal(after.scores[untouched], mid.scores[untouched])
    chex.assert_trees_all_equal(after._replace(scores=mid.scores), mid)  # levels, staleness, validity, step

    # A new level that beats the lowest entry takes exactly one slot; every other slot stays as it was.
    one_new = LevelBatch(jax.tree.map(lambda x: x[:1], batch.levels), -jnp.ones(1, jnp.int32), jnp.zeros(1, bool))
    after = plr.curriculum.record(mid, one_new, jnp.array([1e6]))
    moved = np.flatnonzero(np.asarray(after.scores) != np.asarray(mid.scores))
    assert moved.size == 1 and float(after.scores[moved[0]]) == 1e6
    keep = np.setdiff1d(np.arange(4), moved)
    slots = lambda st: jax.tree.map(lambda x: x[keep], tuple(st[:4]))  # levels, scores, last_sampled, valid
    chex.assert_trees_all_equal(slots(after), slots(mid))


@pytest.mark.slow
def test_dr_draws_fresh_levels_and_keeps_no_buffer():
    trainer = ESTrainer(MetaConfig.from_dict(curriculum_dict(kind="dr", score="random")))
    state = trainer.init()
    assert state.levels == ()
    a, _ = trainer.curriculum.next_levels(jax.random.PRNGKey(0), state.levels, 3)
    b, _ = trainer.curriculum.next_levels(jax.random.PRNGKey(1), state.levels, 3)
    assert not bool(a.replayed.any())
    assert not np.array_equal(np.asarray(a.levels.walls), np.asarray(b.levels.walls))
    state, metrics = trainer.generation(state)
    assert np.isfinite(float(metrics.mean_fitness)) and "buffer_size" not in metrics.curriculum


class _Toy(Curriculum):
    """A third kind, defined here: the same ``n`` levels of key 7 every generation; counts rounds, keeps scores."""

    def init(self, key):
        del key
        return {"rounds": jnp.zeros((), jnp.int32), "last_scores": jnp.zeros((3,), jnp.float32)}

    def next_levels(self, key, state, n):
        del key
        batch = LevelBatch(
            random_levels(self.family, jax.random.PRNGKey(7), n), -jnp.ones(n, jnp.int32), jnp.zeros(n, bool)
        )
        return batch, {**state, "rounds": state["rounds"] + 1}

    def record(self, state, batch, scores):
        return {**state, "last_scores": scores}

    def metrics(self, state):
        return {"toy_rounds": state["rounds"]}


def test_a_third_curriculum_kind_is_one_class_and_one_registry_line(monkeypatch):
    """The trainer reaches a curriculum only through its interface: a kind defined here meta-trains as is."""
    monkeypatch.setitem(CURRICULA, "toy", _Toy)
    trainer = ESTrainer(MetaConfig.from_dict(curriculum_dict(kind="toy", score="value_loss")))
    assert isinstance(trainer.curriculum, _Toy)
    state = trainer.init()
    state, metrics = trainer.generation(state)
    assert np.isfinite(float(metrics.mean_fitness)) and int(metrics.nan_count) == 0
    c = jax.device_get(metrics.curriculum)
    assert int(c["toy_rounds"]) == 1 and c["replayed"] == 0.0 and "buffer_size" not in c
    assert int(state.levels["rounds"]) == 1
    assert np.isfinite(np.asarray(state.levels["last_scores"])).all()  # the value-loss scores were recorded
    np.testing.assert_allclose(float(c["batch_score"]), float(np.mean(state.levels["last_scores"])), rtol=1e-6)
    levels = random_levels(trainer.curriculum.family, jax.random.PRNGKey(7), 3)
    np.testing.assert_allclose(float(c["walls"]), float(levels.walls.sum((-2, -1)).mean()))
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"curriculum.kind='toy' is invalid; allowed: groove \| plr \| dr \| frozen"):
        MetaConfig.from_dict(curriculum_dict(kind="toy"))


@pytest.mark.slow  # ~23 s cold on 2 cores (test-fast stays within 5 min)
def test_the_groove_buffer_scores_what_it_trained_on_and_resets_the_lowest():
    """kind=groove in the ES regime: every level a generation trains on is scored when it ends."""
    d = curriculum_dict(kind="groove", score="value_loss")
    d["curriculum"]["capacity"] = 6
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state = trainer.init()
    assert bool(state.levels.new.all()) and not bool(state.levels.active.any())
    for _ in range(2):
        state, metrics = trainer.generation(state)
    buf = jax.device_get(state.levels)
    assert not buf.active.any()  # every agent's lifetime ended, so no level is in use
    assert 3 <= int((~buf.new).sum()) <= 6 and np.isfinite(buf.scores).all()
    c = jax.device_get(metrics.curriculum)
    assert int(c["buffer_size"]) == int((~buf.new).sum())
    np.testing.assert_allclose(float(c["buffer_score_mean"]), float(buf.scores[~buf.new].mean()), rtol=1e-6)
    with pytest.raises(ValueError, match=r"curriculum.capacity=5 is invalid; allowed: an integer >= 2 x levels"):
        MetaConfig.from_dict({**d, "curriculum": {**d["curriculum"], "capacity": 5}})


def test_frozen_samples_only_its_fixed_levels_and_scores_change_nothing():
    d = curriculum_dict(kind="frozen", score="random")
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state = trainer.init()
    fixed = jax.device_get(state.levels)
    assert fixed.walls.shape[0] == 4  # capacity
    for g in range(2):
        batch, after = trainer.curriculum.next_levels(jax.random.PRNGKey(g), state.levels, 3)
        chex.assert_trees_all_equal(after, state.levels)
        picked = np.asarray(batch.indices)
        chex.assert_trees_all_equal(batch.levels, jax.tree.map(lambda x, i=picked: x[i], fixed))
        assert bool(batch.replayed.all())
        recorded = trainer.curriculum.record(after, batch, jnp.arange(3.0))
        chex.assert_trees_all_equal(recorded, state.levels)
    with pytest.raises(ValueError, match=r"curriculum.capacity=0 is invalid; allowed: an integer >= 1"):
        MetaConfig.from_dict({**d, "curriculum": {**d["curriculum"], "capacity": 0}})


def test_scores_that_read_the_critic_or_rollouts_refuse_runs_that_lack_them():
    d = curriculum_dict(kind="groove", score="positive_value_loss")
    d["curriculum"]["capacity"] = 6
    d["tasks"][0]["train"]["vf_coef"] = 0.0
    with pytest.raises(ValueError, match=r"score='positive_value_loss' reads the agents' critic.*vf_coef=0.0"):
        ESTrainer(MetaConfig.from_dict(d))
    d = curriculum_dict(kind="groove", score="alg_regret")
    d["curriculum"]["capacity"] = 6
    d["tasks"][0]["train"]["eval_envs"] = 0
    with pytest.raises(ValueError, match=r"score='alg_regret' evaluates agents by rollouts, but the task's eval_envs"):
        ESTrainer(MetaConfig.from_dict(d))


@pytest.mark.slow  # the antagonist trains 250 updates
def test_alg_regret_trains_the_antagonist_for_the_familys_longest_lifetime_and_scores_by_rollouts():
    """GROOVE's score: antagonist (A2C, the family's 250 updates) minus each agent, both by evaluation rollouts."""
    d = curriculum_dict(kind="groove", score="alg_regret")
    d["curriculum"]["capacity"] = 6
    trainer = ESTrainer(MetaConfig.from_dict(d))
    assert trainer.antagonist.config.num_updates == trainer.curriculum.family.max_lifetime == 250
    _, batch, key, evaluation, got = _score_one_batch(trainer)
    healthy = ~evaluation.diverged

    seed = jax.random.split(jax.random.fold_in(key, 0), 1)[0]  # seeds_per_member=1: the members' seed
    antagonist = jax.jit(jax.vmap(trainer.antagonist.train, in_axes=(None, None, 0)))(None, seed, batch.levels)
    assert healthy.all()
    expected = np.asarray(antagonist.eval_return) - np.asarray(evaluation.level_stats["eval_return"]).mean(0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.asarray(antagonist.eval_return).max() > 0  # A2C learned something on some level in 250 updates

    # The score as the trainer wires it (its own antagonist, the members' seeds): agents that return what the
    # antagonist returns have AR 0; agents that earn nothing have AR = the antagonist's return.
    def alg_regret(agent_return: jax.Array) -> jax.Array:  # (M, L) -> (L,)
        stats = {"eval_return": agent_return}
        inputs = scores.ScoreInputs(key, batch.levels, stats, healthy, antagonist_return=trainer._antagonist_return)
        return trainer.level_score.fn(inputs)

    same = jnp.broadcast_to(antagonist.eval_return, evaluation.level_stats["eval_return"].shape)
    equal, nothing = jax.jit(jax.vmap(alg_regret))(jnp.stack([same, jnp.zeros_like(same)]))
    np.testing.assert_allclose(equal, 0.0, atol=1e-5)
    np.testing.assert_allclose(nothing, antagonist.eval_return, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ resume
def _checkpoint(run_dir) -> dict[str, np.ndarray]:
    """The latest checkpoint's leaves by name."""
    tree, _ = load_pytree(latest_checkpoint(run_dir), format="metalearn-checkpoint")
    names, leaves, _ = flatten_with_names(tree)
    return dict(zip(names, leaves, strict=True))


@pytest.mark.slow
def test_curriculum_run_resumes_exactly_buffer_included(tmp_path):
    """A PLR run stopped after 2 generations resumes to what 3 straight give, from a config.json stored before
    the kinds were renamed (no config_version; the PLR buffer named ``groove``), which it brings up to date."""
    config = MetaConfig.from_dict(curriculum_dict(generations=3))
    straight = start_run(config, run_dir=tmp_path / "straight", progress=False)
    cut = start_run(dataclasses.replace(config, generations=2), run_dir=tmp_path / "cut", progress=False)
    saved = json.loads((cut / "config.json").read_text())
    assert saved["config_version"] == CONFIG_VERSION and saved["config"]["curriculum"]["kind"] == "plr"
    del saved["config_version"]
    saved["config"]["curriculum"]["kind"] = "groove"
    (cut / "config.json").write_text(json.dumps(saved))
    with pytest.warns(
        FutureWarning, match=r"kind='groove' in a run stored before the kinds were renamed is read as 'plr'"
    ):
        resume_run(cut, generations=3, progress=False)
    saved = json.loads((cut / "config.json").read_text())
    assert saved["config_version"] == CONFIG_VERSION and saved["config"]["curriculum"]["kind"] == "plr"

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
        ({"curriculum": {"kind": "prl"}}, r"curriculum.kind='prl' is invalid; allowed: groove \| plr \| dr \| frozen"),
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
        ESTrainer(MetaConfig.from_dict(d))


def test_duplicate_task_names_are_refused():
    d = curriculum_dict()
    d["held_out_tasks"] = [{"preset": "gridworld-lpg", "env_kwargs": {"level": "dense"}}] * 2
    with pytest.raises(ValueError, match=r"gridworld-lpg\[level=dense\].*more than once"):
        MetaConfig.from_dict(d)


# ------------------------------------------------------------------ names and defaults
# Search hashes computed before the kinds were renamed: `groove` (now `plr`) and `groove_buffer` (now `groove`).
OLD_HASHES = {"plr": "2922d8890540960a", "groove": "83930540ac3a9dd9"}


def _old_hash_dict(kind: str) -> dict:
    d = curriculum_dict(kind=kind, score="regret" if kind == "plr" else "value_loss")
    if kind == "groove":
        d["curriculum"]["capacity"] = 6
    return d


@pytest.mark.parametrize(("kind", "old"), [("plr", "groove"), ("groove", "groove_buffer")])
def test_runs_stored_before_the_renames_read_the_old_kind_names_and_keep_their_hash(kind, old):
    """A config.json without config_version names kinds as before: ``groove`` was the PLR buffer."""
    today = MetaConfig.from_dict(_old_hash_dict(kind))
    assert today.search_hash() == OLD_HASHES[kind]
    stored = today.to_dict()
    stored["curriculum"]["kind"] = old
    with pytest.warns(FutureWarning, match=rf"kind='{old}' in a run stored before .* is read as '{kind}'"):
        config = stored_config({"config": stored, "search_hash": OLD_HASHES[kind]})
    assert config == today and config.search_hash() == OLD_HASHES[kind]
    assert stored_config({"config": today.to_dict(), "config_version": CONFIG_VERSION}) == today
    with pytest.raises(
        ValueError, match=rf"config_version=3 is invalid; allowed: an integer in \[1, {CONFIG_VERSION}\]"
    ):
        stored_config({"config": today.to_dict(), "config_version": 3})


def test_the_old_name_of_groove_is_accepted_with_a_warning():
    d = _old_hash_dict("groove")
    d["curriculum"]["kind"] = "groove_buffer"
    with pytest.warns(FutureWarning, match=r"^curriculum.kind='groove_buffer' is deprecated; use 'groove' \(GROOVE"):
        config = MetaConfig.from_dict(d)
    assert config == MetaConfig.from_dict(_old_hash_dict("groove")) and config.curriculum.kind == "groove"


def test_defaults_are_the_published_groove_and_defined_once():
    """GROOVE's own buffer of 4000 levels, replay probability 0.5, rank at temperature 1, algorithmic regret
    (EmptyJackson/groove's --buffer_size, --p_replay, --score_transform, --score_temperature with
    --score_function alg_regret); PLRConfig takes the buffer settings from the curriculum's defaults."""
    c = CurriculumConfig()
    assert (c.kind, c.score, c.capacity, c.replay_prob, c.score_transform, c.temperature) == (
        "groove", "alg_regret", 4000, 0.5, "rank", 1.0,
    )  # fmt: skip
    shared = {f.name for f in dataclasses.fields(PLRConfig)} & {f.name for f in dataclasses.fields(CurriculumConfig)}
    assert shared == {"capacity", "replay_prob", "score_transform", "temperature", "staleness_coef"}
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(PLRConfig) if f.name in shared)
    assert {k: getattr(CurriculumConfig(kind="plr").plr(), k) for k in shared} == {k: getattr(c, k) for k in shared}


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
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state, metrics = trainer.generation(trainer.init())
    assert np.isfinite(float(metrics.mean_fitness)) and int(metrics.nan_count) == 0
    assert int(state.levels.size) == 3


def test_a_new_level_score_is_one_function_and_one_registry_line(monkeypatch):
    """The trainer reaches a level score only through LEVEL_SCORES: one defined here (minus the healthy members'
    mean return, "prefer levels the population fails") scores the batch, and PLR records exactly those scores."""

    def failing(s: scores.ScoreInputs) -> jax.Array:
        returns = s.level_stats["return"]  # (M, L)
        healthy = s.healthy[:, None] if s.healthy.ndim == 1 else s.healthy
        return -jnp.nanmean(jnp.where(healthy, returns, jnp.nan), axis=0)

    monkeypatch.setitem(scores.LEVEL_SCORES, "failing", scores.LevelScore(failing))  # the registry line
    trainer = ESTrainer(MetaConfig.from_dict(curriculum_dict(kind="plr", score="failing", generations=1)))
    state, metrics = trainer.generation(trainer.init())
    c = jax.device_get(metrics.curriculum)
    assert int(metrics.nan_count) == 0
    told = np.asarray(c["level_scores"])  # (L,) the scores of the batch's levels...
    np.testing.assert_allclose(float(c["batch_return"]), float(-np.mean(told)), rtol=1e-5)  # ...are minus returns
    buffer = jax.device_get(state.levels)  # and the buffer holds them (every level of the first batch is new)
    stored = np.sort(np.asarray(buffer.scores)[np.asarray(buffer.valid)])
    np.testing.assert_allclose(stored, np.sort(told)[-len(stored) :], rtol=1e-6)
    monkeypatch.undo()
    d = curriculum_dict()
    d["curriculum"]["score"] = "failing"
    with pytest.raises(ValueError, match=r"curriculum.score='failing' is invalid; allowed: regret \| "):
        MetaConfig.from_dict(d)
