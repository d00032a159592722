"""The zoo: rules metalearn meta-trained itself, shipped with the package like the published OPEN weights.

An entry is two files in this folder, ``NAME.npz`` (a rule file, as ``metalearn.rules.save_rule`` writes)
and ``NAME.json``, its card: what produced it (experiment config, command, commit), its meta-training
budget, and its evaluation by `metalearn eval` (:mod:`metalearn.evaluation.one_rule`: the rule vs the baseline tuned at
the same budget, on fresh seeds; meta-training task and held-out tasks), with the command that reproduces
each table, and a tiny-budget evaluation (``smoke``) that the tests re-run. A rule enters only if :func:`admits`
its card: on every meta-training task at its budget the verdict is ``better`` or ``equivalent within ±m``
(:func:`metalearn.analysis.clustered.verdict`; overlapping intervals, "not resolved", are not enough).
``metalearn zoo-add`` (:func:`metalearn.zoo.admission.add`) checks this and writes both files; what it does
on held-out tasks is stated in the card, whichever way it went. Entries that stopped qualifying when the
verdict words changed (issue 37) were withdrawn to ``experiments/reports/zoo/withdrawn/`` with the reason
in their cards (``zoo_withdraw.py``).

Use: ``load_discovered(NAME)`` -> (rule, meta_params, card); on the command line ``discovered:NAME`` wherever a
rule is taken (``metalearn eval``, ``analyze``, ``distill``); ``metalearn list`` lists the zoo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metalearn.rules import Rule, load_rule
from metalearn.validation import unknown

ZOO_DIR = Path(__file__).parent
CARD_KEYS = ("name", "summary", "rule_file", "produced_by", "budget")  # + "evaluation", "smoke" once evaluated


ADMITTING = ("better", "equivalent within")  # verdicts that admit a rule (prefixes: the margin follows)


def admits(entry: dict) -> tuple[bool, str]:
    """(admitted, why) for a card with an ``evaluation``: admitted when it was evaluated on a meta-training task
    at its budget and every such verdict is ``better`` or ``equivalent within ±m``."""
    trained_at = {(t["preset"], t["train"]["total_timesteps"]) for t in entry["produced_by"]["config"]["tasks"]}
    on_train = [e for e in entry["evaluation"]["evaluations"] if (e["preset"], e["total_timesteps"]) in trained_at]
    if not on_train:
        return False, "no evaluation on a meta-training task at its budget"
    refused = [(e["preset"], e["verdict"]) for e in on_train if not e["verdict"].startswith(ADMITTING)]
    if refused:
        return False, f"on its meta-training task(s) the verdict is not better or equivalent: {refused}"
    return True, f"on its meta-training task(s): {[(e['preset'], e['verdict']) for e in on_train]}"


def discovered_names() -> list[str]:
    """The zoo's entries, by name."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.json"))


def card(name: str) -> dict:
    """The card of entry ``name`` (see the module docstring)."""
    if name not in discovered_names():
        raise unknown(
            "discovered rule",
            name,
            discovered_names(),
            allowed=", ".join(discovered_names()) or "none (the zoo is empty)",
        )
    entry = json.loads((ZOO_DIR / f"{name}.json").read_text())
    missing = [k for k in CARD_KEYS if k not in entry]
    if missing:
        raise ValueError(f"zoo card {name}.json lacks {missing}; a card has {list(CARD_KEYS)}")
    return entry


def load_discovered(name: str) -> tuple[Rule, Any, dict]:
    """(rule, meta_params, card) of the zoo's entry ``name``."""
    entry = card(name)
    rule, meta_params, _ = load_rule(ZOO_DIR / entry["rule_file"])
    return rule, meta_params, entry


def describe(name: str) -> str:
    """One line for ``metalearn list``: the name, its summary and its verdict per evaluated task."""
    entry = card(name)
    if not entry.get("evaluation"):
        return f"{name:<26} {entry['summary']} [not evaluated]"
    verdicts = ", ".join(f"{e['preset']}: {e['verdict']}" for e in entry["evaluation"]["evaluations"])
    return f"{name:<26} {entry['summary']} [vs tuned baseline: {verdicts}]"
