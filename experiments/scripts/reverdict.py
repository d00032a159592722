"""Re-words every stored verdict under the evaluation engine's words, from the stored per-seed values (no training).

    python experiments/scripts/reverdict.py > experiments/reports/verdicts.md

Reads every `metalearn eval --json` record and zoo card (withdrawn ones too) under experiments/reports/ and
metalearn/zoo/ (their old verdict:
beats / matches / loses on overlapping IQM intervals) and every comparison with a named baseline
(`compare_rules.py` results with P(run > baseline)), and prints one Markdown row per contrast: the old word beside
the new one (better / worse / equivalent within ±m / not resolved), with the IQM difference and P(improvement)
and their 95% intervals from :func:`metalearn.analysis.clustered.judge`. The programs and seeds are those stored;
the tuned baselines are those the old protocol chose (8 tuning seeds, by mean), which the new protocol would
re-tune, so an "after" here re-words the stored evidence and does not re-run it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metalearn.analysis.clustered import judge

ROOT = Path(__file__).resolve().parents[2]


def _fmt(v: list[float]) -> str:
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def _row(source: str, task: str, before: str, x: list, y: list) -> str:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return f"| {source} | {task} | {before} | n/a | n/a | | n/a (non-finite returns) |"
    c = judge(x, y)
    return (
        f"| {source} | {task} | {before} | {_fmt(c['difference'])} | {_fmt(c['p_improvement'])} | "
        f"±{c['margin']:.3g} | **{c['verdict']}** |"
    )


def main() -> None:
    print("# Verdicts re-worded (issue 37)\n")
    print((__doc__ or "").split("\n\n", 2)[2].strip() + "\n")
    print("| record | task | before | IQM difference [95% CI] | P(rule > baseline) [95% CI] | margin | after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    files = sorted((ROOT / "experiments" / "reports").rglob("*.json")) + sorted(
        (ROOT / "metalearn" / "zoo").glob("*.json")
    )
    for path in files:
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict):
            continue
        source = str(path.relative_to(ROOT))
        records = [record] if isinstance(record.get("evaluations"), list) else []
        records += [record["evaluation"]] if isinstance(record.get("evaluation"), dict) else []  # a zoo card
        for r in records:
            for e in r["evaluations"]:
                m = e["metric"]
                task = f"{e['preset']} on {e['env']}, {e['total_timesteps']:,} steps ({e['seeds']} seeds)"
                before = e.get("verdict_before", e["verdict"])  # a withdrawn zoo card keeps its old word
                print(_row(source, task, before, e["rule"][m]["per_seed"], e["baseline"][m]["per_seed"]))
        runs = record.get("runs")
        if isinstance(runs, list) and any(isinstance(run, dict) and "p_improvement" in run for run in runs):
            by_label = {run["label"]: run for run in runs}
            for run in runs:
                if "p_improvement" not in run:
                    continue
                base = by_label[run["p_improvement"]["baseline"]]
                x, y = run["final_return"]["per_seed"], base["final_return"]["per_seed"]
                print(_row(source, f"{run['label']} vs {base['label']} ({len(x)} seeds)", "P only", x, y))


if __name__ == "__main__":
    main()
