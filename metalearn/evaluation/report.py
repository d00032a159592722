"""Analysis of a results folder: every contrast, per task and pooled, its verdict, the table and the figure.

Reads only ``spec.json`` and ``per_seed/``, so stored results are re-analysed without training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metalearn.analysis import clustered
from metalearn.evaluation.spec import CompareSpec, slug, spec_from_dict
from metalearn.runs import write_json

TUNED, PRESET = "baseline_tuned", "baseline_preset"
SAME_AGENTS = "the same agents (tuning chose the preset's point)"


def read_records(out: Path, spec: CompareSpec, file_label: str) -> list[dict]:
    """One arm's per-seed records, one per task of the spec (each file read once, for scores and curves)."""
    records = []
    for task in spec.tasks:
        path = out / "per_seed" / task.name / f"{file_label}.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; allowed: run `metalearn compare` on the spec first")
        records.append(json.loads(path.read_text()))
    return records


def scores(records: list[dict], metric: str) -> np.ndarray:
    """An arm's ``metric`` as ``(G, T, S/G)``: rule instances, the spec's tasks (``records``, one per task), each
    instance's seeds; NaN for a diverged agent or a missing evaluation return."""
    per_task = []
    for record in records:
        rows = []
        for inst in record["instances"]:
            values = np.asarray([np.nan if v is None else v for v in inst[metric]], np.float64)
            rows.append(np.where(np.asarray(inst["diverged"], bool), np.nan, values))
        per_task.append(np.stack(rows))  # (G, k)
    return np.stack(per_task, axis=1)  # (G, T, k)


def _normalise(x: np.ndarray, spec: CompareSpec) -> np.ndarray:
    lo = np.asarray([t.score_range[0] for t in spec.tasks])[:, None]
    hi = np.asarray([t.score_range[1] for t in spec.tasks])[:, None]
    return (x - lo) / (hi - lo)


def _margin(spec: CompareSpec, task_index: int | None) -> float | None:
    """The equivalence margin stated by the spec: pooled (normalised scores) ``relative_margin`` of the unit range;
    per task the spec's ``margin`` (score units), else ``relative_margin`` × the task's score range, else None:
    ``relative_margin`` × |the compared-with arm's IQM| (:func:`clustered.judge`; the tuned baseline's, in the rows
    against it)."""
    if task_index is None:
        return spec.relative_margin
    if spec.margin is not None:
        return spec.margin
    task = spec.tasks[task_index]
    if task.score_range:
        return spec.relative_margin * (task.score_range[1] - task.score_range[0])
    return None


def _contrast(x: np.ndarray, y: np.ndarray, spec: CompareSpec, xl: str, yl: str, seed: int) -> list[dict]:
    """Rows for X vs Y: each task, then pooled over tasks when every task states a score range (scores are
    normalised by it; raw returns of different tasks are not pooled)."""
    rows = []
    targets = [(t, x[:, t : t + 1], y[:, t : t + 1]) for t in range(len(spec.tasks))]
    if len(spec.tasks) > 1 and all(t.score_range for t in spec.tasks):  # pooled only on one normalised scale
        targets.append((None, _normalise(x, spec), _normalise(y, spec)))
    for t, xs, ys in targets:
        name = spec.tasks[t].name if t is not None else "pooled"
        row = {"task": name, "x": xl, "y": yl, "seeds": int(xs.shape[0] * xs.shape[2])}  # agents per task
        bad = int(np.sum(~np.isfinite(xs)) + np.sum(~np.isfinite(ys)))
        if bad:
            rows.append({**row, "verdict": f"n/a ({bad} agents diverged or not evaluated)"})
            continue
        judged = clustered.judge(xs, ys, _margin(spec, t), relative_margin=spec.relative_margin, seed=seed)
        verdict = judged.pop("verdict")
        normalised = t is None and all(tk.score_range for tk in spec.tasks)
        rows.append({**row, **judged, "normalised": normalised, "verdict": verdict})
    return rows


def analyse(out: str | Path, seed: int = 0) -> dict:
    """Re-reads ``out``'s per-seed results and writes ``results.json``, ``table.md`` and ``figure.png``."""
    out = Path(out)
    path = out / "spec.json"
    if not path.is_file():
        raise ValueError(f"{out}: no spec.json; allowed: a results folder written by `metalearn compare`")
    spec = spec_from_dict(json.loads(path.read_text()))
    m = spec.metric
    b = spec.baseline
    files = {a.label: slug(a.label) for a in spec.arms}  # every arm and baseline: label -> per-seed file name
    if b and b.tunes:
        files[f"{b.label} (tuned)"] = TUNED
    if b:
        files[f"{b.label} (preset)"] = PRESET
    records = {label: read_records(out, spec, name) for label, name in files.items()}
    rows = {label: scores(r, m) for label, r in records.items()}
    contrasts = []
    for a in spec.arms:
        if b and b.tunes:
            contrasts += _contrast(rows[a.label], rows[f"{b.label} (tuned)"], spec, a.label, f"{b.label} (tuned)", seed)
        if b:
            contrasts += _contrast(
                rows[a.label], rows[f"{b.label} (preset)"], spec, a.label, f"{b.label} (preset)", seed
            )
    if b and b.tunes:
        tuned, preset = f"{b.label} (tuned)", f"{b.label} (preset)"
        same = {  # tasks where tuning chose the preset's own point: the same agents, nothing to resample
            task.name
            for task, rt, rp in zip(spec.tasks, records[tuned], records[preset], strict=True)
            if "config" in rt and rt.get("config") == rp.get("config")
        }
        for row in _contrast(rows[tuned], rows[preset], spec, tuned, preset, seed):
            if row["task"] in same or (row["task"] == "pooled" and len(same) == len(spec.tasks)):
                row = {k: row[k] for k in ("task", "x", "y", "seeds")} | {"verdict": SAME_AGENTS}
            contrasts.append(row)
    for xl, yl in spec.contrasts:
        contrasts += _contrast(rows[xl], rows[yl], spec, xl, yl, seed)
    results = {"spec": spec.name, "metric": m, "seeds": spec.seeds, "seed": spec.seed, "contrasts": contrasts}
    results["arms"] = arm_rows(spec, records, rows)
    write_json(out / "results.json", results)
    (out / "table.md").write_text(table(spec, results, out) + "\n")
    figure(spec, rows, out / "figure.png")
    curves(spec, records, out / "curves.png")
    return results


def arm_rows(spec: CompareSpec, records: dict[str, list[dict]], arms: dict[str, np.ndarray]) -> list[dict]:
    """Per task and arm (baselines included): agents, the IQM [95% CI] of the spec's metric (clustered over rule
    instances; None when an agent diverged or was not evaluated) and the diverged agents' indices in the arm.
    ``arms``: label -> :func:`scores` of its ``records`` (G, T, k)."""
    rows = []
    for t, task in enumerate(spec.tasks):
        for label, per_task in records.items():
            x = arms[label][:, t : t + 1]  # (G, 1, k)
            diverged = np.concatenate([np.asarray(i["diverged"], bool) for i in per_task[t]["instances"]])
            rows.append(
                {
                    "task": task.name,
                    "arm": label,
                    "agents": int(x.size),
                    "iqm": list(clustered.arm_iqm(x)) if np.all(np.isfinite(x)) else None,
                    "diverged": np.flatnonzero(diverged).tolist(),
                }
            )
    return rows


def table(spec: CompareSpec, results: dict, out: Path) -> str:
    """Markdown: the setting, the baselines' choice, then one row per contrast and task."""
    lines = [
        f"# {spec.name}",
        "",
        f"{spec.metric}; {spec.seeds} evaluation seeds per arm and task (seed {spec.seed}), fixed in the spec; "
        "IQM and P(improvement) with 95% bootstrap intervals stratified over tasks and clustered over rule "
        "instances. Verdicts: better / worse (the intervals of the IQM difference and of P exclude no difference), "
        "equivalent within ±m (the difference's interval inside the margin), else not resolved.",
        "",
    ]
    for task in spec.tasks:
        tpath = out / "tuning" / f"{task.name}.json"
        if spec.baseline and tpath.is_file():
            from metalearn.inner.tune import format_point

            chosen = json.loads(tpath.read_text())["chosen"]
            lines.append(
                f"- {task.name}: {spec.baseline.label} tuned to {format_point(chosen)} (tuning/{task.name}.md)"
            )
    if "arms" in results:
        head = f"| task | arm | agents | IQM {spec.metric} [95% CI] | diverged |"
        lines += ["", head, "| --- | --- | --- | --- | --- |"]
        for r in results["arms"]:
            iqm = clustered.Interval(*r["iqm"]).text() if r["iqm"] else "n/a"
            bad = f"{len(r['diverged'])}/{r['agents']} {r['diverged']}" if r["diverged"] else f"0/{r['agents']}"
            lines.append(f"| {r['task']} | {r['arm']} | {r['agents']} | {iqm} | {bad} |")
    lines += [
        "",
        "| task | arm | vs | IQM arm | IQM vs | IQM difference [95% CI] | P(arm > vs) [95% CI] | margin | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["contrasts"]:
        if "difference" not in r:
            lines.append(f"| {r['task']} | {r['x']} | {r['y']} | | | | | | {r['verdict']} |")
            continue
        digits = 3 if r.get("normalised") else 2
        iv = lambda v, d=digits: clustered.Interval(*v).text(d)
        lines.append(
            f"| {r['task']} | {r['x']} | {r['y']} | {iv(r['x_iqm'])} | {iv(r['y_iqm'])} | {iv(r['difference'])} | "
            f"{clustered.Interval(*r['p_improvement']).text()} | ±{r['margin']:.3g} | {r['verdict']} |"
        )
    return "\n".join(lines)


def figure(spec: CompareSpec, rows: dict[str, np.ndarray], path: Path) -> None:
    """IQM [95% CI] of every arm and baseline (``rows``: label -> (G, T, k)), one panel per task."""
    from metalearn.analysis.figures import new_figure, save_figure

    fig, axes = new_figure(1, len(spec.tasks), panel=(3.4, 0.45 * len(rows) + 1.4))
    axes = axes[0]
    for t, (ax, task) in enumerate(zip(axes, spec.tasks, strict=True)):
        for i, x in enumerate(rows.values()):
            xs = x[:, t : t + 1]
            if np.all(np.isfinite(xs)):
                v = clustered.arm_iqm(xs)
                ax.errorbar(v.value, i, xerr=[[v.value - v.lo], [v.hi - v.value]], fmt="o", color=f"C{i}", capsize=3)
        ax.set_yticks(range(len(rows)), list(rows) if t == 0 else [""] * len(rows))
        ax.set_title(task.name, fontsize=9)
        ax.set_xlabel(f"IQM {spec.metric}")
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def curves(spec: CompareSpec, records: dict[str, list[dict]], path: Path) -> None:
    """Mean learning curve (over instances' seeds) of every arm and baseline (``records``: label -> its per-seed
    records, one per task) against environment steps, one panel per task; nothing when the records hold no curves
    (results stored from elsewhere)."""
    from metalearn.analysis.figures import new_figure, save_figure

    data = {}
    for label, per_task in records.items():
        for t, record in enumerate(per_task):
            means = [inst.get("curve_mean") for inst in record["instances"]]
            if any(m is None for m in means) or "steps_per_update" not in record:
                return
            data[t, label] = (np.mean(means, axis=0), record["steps_per_update"])
    fig, axes = new_figure(1, len(spec.tasks), panel=(4.2, 3.2))
    for t, (ax, task) in enumerate(zip(axes[0], spec.tasks, strict=True)):
        for i, label in enumerate(records):
            mean, steps = data[t, label]
            ax.plot(np.arange(1, len(mean) + 1) * steps, mean, color=f"C{i}", label=label)
        ax.set_title(task.name, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("episodic return (mean over seeds)")
    axes[0][0].legend(fontsize=7)
    save_figure(fig, path)
