"""The evaluation protocol: a rule vs a baseline tuned at the same budget, on seeds the tuning never saw."""

import json

import jax
import numpy as np
import pytest

from metalearn import protocol
from metalearn.cli import main
from metalearn.rules import make_rule, save_rule

from .conftest import TINY


@pytest.mark.slow  # the halving rounds' programs
def test_tuning_here_refuses_tuning_seeds_that_are_evaluation_seeds(cartpole, monkeypatch):
    keys = protocol.evaluation_keys(5, 4)
    baseline = protocol.tuned_here(cartpole, TINY, ["lr=1e-4,1e-2"], seeds=2, seed=5, eval_keys=keys)
    assert "tuned here by successive halving on" in baseline.how
    # Tuning seeds derived so that they are the evaluation seeds: refused before anything trains.
    monkeypatch.setattr(protocol, "tuning_seed", lambda seed: seed)
    with pytest.raises(ValueError, match=r"evaluation seed\(s\) are seeds that tuned the baseline"):
        protocol.tuned_here(cartpole, TINY, ["lr=1e-4,1e-2"], seeds=2, seed=5, eval_keys=keys)


def test_a_tune_run_is_used_only_for_its_preset_budget_and_disjoint_seeds(tmp_path):
    chosen = {"preset": "cartpole", "set": ["lr=0.001"], "train": TINY.replace(lr=1e-3).to_dict()}
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    (tmp_path / "config.json").write_text(json.dumps({"seed": 0, "seeds": 8}))
    keys = protocol.evaluation_keys(3, 16)
    baseline = protocol.tuned_from_run(tmp_path, "cartpole", TINY, keys)
    assert baseline.config == TINY.replace(lr=1e-3) and "lr=0.001" in baseline.how
    with pytest.raises(ValueError, match=r"evaluation #0 = tuning #0"):  # `metalearn tune` and `eval` at seed 0
        protocol.tuned_from_run(tmp_path, "cartpole", TINY, protocol.evaluation_keys(0, 16))
    with pytest.raises(ValueError, match=r"tuned at total_timesteps=512, evaluating at 1,024.*--budget 1024"):
        protocol.tuned_from_run(tmp_path, "cartpole", TINY.replace(total_timesteps=1024), keys)
    with pytest.raises(ValueError, match=r"tuned on preset 'cartpole', evaluating on 'breakout'"):
        protocol.tuned_from_run(tmp_path, "breakout", TINY, keys)
    with pytest.raises(ValueError, match=r"no chosen\.json"):
        protocol.tuned_from_run(tmp_path / "nowhere", "cartpole", TINY, keys)


def test_the_table_gives_both_arms_and_the_probability_of_improvement():
    rule = protocol.Arm("rule", np.arange(8.0) + 10, np.full(8, np.nan), np.zeros(8, bool))
    base = protocol.Arm("base", np.arange(8.0), np.full(8, np.nan), np.array([True] + [False] * 7))
    text = protocol.table(rule, base)
    assert "| rule | 13.50 ± 0.87 | 13.50 [" in text and "| n/a | n/a | 0/8 |" in text
    assert "| DIVERGED on 1/8 seeds [0] |" in text
    assert "P(rule > baseline) on final_return: 1.00 [1.00, 1.00]" in text
    assert "P(rule" not in protocol.table(rule, base, "eval_return")  # no evaluation rollouts: no probability
    with pytest.raises(ValueError, match="metric='iqm' is invalid; allowed: final_return, eval_return"):
        protocol.table(rule, base, "iqm")


def _evaluation(rule: np.ndarray, baseline: np.ndarray) -> protocol.Evaluation:
    arm = lambda label, x: protocol.Arm(label, x, np.full(x.size, np.nan), np.zeros(x.size, bool))
    return protocol.Evaluation(
        "cartpole", "CartPole-v1", 512, 0, "final_return", "fixed", TINY, TINY, arm("rule", rule), arm("base", baseline)
    )


def test_the_verdict_words_read_the_difference_and_the_margin():
    low, high = np.arange(16.0), np.arange(16.0) + 100
    assert protocol.verdict(_evaluation(high, low)) == "better"
    assert protocol.verdict(_evaluation(low, high)) == "worse"
    assert protocol.verdict(_evaluation(low + 1, low)) == "not resolved (16 seeds)"  # overlapping: never "matches"
    # Equivalence: the whole interval of the IQM difference inside ±5% of the baseline's IQM (|IQM| ~1000 here).
    assert protocol.verdict(_evaluation(low + 1000.5, low + 1000)) == "equivalent within ±50.4"  # 5% of IQM 1007.5
    assert protocol.verdict(_evaluation(np.r_[low[:-1], np.nan], high)) == "n/a"
    record = json.loads(json.dumps(protocol.to_json(_evaluation(high, low))))  # JSON-ready as it is
    assert record["rule"]["final_return"]["per_seed"] == high.tolist() and record["verdict"] == "better"
    assert record["iqm_difference"][0] == pytest.approx(100.0) and record["margin"] == pytest.approx(0.05 * 7.5)
    assert record["rule"]["final_return"]["iqm"] == pytest.approx(107.5)  # the middle half's mean, 4..11 + 100
    assert record["baseline"]["final_return"]["mean"] == pytest.approx(7.5)
    assert "iqm" not in record["rule"]["eval_return"]  # NaN: no evaluation rollouts, no summary
    assert record["p_improvement"] == {"p": 1.0, "ci": [1.0, 1.0]}


@pytest.mark.slow  # three PPO programs: the tuning sweep, the rule's agents, the baseline's
def test_eval_cli_tunes_the_baseline_and_reports_the_protocol(tmp_path, capsys):
    rule = make_rule("lr_schedule", knots=4, init_lr=2.5e-4)
    save_rule(tmp_path / "rule.npz", rule, rule.init(jax.random.PRNGKey(0)))
    args = ["eval", str(tmp_path / "rule.npz"), "--preset", "cartpole", "--budget", "1024", "--seeds", "3"]
    extra = ["--baseline-set", "ent_coef=0", "--rule-tuned", "--json", str(tmp_path / "e.json"), "--seed", "3"]
    assert main([*args, "--tune", "lr=1e-4,1e-2", "--tune-seeds", "2", *extra]) == 0
    out = capsys.readouterr().out
    assert "1,024 steps, 3 fresh seeds; baseline tuned here by successive halving on 4 tuning seeds: lr=" in out
    assert "| lr_schedule (rule.npz) |" in out and "P(rule > baseline) on final_return:" in out
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["command"].startswith("metalearn eval ") and "--tune lr=1e-4,1e-2" in record["command"]
    (task,) = record["evaluations"]
    assert task["preset"] == "cartpole" and task["total_timesteps"] == 1024 and task["seeds"] == 3
    assert f"verdict on final_return: {task['verdict']}" in out and "IQM difference (rule - baseline): " in out
    assert len(task["rule"]["final_return"]["per_seed"]) == 3 and task["baseline_config"]["lr"] in (1e-4, 1e-2, 2.5e-4)
    # --baseline-set changed the baseline only; --rule-tuned gave the rule's arm the tuned lr, nothing else.
    assert task["baseline_config"]["ent_coef"] == 0.0 and task["rule_config"]["ent_coef"] == 0.01
    assert task["rule_config"]["lr"] == task["baseline_config"]["lr"]
