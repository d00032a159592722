"""The zoo: rules metalearn meta-trained itself, shipped with the package like the published OPEN weights.

An entry is two files in this folder, ``NAME.npz`` (a rule file, as ``metalearn.rules.save_rule`` writes)
and ``NAME.json``, its card: what produced it (experiment config, command, commit), its meta-training
budget, and its evaluation on the protocol of :mod:`metalearn.protocol` (the rule vs the baseline tuned at
the same budget, on fresh seeds; meta-training task and held-out tasks), with the command that reproduces
each table, and a tiny-budget evaluation (``smoke``) that the tests re-run. A rule enters only if the protocol
shows it beats or matches its tuned baseline on its meta-training task at its budget
(``experiments/scripts/zoo_add.py`` checks this and writes both files); what it does on held-out tasks is
stated in the card, whichever way it went.

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


def discovered_names() -> list[str]:
    """The zoo's entries, by name."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.json"))


def card(name: str) -> dict:
    """The card of entry ``name`` (see the module docstring)."""
    if name not in discovered_names():
        raise unknown("discovered rule", name, discovered_names())
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
