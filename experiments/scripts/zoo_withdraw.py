"""Withdraws zoo entries that no longer qualify under the engine's verdict words (issue 37), keeping their files.

    python experiments/scripts/zoo_withdraw.py [NAME ...]

For each entry (default: all) its card's stored evaluation is re-worded from the stored per-seed values
(:func:`metalearn.analysis.clustered.judge`: better / worse / equivalent within ±m / not resolved); an entry that
:func:`metalearn.zoo.admits` no longer admits moves, rule file and card, to experiments/reports/zoo/withdrawn/, its
card holding the old and new verdicts and why. An entry still admitted stays, its card re-worded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from metalearn.analysis.clustered import judge
from metalearn.zoo import ZOO_DIR, admits, discovered_names

WITHDRAWN = Path(__file__).resolve().parents[2] / "experiments" / "reports" / "zoo" / "withdrawn"


def reword(card: dict) -> list[dict]:
    """Every stored evaluation re-worded in place (``verdict_before`` keeps the old word); the changes."""
    changes = []
    for e in card["evaluation"]["evaluations"]:
        m = e["metric"]
        c = judge(e["rule"][m]["per_seed"], e["baseline"][m]["per_seed"])
        before = e.get("verdict_before", e["verdict"])
        e.update(verdict_before=before, verdict=c["verdict"], iqm_difference=c["difference"], margin=c["margin"])
        e["p_improvement"] = {"p": c["p_improvement"][0], "ci": c["p_improvement"][1:]}
        changes.append({"preset": e["preset"], "total_timesteps": e["total_timesteps"], "before": before, **c})
    return changes


def main() -> None:
    for name in sys.argv[1:] or discovered_names():
        card = json.loads((ZOO_DIR / f"{name}.json").read_text())
        changes = reword(card)
        admitted, why = admits(card)
        if admitted:
            (ZOO_DIR / f"{name}.json").write_text(json.dumps(card, indent=1))
            print(f"{name}: stays ({why})")
            continue
        card["withdrawn"] = {
            "why": f"under the verdict words of issue 37 {why}; it had entered on overlapping IQM intervals "
            "('matches'), which is no evidence of equivalence",
            "reworded": changes,
            "command": f"python experiments/scripts/zoo_withdraw.py {name}",
        }
        WITHDRAWN.mkdir(parents=True, exist_ok=True)
        shutil.move(ZOO_DIR / card["rule_file"], WITHDRAWN / card["rule_file"])
        (WITHDRAWN / f"{name}.json").write_text(json.dumps(card, indent=1))
        (ZOO_DIR / f"{name}.json").unlink()
        print(f"{name}: withdrawn ({why})")


if __name__ == "__main__":
    main()
