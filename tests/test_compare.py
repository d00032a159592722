"""The evaluation engine: specs checked up front, seeds that tuned a baseline never score it, verdicts from the
clustered statistics, stored results re-analysed without training, and a whole comparison end to end."""

import json

import jax
import numpy as np
import pytest

from metalearn.cli import main
from metalearn.evaluation import analyse, check_disjoint, compare, evaluation_keys, key_overlap, load_spec, parse_spec
from metalearn.evaluation.engine import tuned_from_run
from metalearn.evaluation.spec import TaskSpec

from .conftest import TINY

TINY_SET = [f"{k}={getattr(TINY, k)}" for k in ("num_envs", "num_steps", "update_epochs", "num_minibatches")]
TINY_SET += [f"final_window={TINY.final_window}", "eval_envs=0"]


def _spec(**changes) -> dict:
    spec = {
        "name": "tiny",
        "seeds": 4,
        "tasks": [{"preset": "cartpole", "budget": TINY.total_timesteps, "set": TINY_SET}],
        "arms": [{"label": "DPO", "rule": "dpo"}, {"label": "Adam lr 1e-2", "set": ["lr=1e-2"]}],
        "baseline": {"label": "PPO", "tune": {"grid": ["lr=1e-4,1e-2"], "seeds": 2, "rounds": 2}},
    }
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arms": [{"label": "x", "rule": "ppo_clipp"}]}, r"unknown rule 'ppo_clipp'; did you mean: ppo_clip"),
        ({"tasks": [{"preset": "cartpol"}]}, r"unknown preset 'cartpol'; did you mean: cartpole"),
        ({"metric": "iqm"}, r"unknown metric 'iqm'; .*allowed: final_return, eval_return"),
        ({"seedz": 3}, r"unknown spec field 'seedz'; did you mean: seed, seeds"),
        ({"arms": [{"label": "x", "rules": ["a.npz", "b.npz", "c.npz"]}]}, r"seeds=4 do not divide among its 3 rule"),
        ({"instance_seeds": "all"}, r"unknown instance_seeds 'all'; .*allowed: split, shared"),
        ({"margin": 0}, r"spec.margin=0 is invalid; allowed: a positive number"),
        ({"margin": -1.5}, r"spec.margin=-1.5 is invalid; allowed: a positive number"),
        ({"baseline": {"tune": {"grid": ["lr=1e-4", "1e-2"]}}}, r"grid item '1e-2' is invalid; .*quote it"),
        ({"tasks": [{"preset": "cartpole", "score_range": [1, 0]}]}, r"score_range=\[1, 0\] is invalid"),
        ({"contrasts": [["DPO", "Adam"]]}, r"unknown arm label in contrasts 'Adam'"),
        ({"arms": [{"label": "x"}, {"label": "x"}]}, r"arm labels \['x'\] repeat"),
        (  # an agent-bringing rule's arm taking tuned values its agent ignores (DiscoRL's reads lr, not ent_coef)
            {
                "arms": [{"label": "D", "rule": "published:disco103", "tuned": True}],
                "baseline": {"tune": {"grid": ["lr=1e-3,1e-2", "ent_coef=0,0.01"], "seeds": 2}},
            },
            r"arm 'D': tuned: true gives disco \(published:disco103\) the baseline's tuned ent_coef, which its agent "
            r"\('disco'\) does not read",
        ),
    ],
)
def test_a_bad_spec_fails_in_one_line_before_anything_runs(changes, message, tmp_path):
    with pytest.raises(ValueError, match=message) as err:
        compare(_spec(**changes), tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()  # nothing written, nothing trained


def test_tuning_seeds_that_are_evaluation_seeds_are_refused(tmp_path):
    # split(PRNGKey(0), 8) is the first 8 of split(PRNGKey(0), 16) under this jax: the overlap the audit found.
    shared = key_overlap(evaluation_keys(0, 16), evaluation_keys(0, 8))
    assert shared, "no overlap: this jax splits keys differently; the test's premise changed"
    with pytest.raises(ValueError, match=r"evaluation seed\(s\) are seeds that tuned the baseline"):
        check_disjoint(evaluation_keys(0, 16), evaluation_keys(0, 8), "a tune run")
    check_disjoint(evaluation_keys(0, 16), evaluation_keys(1_000_003, 48), "the default tuning seeds")  # disjoint
    # A tuning seed equal to the evaluation seed, in the spec: refused before any training or file.
    spec = _spec(baseline={"tune": {"grid": ["lr=1e-4,1e-2"], "seeds": 2, "seed": 0}})
    with pytest.raises(ValueError, match=r"are seeds that tuned the baseline \(tuning seed 0"):
        compare(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tune_run_on_overlapping_seeds_is_refused_naming_the_overlap(tmp_path):
    chosen = {"preset": "cartpole", "set": ["lr=0.001"], "train": TINY.replace(lr=1e-3).to_dict()}
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    (tmp_path / "config.json").write_text(json.dumps({"seed": 0, "seeds": 8}))  # `metalearn tune`'s defaults
    task = TaskSpec(preset="cartpole")
    with pytest.raises(ValueError, match=r"8 evaluation seed\(s\) .* evaluation #0 = tuning #0"):
        tuned_from_run(tmp_path, task, TINY, evaluation_keys(0, 16))
    assert tuned_from_run(tmp_path, task, TINY, evaluation_keys(7, 16)) == TINY.replace(lr=1e-3)  # disjoint: used
    with pytest.raises(ValueError, match=r"tuned at total_timesteps=512, evaluating at 1,024.*--budget 1024"):
        tuned_from_run(tmp_path, task, TINY.replace(total_timesteps=1024), evaluation_keys(7, 16))
    with pytest.raises(ValueError, match=r"tuned on preset 'cartpole', evaluating on 'breakout'"):
        tuned_from_run(tmp_path, TaskSpec(preset="breakout"), TINY, evaluation_keys(7, 16))


def _write_results(out, spec: dict, arms: dict) -> None:
    """A results folder by hand: ``arms`` label -> (G, T, k) scores."""
    from metalearn.evaluation.spec import slug

    parsed = parse_spec(spec)
    out.mkdir()
    (out / "spec.json").write_text(json.dumps(parsed.to_dict()))
    for t, task in enumerate(parsed.tasks):
        folder = out / "per_seed" / task.name
        folder.mkdir(parents=True)
        for label, x in arms.items():
            instances = [
                {"final_return": x[g, t].tolist(), "eval_return": [None] * x.shape[2], "diverged": [0] * x.shape[2]}
                for g in range(x.shape[0])
            ]
            (folder / f"{slug(label)}.json").write_text(json.dumps({"instances": instances}))


def test_stored_results_are_reanalysed_with_clustered_intervals_and_verdict_words(tmp_path):
    rng = np.random.default_rng(0)
    tasks = [{"preset": "cartpole", "name": f"level{i}", "score_range": [0, 1]} for i in range(3)]
    arms = [{"label": "AR", "rules": ["dpo", "dpo", "dpo"]}, {"label": "far", "rule": "dpo"}]
    spec = _spec(seeds=12, tasks=tasks, arms=arms, contrasts=[["AR", "far"]], baseline={"label": "A2C"})
    ar = np.array([0.2, 0.5, 0.8])[:, None, None] + rng.normal(0, 0.02, (3, 3, 4))  # rules differ a lot
    data = {"AR": ar, "far": rng.normal(0.9, 0.01, (1, 3, 12)), "baseline_preset": rng.normal(0.5, 0.01, (1, 3, 12))}
    _write_results(tmp_path / "r", spec, data)
    results = analyse(tmp_path / "r")
    rows = {(r["x"], r["y"], r["task"]): r for r in results["contrasts"]}
    pooled = rows[("AR", "A2C (preset)", "pooled")]
    # Its three rules straddle the baseline: clustered, the interval of the difference holds 0: not resolved. The
    # i.i.d. bootstrap of the same 12 agents a level would have called it (checked in test_clustered).
    assert (
        pooled["difference"][1] < 0 < pooled["difference"][2]
        and pooled["verdict"] == "not resolved (3 rules × 4 seeds vs 1 × 12)"
    )
    assert rows[("far", "A2C (preset)", "pooled")]["verdict"] == "better"
    assert rows[("AR", "far", "level0")]["verdict"] == "worse"
    assert pooled["margin"] == 0.05 and pooled["normalised"]  # 5% of the unit range, over normalised tasks
    table = (tmp_path / "r" / "table.md").read_text()
    assert "matches" not in table and "| pooled | far | A2C (preset) |" in table
    assert (tmp_path / "r" / "figure.png").stat().st_size > 0
    # Equivalence needs the whole interval inside the stated margin.
    data["far"] = data["baseline_preset"] + rng.normal(0, 0.001, (1, 3, 12))
    _write_results(tmp_path / "e", {**spec, "margin": 0.02}, data)
    rows = {(r["x"], r["y"], r["task"]): r for r in analyse(tmp_path / "e")["contrasts"]}
    assert rows[("far", "A2C (preset)", "level1")]["verdict"] == "equivalent within ±0.02"


def test_a_folder_holding_another_spec_is_refused(tmp_path):
    _write_results(tmp_path / "r", _spec(), {})
    with pytest.raises(ValueError, match=r"already holds a different spec \(seeds differ\).*new named result"):
        compare(_spec(seeds=8), tmp_path / "r")


@pytest.mark.slow  # tunes and trains four tiny PPO programs
def test_compare_tunes_with_the_presets_point_trains_every_arm_and_resumes(tmp_path, capsys):
    out = tmp_path / "out"
    lines = []
    results = compare(_spec(), out, progress=lines.append)
    tuning = json.loads((out / "tuning" / "cartpole-512.json").read_text())
    points = [row["point"]["lr"] for row in tuning["points"]]
    assert points == [1e-4, 1e-2, 2.5e-4]  # the grid plus the preset's own point
    # Successive halving: round 1 trains all 3 points on 2 seeds, round 2 the better 2 on 2 more.
    assert sorted(row["seeds"] for row in tuning["points"]) == [2, 4, 4] and tuning["tuning_keys_used"] == 4
    best = max((r for r in tuning["points"] if r["seeds"] == 4), key=lambda r: r["iqm"][0])
    assert best["chosen"] and tuning["chosen"] == best["point"]
    # Every arm trained on the same evaluation keys: the DPO arm's agents are those of a direct training.
    from metalearn.envs import make_env
    from metalearn.inner import make_trainer, resolve_task
    from metalearn.rules import make_rule

    _, _, config = resolve_task("cartpole", overrides=[*TINY_SET, "total_timesteps=512"])
    dpo = make_rule("dpo")
    direct = jax.vmap(make_trainer(make_env("CartPole-v1"), config, objective=dpo.objective).train, (None, 0))
    expected = np.asarray(direct(None, evaluation_keys(0, 4)).final_return)
    stored = json.loads((out / "per_seed" / "cartpole-512" / "DPO.json").read_text())["instances"][0]
    np.testing.assert_allclose(stored["final_return"], expected, rtol=1e-6)
    assert {r["x"] for r in results["contrasts"]} == {"DPO", "Adam lr 1e-2", "PPO (tuned)"}
    assert len(stored["curve_mean"]) == 8 and (out / "curves.png").is_file()  # 8 updates' mean learning curve
    # Resuming a complete folder trains nothing and gives the same analysis.
    again = []
    assert compare(_spec(), out, progress=again.append) == json.loads((out / "results.json").read_text())
    assert again == [] and len(lines) >= 4
    # The CLI's re-analysis reads the same folder.
    assert main(["compare", "--analyse", str(out)]) == 0
    assert "| cartpole-512 | DPO | PPO (tuned) |" in capsys.readouterr().out


def test_a_rule_at_its_initialisation_is_a_reference():
    from metalearn.rules import make_rule, resolve_rule

    rule, meta_params, label = resolve_rule("init:lpo@3")
    expected = make_rule("lpo").init(jax.random.PRNGKey(3))
    assert rule.name == "lpo" and "init" in label
    assert all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(meta_params), jax.tree.leaves(expected), strict=True)
    )
    seed0 = jax.tree.leaves(resolve_rule("init:lpo")[1])  # the default seed is 0, another rule
    assert not all(np.array_equal(a, b) for a, b in zip(seed0, jax.tree.leaves(meta_params), strict=True))
    with pytest.raises(ValueError, match=r"seed 'x' is invalid; allowed: init:NAME@INTEGER"):
        resolve_rule("init:lpo@x")


def test_without_a_baseline_only_the_stated_contrasts_are_drawn(tmp_path):
    rng = np.random.default_rng(1)
    spec = _spec(
        baseline=None, arms=[{"label": "a", "rule": "dpo"}, {"label": "b", "rule": "dpo"}], contrasts=[["a", "b"]]
    )
    _write_results(tmp_path / "r", spec, {"a": rng.normal(1, 0.1, (1, 1, 4)), "b": rng.normal(0, 0.1, (1, 1, 4))})
    rows = analyse(tmp_path / "r")["contrasts"]
    assert [(r["x"], r["y"]) for r in rows] == [("a", "b")] and rows[0]["verdict"] == "better"
    with pytest.raises(ValueError, match=r"tuned: true but baseline is null"):
        parse_spec(_spec(baseline=None, arms=[{"label": "a", "rule": "dpo", "tuned": True}]))


@pytest.mark.parametrize(
    "content,message",
    [
        (b"name: x\nseeds: \xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 15\)"),
        (b"name: [x\n", "not valid YAML"),
        (b"[" * 20000, "nested too deeply to read"),
        (b"- a\n", "holds list; allowed: a mapping"),
    ],
)
def test_a_spec_file_that_cannot_be_read_is_named_in_one_line(content, message, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
