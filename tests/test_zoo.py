"""The zoo: admission needs `better` or `equivalent within ±m` on a meta-training task; entries load with their
cards; withdrawn entries keep their files and say why, re-derivable from their stored per-seed values."""

import copy
import json
import shlex
import shutil
from pathlib import Path

import pytest

from metalearn import zoo
from metalearn.analysis.clustered import judge
from metalearn.cli import main
from metalearn.rules import load_rule

NAMES = zoo.discovered_names()
WITHDRAWN = Path(__file__).resolve().parents[1] / "experiments" / "reports" / "zoo" / "withdrawn"
WITHDRAWN_CARDS = sorted(WITHDRAWN.glob("*.json"))


def _card(verdicts: dict[tuple[str, int], str], trained: tuple[str, int] = ("cartpole", 32768)) -> dict:
    return {
        "produced_by": {"config": {"tasks": [{"preset": trained[0], "train": {"total_timesteps": trained[1]}}]}},
        "evaluation": {
            "evaluations": [{"preset": p, "total_timesteps": t, "verdict": v} for (p, t), v in verdicts.items()]
        },
    }


@pytest.mark.parametrize(
    ("verdict", "admitted"),
    [
        ("better", True),
        ("equivalent within ±22.7", True),
        ("not resolved (16 seeds)", False),
        ("worse", False),
        ("matches", False),  # the old word of overlapping intervals
        ("beats", False),
    ],
)
def test_admission_needs_better_or_equivalent_on_the_meta_training_task(verdict, admitted):
    ok, why = zoo.admits(_card({("cartpole", 32768): verdict, ("acrobot", 32768): "worse"}))
    assert ok is admitted, why  # a held-out task's verdict never decides
    # The meta-training task at another budget does not count.
    assert zoo.admits(_card({("cartpole", 65536): "better"}))[0] is False


def test_the_zoo_lists_itself(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "the zoo: discovered rules" in out and all(f"  {name} " in out for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_an_entry_loads_with_its_card_and_qualifies(name):
    rule, _, card = zoo.load_discovered(name)
    assert card["name"] == name and rule.name == card["produced_by"]["config"]["rule"]["name"]
    assert card["evaluation"]["command"].startswith(f"metalearn eval discovered:{name} ")
    assert zoo.admits(card)[0]


@pytest.mark.parametrize("path", WITHDRAWN_CARDS, ids=lambda p: p.stem)
def test_a_withdrawn_entry_keeps_its_rule_and_says_why_from_its_stored_values(path):
    card = json.loads(path.read_text())
    rule, _, _ = load_rule(WITHDRAWN / card["rule_file"])  # nothing lost: it loads as a rule file
    assert rule.name == card["produced_by"]["config"]["rule"]["name"]
    assert not zoo.admits(card)[0] and "matches" in card["withdrawn"]["why"]
    # Every re-worded verdict follows from the card's own per-seed values.
    for e in card["evaluation"]["evaluations"]:
        c = judge(e["rule"][e["metric"]]["per_seed"], e["baseline"][e["metric"]]["per_seed"])
        assert e["verdict"] == c["verdict"] and e["verdict_before"] in ("beats", "matches", "loses")


def test_an_unknown_entry_says_what_the_zoo_holds():
    with pytest.raises(ValueError, match=r"unknown discovered rule 'nope'; .*allowed: "):
        zoo.load_discovered("nope")


@pytest.fixture
def ta_lpo_zoo(tmp_path, monkeypatch) -> str:
    """A zoo holding the withdrawn TA-LPO entry (its card and rule file), in a temporary folder."""
    card = json.loads((WITHDRAWN / "cartpole_ta_lpo.json").read_text())
    for f in ("cartpole_ta_lpo.json", card["rule_file"]):
        shutil.copyfile(WITHDRAWN / f, tmp_path / f)
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    return "cartpole_ta_lpo"


def test_analyze_reads_an_entry_at_its_horizon(ta_lpo_zoo, tmp_path):
    from metalearn.analysis import analyze

    report = analyze(f"discovered:{ta_lpo_zoo}", out=tmp_path / "report").read_text()
    horizon = zoo.card(ta_lpo_zoo)["budget"]["num_updates"]
    assert f"(discovered {ta_lpo_zoo})" in report and f"horizon N = {horizon} updates" in report


@pytest.mark.slow  # the tuning rounds and both arms at a tiny budget
@pytest.mark.parametrize("name", NAMES)
def test_an_entrys_stored_smoke_evaluation_is_reproduced_by_its_command(name, tmp_path):
    smoke = zoo.card(name)["smoke"]
    argv = shlex.split(smoke["command"])
    assert argv[:2] == ["metalearn", "eval"] and argv[2] == f"discovered:{name}"
    assert main([*argv[1:], "--out", str(tmp_path / "out"), "--json", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())["evaluations"]
    for new, old in zip(again, copy.deepcopy(smoke["evaluations"]), strict=True):
        assert new["baseline_config"] == old["baseline_config"] and new["verdict"] == old["verdict"]
        # The contrast's IQMs, difference and P (intervals from a seeded bootstrap) are functions of the per-seed
        # values: equal only when every agent's return is reproduced.
        assert new["contrast"] == old["contrast"]


ARGS = {"eval_args": "", "smoke_args": ""}


@pytest.mark.parametrize("verdict", ["better", "not resolved (16 seeds)"])
def test_zoo_add_writes_a_card_and_keeps_the_rule_only_if_admitted(verdict, tmp_path, monkeypatch, capsys):
    """`metalearn zoo-add` (the package's writer): card from the experiment config and the rule file's manifest,
    the rule loadable as discovered:NAME while it is evaluated, and both files gone when the verdict refuses it."""
    from metalearn.zoo import admission

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    seen = []

    def evaluate(name, args, *, as_tests=False, out=None):
        seen.append((name, args, as_tests, out))
        rule, _, card = zoo.load_discovered(name)  # in the zoo while it is evaluated
        assert rule.name == "lr_schedule" and card["budget"]["generations"] == 60
        e = {"preset": "cartpole", "total_timesteps": 32768, "verdict": verdict}
        return {"command": f"metalearn eval discovered:{name} {args}", "evaluations": [e]}

    monkeypatch.setattr(admission, "evaluate", evaluate)
    argv = [
        "zoo-add",
        "sched",
        str(WITHDRAWN / "cartpole_lr_schedule.npz"),
        "--experiment",
        "cartpole_lr_schedule_tuned",
    ]
    argv += ["--summary", "a schedule", "--eval", "--preset cartpole --budget 32768", "--smoke", "--budget 64"]
    admitted = verdict == "better"
    assert main([*argv, "--evaluations", str(tmp_path / "ev")]) == (0 if admitted else 1)
    assert [(a, t, o) for _, a, t, o in seen] == [
        ("--preset cartpole --budget 32768", False, tmp_path / "ev" / "sched"),
        ("--budget 64", True, None),
    ]
    assert sorted(p.name for p in tmp_path.glob("sched*")) == (["sched.json", "sched.npz"] if admitted else [])
    out = capsys.readouterr().out
    assert out.startswith("added sched" if admitted else "not added: sched") and verdict in out
    if admitted:
        card = zoo.card("sched")
        budget = card["budget"]  # the config's (16 members x 4 seeds, 32768 steps) at the rule's generation
        assert budget["per_generation"] == "16 members x 4 seed(s)" and budget["num_updates"] == 64
        assert budget["env_steps"] == 60 * 16 * 4 * 32768 and card["smoke"]["command"].endswith("--budget 64")
        assert card["produced_by"]["config"]["seeds_per_member"] == 4
        with pytest.raises(ValueError, match=r"^'sched' is in the zoo already; allowed: a new name$"):
            admission.add("sched", WITHDRAWN / "cartpole_lr_schedule.npz", experiment="x", summary="", **ARGS)
    with pytest.raises(ValueError, match=r"^name='a b' is invalid; allowed: letters, digits, _ and -"):
        admission.add("a b", WITHDRAWN / "cartpole_lr_schedule.npz", experiment="x", summary="", **ARGS)
