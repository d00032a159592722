"""The zoo: every entry loads, carries the card the protocol wrote, and its tiny-budget evaluation reproduces."""

import json
import shlex

import numpy as np
import pytest

from metalearn import zoo
from metalearn.cli import main

NAMES = zoo.discovered_names()


def test_the_zoo_is_not_empty_and_lists_itself(capsys):
    assert NAMES, "no rule in metalearn/zoo/"
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "the zoo: discovered rules" in out
    for name in NAMES:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", NAMES)
def test_an_entry_loads_with_its_card(name):
    rule, _, card = zoo.load_discovered(name)
    assert card["name"] == name and rule.name == card["produced_by"]["config"]["rule"]["name"]
    assert card["produced_by"]["command"].startswith("metalearn train ") and len(card["produced_by"]["commit"]) == 40
    # The card's evaluation is the protocol's: >= 16 fresh seeds, a tuned baseline, one verdict per task.
    evaluation = card["evaluation"]
    assert evaluation["command"].startswith(f"metalearn eval discovered:{name} ")
    for task in evaluation["evaluations"]:
        assert task["seeds"] >= 16 and task["baseline_how"].startswith("tuned")
        assert task["verdict"] in ("beats", "matches", "loses")
    # It entered because it beats or matches the tuned baseline on a meta-training task at its budget.
    trained = {(t["preset"], t["train"]["total_timesteps"]) for t in card["produced_by"]["config"]["tasks"]}
    on_train = [t for t in evaluation["evaluations"] if (t["preset"], t["total_timesteps"]) in trained]
    assert on_train and all(t["verdict"] in ("beats", "matches") for t in on_train)


def test_an_unknown_entry_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown discovered rule 'nope'; .*allowed: "):
        zoo.load_discovered("nope")


@pytest.mark.slow  # the tuning sweep and both arms at a tiny budget
@pytest.mark.parametrize("name", NAMES)
def test_an_entrys_stored_evaluation_is_reproduced_by_its_command(name, tmp_path):
    smoke = zoo.card(name)["smoke"]
    argv = shlex.split(smoke["command"])
    assert argv[:2] == ["metalearn", "eval"] and argv[2] == f"discovered:{name}"
    assert main([*argv[1:], "--json", str(tmp_path / "again.json")]) == 0  # trains PPO with the rule and baseline
    again = json.loads((tmp_path / "again.json").read_text())["evaluations"]
    assert len(again) == len(smoke["evaluations"])
    for new, old in zip(again, smoke["evaluations"], strict=True):
        assert new["baseline_config"] == old["baseline_config"] and new["verdict"] == old["verdict"]
        for arm in ("rule", "baseline"):
            np.testing.assert_allclose(
                new[arm]["final_return"]["per_seed"], old[arm]["final_return"]["per_seed"], rtol=1e-4
            )


def test_analyze_reads_an_entry_at_its_horizon(tmp_path):
    from metalearn.analysis import analyze

    name = next(n for n in NAMES if zoo.card(n)["produced_by"]["config"]["rule"]["name"] == "ta_lpo")
    report = analyze(f"discovered:{name}", out=tmp_path).read_text()
    horizon = zoo.card(name)["budget"]["num_updates"]
    assert f"(discovered {name})" in report and f"horizon N = {horizon} updates" in report
