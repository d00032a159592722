"""``metalearn eval``: the engine's one-rule shorthand (its spec, its folder, its verdicts), and the verdict words
of a stored pair judged outside a results folder."""

import json

import jax
import numpy as np
import pytest

from metalearn.analysis.clustered import judge
from metalearn.cli import main
from metalearn.evaluation import analyse, parse_spec, write_per_seed
from metalearn.evaluation.one_rule import default_out, one_rule_spec
from metalearn.evaluation.spec import spec_from_dict
from metalearn.rules import make_rule, save_rule


def test_the_shorthand_is_a_spec_with_one_arm_and_a_task_per_preset_and_budget():
    spec = one_rule_spec(
        "runs/x/rules/mean.npz",
        "lr_schedule (mean.npz)",
        ["cartpole", "acrobot"],
        budgets=["5e5", None],
        overrides=["eval_envs=0"],
        rule_overrides=["ent_coef=0"],
        baseline_overrides=["algorithm=a2c"],
        rule_tuned=True,
        tune=["lr=1e-3,1e-2"],
        tune_seeds=8,
        seeds=12,
        seed=3,
    )
    assert [(t.preset, t.budget, t.set) for t in spec.tasks] == [
        ("cartpole", 500000, ("eval_envs=0",)),
        ("cartpole", None, ("eval_envs=0",)),
        ("acrobot", 500000, ("eval_envs=0",)),
        ("acrobot", None, ("eval_envs=0",)),
    ]
    (arm,) = spec.arms
    assert (arm.label, arm.rules, arm.set, arm.tuned) == (
        "lr_schedule (mean.npz)",
        ("runs/x/rules/mean.npz",),
        ("ent_coef=0",),
        True,
    )
    b = spec.baseline
    assert (b.label, b.set, b.tune.grid, b.tune.seeds) == ("A2C", ("algorithm=a2c",), ("lr=1e-3,1e-2",), 8)
    assert (spec.name, spec.seeds, spec.seed) == ("eval_mean", 12, 3)
    # The same command resumes its folder; another (more seeds) gets its own, so a folder never changes meaning.
    again = one_rule_spec("runs/x/rules/mean.npz", "lr_schedule (mean.npz)", ["cartpole"], seeds=12)
    more = one_rule_spec("runs/x/rules/mean.npz", "lr_schedule (mean.npz)", ["cartpole"], seeds=16)
    stored = spec_from_dict(json.loads(json.dumps(again.to_dict())))  # as read back from spec.json
    assert default_out(again) == default_out(stored) != default_out(more)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"budgets": ["1024", "2048"], "tuned": "d"}, "--tuned with 2 tasks"),
        ({"tune": ["lr=1e-3"], "tuned": "d"}, "--tuned and --tune both"),
        ({"budgets": ["a lot"]}, "--budget 'a lot' is invalid; allowed: environment steps"),
        ({"budgets": ["0"]}, "--budget '0' is invalid"),
        ({"metric": "iqm"}, "unknown metric 'iqm'"),
        ({"seeds": 0}, "spec.seeds=0 is invalid; allowed: an integer >= 1"),
    ],
)
def test_bad_options_fail_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        one_rule_spec("dpo", "dpo", ["cartpole"], **kwargs)


def test_a_stored_pair_is_judged_by_the_difference_and_the_margin():
    low, high = np.arange(16.0), np.arange(16.0) + 100
    assert judge(high, low)["verdict"] == "better"
    assert judge(low, high)["verdict"] == "worse"
    assert judge(low + 1, low)["verdict"] == "not resolved (16 seeds)"  # overlapping: never "matches"
    # Equivalence: the whole interval of the IQM difference inside ±5% of the baseline's IQM (|IQM| ~1000 here).
    c = judge(low + 1000.5, low + 1000)
    assert c["verdict"] == "equivalent within ±50.4" and c["margin"] == pytest.approx(0.05 * 1007.5)
    c = judge(high, low)
    assert c["difference"][0] == pytest.approx(100.0) and c["x_iqm"][0] == pytest.approx(107.5)  # 4..11 + 100
    assert c["p_improvement"] == [1.0, 1.0, 1.0]
    clustered = np.array([0.0, 50.0, 100.0])[:, None, None] + low[None, None, :4]  # 3 rules that differ a lot
    assert judge(clustered, low + 50)["verdict"] == "not resolved (3 rules × 4 seeds vs 1 × 16)"


def test_the_table_names_each_arms_diverged_agents(tmp_path):
    spec = parse_spec(
        {"name": "d", "seeds": 3, "tasks": [{"preset": "cartpole"}], "arms": [{"label": "wild", "rule": "dpo"}]}
    )
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    folder = tmp_path / "per_seed" / spec.tasks[0].name
    folder.mkdir(parents=True)
    for name, diverged in (("wild", [1, 0, 1]), ("baseline_preset", [0, 0, 0])):
        inst = {"final_return": [1.0, 2.0, 3.0], "eval_return": [None] * 3, "diverged": diverged}
        (folder / f"{name}.json").write_text(json.dumps({"instances": [inst]}))
    results = analyse(tmp_path)
    arms = {r["arm"]: r for r in results["arms"]}
    assert arms["wild"]["diverged"] == [0, 2] and arms["wild"]["iqm"] is None
    assert arms["baseline (preset)"]["diverged"] == [] and arms["baseline (preset)"]["iqm"][0] == pytest.approx(2.0)
    table = (tmp_path / "table.md").read_text()
    assert "| cartpole | wild | 3 | n/a | 2/3 [0, 2] |" in table and "| cartpole | baseline (preset) | 3 |" in table
    assert "n/a (2 agents diverged or not evaluated)" in table


@pytest.mark.slow  # three PPO programs: the tuning rounds, the rule's agents, the preset's
def test_eval_cli_runs_the_engine_on_one_rule(tmp_path, capsys):
    rule = make_rule("lr_schedule", knots=4, init_lr=2.5e-4)
    save_rule(tmp_path / "rule.npz", rule, rule.init(jax.random.PRNGKey(0)))
    args = ["eval", str(tmp_path / "rule.npz"), "--preset", "cartpole", "--budget", "1024", "--seeds", "3"]
    extra = ["--baseline-set", "ent_coef=0", "--rule-tuned", "--json", str(tmp_path / "e.json"), "--seed", "3"]
    out_dir = tmp_path / "out"
    assert main([*args, "--tune", "lr=1e-4,1e-2", "--tune-seeds", "2", "--out", str(out_dir), *extra]) == 0
    out = capsys.readouterr().out
    assert "cartpole-1024: PPO tuned to lr=" in out and "| cartpole-1024 | lr_schedule (rule.npz) | 3 |" in out
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["command"].startswith("metalearn eval ") and "--tune lr=1e-4,1e-2" in record["command"]
    (task,) = record["evaluations"]
    assert task["preset"] == "cartpole" and task["total_timesteps"] == 1024 and task["seeds"] == 3
    assert f"verdict on cartpole-1024 (final_return, vs PPO (tuned)): {task['verdict']}" in out
    tuning = json.loads((out_dir / "tuning" / "cartpole-1024.json").read_text())
    assert tuning["chosen"]["lr"] in (1e-4, 1e-2, 2.5e-4) and any(p["preset"] for p in tuning["points"])
    # --baseline-set changed the baseline only; --rule-tuned gave the rule's arm the tuned lr, nothing else.
    assert task["baseline_config"]["ent_coef"] == 0.0 and task["rule_config"]["ent_coef"] == 0.01
    assert task["rule_config"]["lr"] == task["baseline_config"]["lr"] == tuning["chosen"]["lr"]
    # The same command again resumes the folder: nothing trains, the same verdict.
    assert main([*args, "--tune", "lr=1e-4,1e-2", "--tune-seeds", "2", "--out", str(out_dir), *extra]) == 0
    again = capsys.readouterr().out
    assert "seeds)" not in again.split("# eval_rule")[0] and json.loads((tmp_path / "e.json").read_text()) == record


def test_a_tuned_baseline_that_is_the_preset_is_not_resampled_against_itself(tmp_path):
    spec = {"name": "t", "seeds": 4, "tasks": [{"preset": "cartpole"}, {"preset": "acrobot"}], "arms": [{"label": "r"}]}
    spec["baseline"] = {"label": "PPO", "tune": {"grid": ["lr=1e-3,1e-2"]}}
    parsed = parse_spec(spec)
    (tmp_path / "spec.json").write_text(json.dumps(parsed.to_dict()))
    rng = np.random.default_rng(0)
    for task, tuned_lr in (("cartpole", 2.5e-4), ("acrobot", 1e-2)):  # the preset's lr 2.5e-4 won on cartpole only
        for name, lr in (("r", 2.5e-4), ("baseline_preset", 2.5e-4), ("baseline_tuned", tuned_lr)):
            inst = {"final_return": rng.normal(size=4).tolist(), "eval_return": [None] * 4, "diverged": [0] * 4}
            write_per_seed(tmp_path, task, name, [inst], config={"lr": lr})
    rows = {(r["x"], r["task"]): r for r in analyse(tmp_path)["contrasts"]}
    assert rows[("PPO (tuned)", "cartpole")]["verdict"] == "the same agents (tuning chose the preset's point)"
    assert "difference" not in rows[("PPO (tuned)", "cartpole")]
    assert "difference" in rows[("PPO (tuned)", "acrobot")]  # another point won there: a real contrast
