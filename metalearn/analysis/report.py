"""``metalearn analyze``: the standard pictures of a run, a rule or a comparison, and a one-page report.

Targets:

* a meta-training run directory: fitness curves, held-out evaluations, and the
  pictures of its rule (``rules/mean.npz``: an optimizer's update maps, step
  size, noise and per-layer updates; a drift objective's f(r, A); an LPG
  rule's targets along a trajectory); written into the run directory;
* a rule file (``.npz`` from ``save_rule``, e.g. ``RUN/rules/best.npz``) or
  ``published:NAME`` (published OPEN weights; a ``.npy`` path works too) or ``discovered:NAME`` (the zoo);
  written into ``<file stem>_analysis/`` next to it, or ``published_NAME_analysis/`` / ``discovered_NAME_analysis/``;
* a ``metalearn compare`` / ``metalearn eval`` results folder (with ``spec.json``): re-analysed by the
  evaluation engine (:func:`metalearn.evaluation.analyse`, its ``table.md``).

Each writes PNGs and ``analysis.md`` (images linked relatively) into the output
directory (``out`` overrides it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from metalearn.analysis import disco as disco_analysis
from metalearn.analysis import drifts, lpg, optimizers, runs
from metalearn.analysis.figures import save_figure
from metalearn.rules import Rule
from metalearn.runs import RunDir, summary_value

REPORT = "analysis.md"
DEFAULT_NUM_UPDATES = 1000  # horizon shown to temporally-aware rules when nothing says which


class Section(NamedTuple):
    heading: str
    image: str  # file name in the output directory
    caption: str


def allowed_targets() -> str:
    from learned_optimizers import published_names

    return (
        "a meta-training run directory (with config.json), a rule file (.npz written by save_rule, "
        f"e.g. RUN/rules/mean.npz), published:NAME (NAME one of {', '.join(published_names())}) or a .npy of "
        "OPEN weights, discovered:NAME (the zoo: metalearn list), or a metalearn compare / eval results folder "
        "(with spec.json)"
    )


# ------------------------------------------------------------------ pictures
def optimizer_sections(rule_name: str, tx, out: Path) -> list[Section]:
    """The optimizer pictures of ``tx`` written into ``out``."""
    sections = []
    umap = optimizers.update_vs_gradient(tx)
    save_figure(optimizers.update_vs_gradient_figure(umap, rule_name), out / "update_vs_gradient.png")
    sections.append(
        Section(
            "Update vs gradient",
            "update_vs_gradient.png",
            f"The update u (p ← p + u) after {umap.steps} steps of the same gradient g, per element of one tensor "
            "holding g = ±10⁻⁵…10⁻¹, at several training progresses; learned noise off. Adam gives ±lr for every g.",
        )
    )
    mmap = optimizers.update_vs_momentum(tx)
    save_figure(optimizers.update_vs_momentum_figure(mmap, rule_name), out / "update_vs_momentum.png")
    sections.append(
        Section(
            "Update vs gradient and momentum",
            "update_vs_momentum.png",
            f"A history of {mmap.steps} constant gradients sets the β = {mmap.beta} momentum to m, then one step with "
            "gradient g. Red: the parameter grows, blue: it shrinks (symmetric-log colour scale).",
        )
    )
    step = optimizers.step_size_over_training(tx)
    save_figure(optimizers.step_size_figure(step, rule_name), out / "step_size.png")
    sections.append(
        Section(
            "Step size over training",
            "step_size.png",
            f"Effective step size = |u| after {step.steps} steps of a steady gradient of magnitude |g| (for Adam this "
            "is its learning rate), against training progress.",
        )
    )
    noise = optimizers.learned_noise(tx)
    save_figure(optimizers.noise_figure(noise, rule_name), out / "learned_noise.png")
    sections.append(
        Section(
            "Learned noise",
            "learned_noise.png",
            "The same inputs under 32 optimizer keys; noise = update under a key − mean over keys. Actor parameters "
            "(actor_mask = 1) vs critic ones, and the actor with the mask off. OPEN's zero-mean step spreads a little "
            "of the actor's noise over the critic (visible here because the probe has only 132 parameters).",
        )
    )
    layers = optimizers.per_layer_updates(tx)
    save_figure(optimizers.per_layer_figure(layers, rule_name), out / "per_layer_updates.png")
    sections.append(
        Section(
            "Per-layer updates",
            "per_layer_updates.png",
            "Mean |update| and |gradient| per element of each tensor of the inner trainer's CartPole actor and "
            f"critic (64×64 tanh MLPs), over {layers.steps} steps on synthetic policy-gradient and value losses, "
            "gradients clipped per network to norm 0.5; training progress held at each value. Actor updates include "
            "the learned noise.",
        )
    )
    return sections


def drift_sections(rule: Rule, meta_params: Any, label: str, out: Path, num_updates: int = 1000) -> list[Section]:
    """The drift pictures of an objective rule (with PPO-clip alongside for reference)."""
    from metalearn.rules import make_rule

    ppo = make_rule("ppo_clip")
    temporal = drifts.reads_progress(rule, meta_params)
    shown = f"{label}\nat progress 0" if temporal else label
    surfaces = {shown: drifts.drift_surface(rule, meta_params, num_updates=num_updates)}
    if rule.name != "ppo_clip":
        surfaces["ppo_clip (reference)"] = drifts.drift_surface(ppo, {}, num_updates=num_updates)
    save_figure(drifts.drift_figure(surfaces), out / "drift.png")
    sections = [
        Section(
            "Drift f(r, A)",
            "drift.png",
            "The drift f(r, A) = loss + r·A over the probability ratio r and the advantage A (top), and at fixed A "
            "(bottom), on one colour scale; PPO-clip for reference. At progress 0 for temporally-aware rules.",
        )
    ]
    if temporal:
        over = drifts.drift_over_progress(rule, meta_params, num_updates=num_updates)
        save_figure(drifts.drift_progress_figure(over, label), out / "drift_over_progress.png")
        sections.append(
            Section(
                "Drift over training",
                "drift_over_progress.png",
                f"The temporally-aware drift at several training progresses (horizon N = {num_updates} updates).",
            )
        )
    return sections


def lpg_sections(rule: Rule, meta_params: Any, label: str, out: Path, num_updates: int = 1000) -> list[Section]:
    """π̂ and ŷ of an LPG / TA-LPG rule along the synthetic trajectory of :mod:`metalearn.analysis.lpg`."""
    progresses = (0.0, 0.5, 1.0) if rule.kwargs.get("temporal") else (0.0,)
    targets = lpg.lpg_targets(rule, meta_params, progresses=progresses, num_updates=num_updates)
    save_figure(lpg.lpg_figure(targets, label), out / "lpg_targets.png")
    rewards = ", ".join(f"{r:+g} at step {t}" for t, r in lpg.DEFAULT_REWARDS.items())
    over = f" at training progresses {', '.join(f'{p:g}' for p in progresses)}" if len(progresses) > 1 else ""
    caption = (
        f"The rule's targets{over} along a synthetic rollout of one environment: rewards {rewards}, episodes "
        f"ending after steps {' and '.join(str(d) for d in lpg.DEFAULT_DONES)}; π(a|s) = 0.5 and uniform "
        "predictions y at every step, so every change is the rule's response to rewards and episode ends. "
        "The agent ascends π̂·log π(a|s) (π̂ > 0 reinforces the action taken) and pulls y(s) towards ŷ."
    )
    return [Section("Targets along a trajectory", "lpg_targets.png", caption)]


def disco_sections(rule: Rule, meta_params: Any, label: str, out: Path) -> list[Section]:
    """π̂ and the value targets of a DiscoRL rule along a recorded Catch trajectory (:mod:`metalearn.analysis.disco`)."""
    targets = disco_analysis.record_targets(rule, meta_params)
    save_figure(disco_analysis.targets_figure(targets, label), out / "disco_targets.png")
    caption = (
        "The rule's targets along 45 steps of one stream of a freshly initialised DiscoRL agent on Catch (a catch "
        "pays +1, a miss −1 after 9 steps): the probability the agent and the rule's target π̂ give the action "
        "taken (π̂ above π reinforces it; the agent is pulled towards π̂ by KL), and the agent's Q(s_t, a_t) "
        "against the rule's Retrace target, with the normalised advantage its meta-network reads."
    )
    return [Section("Targets along a trajectory", "disco_targets.png", caption)]


def rule_sections(rule: Rule, meta_params: Any, label: str, out: Path, num_updates: int = 1000) -> list[Section]:
    """The standard pictures for any rule: optimizer, drift, LPG or DiscoRL pictures, or none (said so)."""
    if rule.optimizer is not None:
        return optimizer_sections(label, rule.optimizer(meta_params), out)
    if drifts.is_drift_rule(rule):
        return drift_sections(rule, meta_params, label, out, num_updates)
    if lpg.is_lpg_rule(rule):
        return lpg_sections(rule, meta_params, label, out, num_updates)
    if disco_analysis.is_disco_rule(rule):
        return disco_sections(rule, meta_params, label, out)
    return []


# -------------------------------------------------------------------- report
def _markdown(title: str, intro: list[str], sections: list[Section], rule_note: str = "") -> str:
    lines = [f"# {title}", "", *intro, ""]
    for s in sections:
        lines += [f"## {s.heading}", "", f"![{s.heading}]({s.image})", "", s.caption, ""]
    if rule_note:
        lines += [rule_note, ""]
    return "\n".join(lines)


def _rule_line(rule: Rule, manifest: dict | None = None) -> str:
    kwargs = ", ".join(f"{k}={v}" for k, v in rule.kwargs.items()) or "no hyper-parameters"
    extra = ""
    if manifest:
        extra = "".join(
            f", {k} {manifest[k]:.4g}" if isinstance(manifest[k], float) else f", {k} {manifest[k]}"
            for k in ("generation", "fitness")
            if k in manifest
        )
    return f"Rule `{rule.name}` ({kwargs}{extra})."


def _no_pictures_note(rule: Rule) -> str:
    return (
        f"No standard pictures for rule `{rule.name}`: it is neither an optimizer, a drift objective "
        f"({', '.join(drifts.drift_rules())}), an LPG objective ({', '.join(lpg.LPG_RULES)}) nor a DiscoRL rule."
    )


def _num_updates(config: dict) -> int:
    """The first task's horizon N (temporally-aware rules read log N); the default if the config cannot say."""
    from metalearn.meta.config import stored_config

    try:
        return int(stored_config(config).tasks[0].resolve()[2].num_updates)
    except (KeyError, TypeError, ValueError):  # an older or foreign config: the pictures still work
        return DEFAULT_NUM_UPDATES


def _fitness(x: float) -> str:
    """A fitness for the report: "diverged" where there is none (every member diverged)."""
    return f"{x:.3f}" if np.isfinite(x) else "diverged"


def _evaluation(task: dict) -> str:
    """A task's held-out evaluation: return mean ± s.e., or "diverged (k/n seeds)"."""
    mean = summary_value(task["return"])
    if np.isfinite(mean):
        return f"return {mean:.3f} ± {summary_value(task['return'], 'stderr'):.3f}"
    flags = task.get("diverged") or []  # per seed; runs from before the flags have none
    return f"diverged ({sum(flags)}/{len(flags)} seeds)" if flags else "diverged"


def analyze_run(run_dir: Path, out: Path, num_updates: int | None = None) -> Path:
    """Fitness, held-out evaluations and the mean rule's pictures of a meta-training run."""
    from metalearn.rules import DivergedRuleError, load_rule

    record = runs.read_run(run_dir)
    name = record.config.get("name", run_dir.name)
    sections, intro = [], [f"Run directory `{run_dir}` (experiment `{name}`)."]
    if record.metrics:
        save_figure(runs.fitness_figure(record.metrics, name), out / "fitness_curves.png")
        c = runs.fitness_curves(record.metrics)
        best = c["best"][np.isfinite(c["best"])]  # NaN: every member diverged that generation
        intro.append(
            f"{len(record.metrics)} generations; population mean fitness {_fitness(c['mean'][0])} → "
            f"{_fitness(c['mean'][-1])}, best member {_fitness(best.max() if best.size else np.nan)}."
        )
        sections.append(
            Section("Fitness", "fitness_curves.png", "Population best, mean and median fitness per generation.")
        )
    else:
        intro.append("No generations logged yet (metrics.jsonl is empty).")
    if record.evals:
        last = record.evals[-1]
        results = [f"{task} {_evaluation(t)}" for task, t in last["tasks"].items()]
        intro.append(
            f"Last held-out evaluation of the mean rule (generation {last['generation']}): {'; '.join(results)}."
        )
        save_figure(runs.eval_figure(record.evals, name), out / "held_out_evals.png")
        sections.append(
            Section(
                "Held-out evaluations",
                "held_out_evals.png",
                "The search distribution's mean rule trained on held-out seeds (and held-out tasks), mean ± s.e. over "
                "seeds; generation 0 is the starting rule.",
            )
        )
    levels = RunDir(run_dir) / RunDir.LEVELS_PLOT  # a curriculum run's level buffer, drawn when the run finished
    if levels.is_file():
        if levels.resolve() != (out / RunDir.LEVELS_PLOT).resolve():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(levels, out / RunDir.LEVELS_PLOT)
        sections.append(
            Section(
                "Curriculum levels",
                RunDir.LEVELS_PLOT,
                "Scores of the levels trained on (and, for GROOVE, the buffer's), their features, and the final "
                "buffer.",
            )
        )
    rule_file = RunDir(run_dir).rule("mean")
    note = ""
    try:
        loaded = load_rule(rule_file) if rule_file.is_file() else None
    except DivergedRuleError as err:
        loaded = None
        intro.append(f"The mean rule diverged ({err}): no rule pictures.")
    if loaded is not None:
        rule, meta_params, manifest = loaded
        intro.append(f"{_rule_line(rule, manifest)} Pictures below are of `rules/mean.npz`.")
        n = _num_updates(record.config) if num_updates is None else num_updates
        rule_secs = rule_sections(rule, meta_params, f"{rule.name} (mean)", out, n)
        sections += rule_secs
        note = "" if rule_secs else _no_pictures_note(rule)
    elif not rule_file.is_file():
        intro.append("No `rules/mean.npz` yet (the run has not finished): no rule pictures.")
    return _write(out, _markdown(f"Analysis: {name}", intro, sections, note))


def analyze_rule(
    rule: Rule,
    meta_params: Any,
    label: str,
    out: Path,
    manifest: dict | None = None,
    num_updates: int | None = None,
) -> Path:
    """The pictures of one rule (``num_updates``: the horizon N shown to temporally-aware rules)."""
    recorded = (manifest or {}).get("num_updates")  # rule files from meta-training runs record their horizon
    n = num_updates or recorded or DEFAULT_NUM_UPDATES
    sections = rule_sections(rule, meta_params, label, out, n)
    note = "" if sections else _no_pictures_note(rule)
    intro = [_rule_line(rule, manifest)]
    if rule.kwargs.get("temporal"):
        if num_updates:
            how = ""
        elif recorded:
            how = " (the horizon the rule file records)"
        else:
            how = " (the default: this rule file does not record its horizon; pass `--num-updates N`)"
        intro.append(f"Temporally-aware: it reads training progress and log N, shown at horizon N = {n} updates{how}.")
    return _write(out, _markdown(f"Analysis: {label}", intro, sections, note))


def _write(out: Path, text: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT
    path.write_text(text)
    return path


def analyze(target: str | Path, out: str | Path | None = None, num_updates: int | None = None) -> Path:
    """Writes the pictures of ``target`` and ``analysis.md`` (see the module docstring); returns the report's path.

    ``num_updates``: the training horizon N that temporally-aware rules (TA-LPO,
    TA-LPG) are shown; by default a run's first task's, else 1000. A rule file
    does not record it: pass the horizon the rule was meta-trained at.
    """
    from metalearn.rules import load_rule, published_rule

    if num_updates is not None and not (isinstance(num_updates, int) and num_updates >= 1):
        raise ValueError(f"num_updates={num_updates!r} is invalid; allowed: an integer >= 1")
    text = str(target)
    if text.startswith("published:"):
        name = text.removeprefix("published:")
        rule, meta_params = published_rule(name)
        out_dir = Path(out) if out else Path(f"published_{name}_analysis")
        return analyze_rule(rule, meta_params, f"{rule.name} (published {name})", out_dir)
    if text.startswith("discovered:"):
        from metalearn.zoo import load_discovered

        name = text.removeprefix("discovered:")
        rule, meta_params, card = load_discovered(name)
        out_dir = Path(out) if out else Path(f"discovered_{name}_analysis")
        horizon = num_updates or card["budget"].get("num_updates")
        return analyze_rule(rule, meta_params, f"{rule.name} (discovered {name})", out_dir, None, horizon)
    path = Path(target)
    if path.is_dir():
        if runs.is_run_dir(path):
            return analyze_run(path, Path(out) if out else path, num_updates)
        if (path / "spec.json").is_file():  # the evaluation engine's folder: its own analysis, in place
            from metalearn.evaluation import analyse

            analyse(path)
            return path / "table.md"
        raise ValueError(f"{path}: a directory with neither config.json nor spec.json; allowed: {allowed_targets()}")
    if path.is_file():
        out_dir = Path(out) if out else path.parent / f"{path.stem}_analysis"
        if path.suffix == ".npz":
            rule, meta_params, manifest = load_rule(path)  # fails clearly on corrupt / foreign files
            return analyze_rule(rule, meta_params, f"{rule.name} ({path.name})", out_dir, manifest, num_updates)
        if path.suffix == ".npy":
            rule, meta_params = published_rule(str(path))
            return analyze_rule(rule, meta_params, f"OPEN ({path.name})", out_dir)
        raise ValueError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; allowed: {allowed_targets()}")
    raise ValueError(f"{target}: no such file or directory; allowed: {allowed_targets()}")
