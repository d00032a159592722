"""The table of experiments/reports/zoo.md from the protocol's JSON records (zoo_candidates.sh's outputs).

    python experiments/scripts/zoo_report.py experiments/reports/zoo/candidates/*.json
    python experiments/scripts/zoo_report.py --versus REFERENCE.json RECORD.json ...

Prints one Markdown row per candidate and task: the rule's and the tuned baseline's final return (mean ± s.e.,
IQM [95% CI], 16 fresh seeds), the baseline's tuned setting, P(rule > baseline) and the protocol's verdict.
With ``--versus``, one row per record and task shared with REFERENCE (evaluated on the same seeds): P(this
record's rule > REFERENCE's rule) with its stratified bootstrap interval, e.g. a distilled student vs its teacher.
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


def label(path: Path) -> str:
    """A record's name: its file's stem, or its folder's for a ``protocol.json``."""
    return path.parent.name if path.stem == "protocol" else path.stem


def rows(path: Path) -> list[str]:
    record = json.loads(path.read_text())
    out = []
    for e in record["evaluations"]:
        how = f"{e['baseline_config']['algorithm']}, {e['baseline_how'].split(': ', 1)[-1]}"
        p = e["p_improvement"]
        prob = f"{p['p']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}]" if p else "n/a"
        out.append(
            f"| {label(path)} | {e['env']} {e['total_timesteps']:,} | {cells(e['rule'])} | "
            f"{how} | {cells(e['baseline'])} | {prob} | "
            f"**{e['verdict']}** |"
        )
    return out


def versus(reference: Path, paths: list[str]) -> None:
    """P(rule of each record > rule of ``reference``) per shared task, on their common evaluation seeds."""
    import numpy as np

    from metalearn.analysis import probability_of_improvement

    ref = {(e["env"], e["total_timesteps"]): e for e in json.loads(reference.read_text())["evaluations"]}
    print(f"| record | task, steps | P(rule > {label(reference)}'s rule) |")
    print("| --- | --- | --- |")
    for path in map(Path, paths):
        for e in json.loads(path.read_text())["evaluations"]:
            r = ref.get((e["env"], e["total_timesteps"]))
            if r is None:
                continue
            if (e["seeds"], e["seed"]) != (r["seeds"], r["seed"]):
                raise SystemExit(f"{path} and {reference} were evaluated on different seeds for {e['env']}")
            x, y = (np.asarray(a["rule"]["final_return"]["per_seed"]) for a in (e, r))
            prob, (lo, hi) = probability_of_improvement([x], [y])
            print(f"| {label(path)} | {e['env']} {e['total_timesteps']:,} | {prob:.2f} [{lo:.2f}, {hi:.2f}] |")


def main(paths: list[str]) -> None:
    if paths[:1] == ["--versus"]:
        return versus(Path(paths[1]), paths[2:])
    print(
        "| candidate | task, steps | rule mean ± s.e. | rule IQM [95% CI] | baseline (tuned) | baseline mean ± s.e. "
        "| baseline IQM [95% CI] | P(rule > baseline) | verdict |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        print("\n".join(rows(Path(path))))


if __name__ == "__main__":
    main(sys.argv[1:])
