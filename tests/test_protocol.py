"""The evaluation protocol: a rule vs a baseline tuned at the same budget, on seeds the tuning never saw."""

import json

import jax
import numpy as np
import pytest

from metalearn import protocol
from metalearn.cli import main
from metalearn.inner import Trainer
from metalearn.rules import make_rule, save_rule

from .conftest import TINY


def _mean_final(env, config, seed: int, seeds: int) -> float:
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    return float(np.mean(jax.jit(jax.vmap(Trainer(env, config).train, in_axes=(None, 0)))(None, keys).final_return))


@pytest.mark.slow  # the sweep and two separate trainings
def test_tuning_here_picks_the_best_point_on_its_own_seeds(cartpole):
    baseline = protocol.tuned_here(cartpole, TINY, ["lr=1e-4,1e-2"], seeds=2, seed=5)
    # Independently: each point trained on its own, on the tuning seeds.
    means = {lr: _mean_final(cartpole, TINY.replace(lr=lr), protocol.tuning_seed(5), 2) for lr in (1e-4, 1e-2)}
    best = max(means, key=means.get)
    assert means[1e-4] != means[1e-2] and baseline.config == TINY.replace(lr=best)
    assert f"lr={best:g}" in baseline.how
    # No tuning seed is an evaluation seed (the tuning sweep's keys vs the evaluation's, same base seed).
    tuning = np.asarray(jax.random.split(jax.random.PRNGKey(protocol.tuning_seed(5)), 64))
    evaluation = np.asarray(protocol.evaluation_keys(5, 64))
    assert not (tuning[:, None, :] == evaluation[None, :, :]).all(-1).any()


def test_a_tune_run_is_used_only_for_its_preset_and_budget(tmp_path):
    chosen = {"preset": "cartpole", "set": ["lr=0.001"], "train": TINY.replace(lr=1e-3).to_dict()}
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    baseline = protocol.tuned_from_run(tmp_path, "cartpole", TINY)
    assert baseline.config == TINY.replace(lr=1e-3) and "lr=0.001" in baseline.how
    with pytest.raises(ValueError, match=r"tuned at total_timesteps=512, evaluating at 1,024.*--budget 1024"):
        protocol.tuned_from_run(tmp_path, "cartpole", TINY.replace(total_timesteps=1024))
    with pytest.raises(ValueError, match=r"tuned on preset 'cartpole', evaluating on 'breakout'"):
        protocol.tuned_from_run(tmp_path, "breakout", TINY)
    with pytest.raises(ValueError, match=r"no chosen\.json"):
        protocol.tuned_from_run(tmp_path / "nowhere", "cartpole", TINY)


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


def test_the_verdict_reads_the_interquartile_means_intervals():
    low, high = np.arange(16.0), np.arange(16.0) + 100
    assert protocol.verdict(_evaluation(high, low)) == "beats"
    assert protocol.verdict(_evaluation(low, high)) == "loses"
    assert protocol.verdict(_evaluation(low + 1, low)) == "matches"  # intervals overlap
    assert protocol.verdict(_evaluation(np.r_[low[:-1], np.nan], high)) == "n/a"
    record = json.loads(json.dumps(protocol.to_json(_evaluation(high, low))))  # JSON-ready as it is
    assert record["rule"]["final_return"]["per_seed"] == high.tolist() and record["verdict"] == "beats"
    assert record["rule"]["final_return"]["iqm"] == pytest.approx(107.5)  # the middle half's mean, 4..11 + 100
    assert record["baseline"]["final_return"]["mean"] == pytest.approx(7.5)
    assert "iqm" not in record["rule"]["eval_return"]  # NaN: no evaluation rollouts, no summary
    assert record["p_improvement"] == {"p": 1.0, "ci": [1.0, 1.0]}


@pytest.mark.slow  # three PPO programs: the tuning sweep, the rule's agents, the baseline's
def test_eval_cli_tunes_the_baseline_and_reports_the_protocol(tmp_path, capsys):
    rule = make_rule("lr_schedule", knots=4, init_lr=2.5e-4)
    save_rule(tmp_path / "rule.npz", rule, rule.init(jax.random.PRNGKey(0)))
    args = ["eval", str(tmp_path / "rule.npz"), "--preset", "cartpole", "--budget", "1024", "--seeds", "3"]
    extra = ["--baseline-set", "ent_coef=0", "--rule-tuned", "--json", str(tmp_path / "e.json")]
    assert main([*args, "--tune", "lr=1e-4,1e-2", "--tune-seeds", "2", *extra]) == 0
    out = capsys.readouterr().out
    assert "1,024 steps, 3 fresh seeds; baseline tuned here on 2 tuning seeds: lr=" in out
    assert "| lr_schedule (rule.npz) |" in out and "P(rule > baseline) on final_return:" in out
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["command"].startswith("metalearn eval ") and "--tune lr=1e-4,1e-2" in record["command"]
    (task,) = record["evaluations"]
    assert task["preset"] == "cartpole" and task["total_timesteps"] == 1024 and task["seeds"] == 3
    assert f"verdict (IQM 95% intervals on final_return): {task['verdict'].replace('loses', 'loses to')}" in out
    assert len(task["rule"]["final_return"]["per_seed"]) == 3 and task["baseline_config"]["lr"] in (1e-4, 1e-2)
    # --baseline-set changed the baseline only; --rule-tuned gave the rule's arm the tuned lr, nothing else.
    assert task["baseline_config"]["ent_coef"] == 0.0 and task["rule_config"]["ent_coef"] == 0.01
    assert task["rule_config"]["lr"] == task["baseline_config"]["lr"]
