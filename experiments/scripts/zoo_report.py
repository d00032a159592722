"""The table of experiments/reports/zoo.md from the protocol's JSON records (zoo_candidates.sh's outputs).

    python experiments/scripts/zoo_report.py experiments/reports/zoo/candidates/*.json

Prints one Markdown row per candidate and task: the rule's and the tuned baseline's final return (mean ± s.e.,
IQM [95% CI], 16 fresh seeds), the baseline's tuned setting, P(rule > baseline) and the protocol's verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cells(arm: dict) -> str:
    r = arm["final_return"]
    if "iqm" not in r:
        return "n/a (non-finite) | n/a"
    return f"{r['mean']:.1f} ± {r['stderr']:.1f} | {r['iqm']:.1f} [{r['iqm_ci'][0]:.1f}, {r['iqm_ci'][1]:.1f}]"


def rows(path: Path) -> list[str]:
    record = json.loads(path.read_text())
    out = []
    for e in record["evaluations"]:
        how = f"{e['baseline_config']['algorithm']}, {e['baseline_how'].split(': ', 1)[-1]}"
        p = e["p_improvement"]
        prob = f"{p['p']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}]" if p else "n/a"
        out.append(
            f"| {path.stem} | {e['env']} {e['total_timesteps']:,} | {cells(e['rule'])} | "
            f"{how} | {cells(e['baseline'])} | {prob} | "
            f"**{e['verdict']}** |"
        )
    return out


def main(paths: list[str]) -> None:
    print(
        "| candidate | task, steps | rule mean ± s.e. | rule IQM [95% CI] | baseline (tuned) | baseline mean ± s.e. "
        "| baseline IQM [95% CI] | P(rule > baseline) | verdict |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        print("\n".join(rows(Path(path))))


if __name__ == "__main__":
    main(sys.argv[1:])
