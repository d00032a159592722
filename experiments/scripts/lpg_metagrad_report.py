"""LPG and TA-LPG meta-trained from scratch by meta-gradients, on held-out gridworlds and lifetimes, vs A2C.

Two claims of the LPG / TA-LPG papers, tested at CPU scale:

* LPG (Oh et al. 2020): a rule meta-trained by meta-gradients on random gridworld levels trains
  agents on the hand-designed held-out levels (``dense``, ``sparse``, ``long``, ``longer``,
  ``long_dense``) about as well as a tuned A2C does;
* TA-LPG (Jackson et al. 2024): a rule that reads the agent's lifetime progress generalises to
  lifetimes it was not trained on (here ½× and 2× the training lifetime) better than LPG does.

Steps (each resumes or skips what is done):

    python experiments/scripts/lpg_metagrad_report.py train --rule lpg --seeds 0 1 2
    python experiments/scripts/lpg_metagrad_report.py train --rule ta_lpg --seeds 0 1 2 --ta-lpg-small
    python experiments/scripts/lpg_metagrad_report.py evaluate --levels dense long longer long_dense
    python experiments/scripts/lpg_metagrad_report.py evaluate --levels sparse --factors 1
    python experiments/scripts/lpg_metagrad_report.py analyse
    python experiments/scripts/lpg_metagrad_report.py compare

``train`` runs ``metalearn/experiments/lpg_gridworld_metagrad.yaml`` (or its TA-LPG twin) for ``--generations`` into
``runs/lpg_metagrad/<rule>_s<seed>`` and copies the final mean rule to
``experiments/reports/lpg_metagrad/rules/<rule>_s<seed>.npz`` (committed: the evaluation needs only
these). The stored TA-LPG runs were trained on LPG's ``small`` levels (fixed 250-update lifetimes), not the
``all_vrandlife`` levels its yaml names: ``--ta-lpg-small`` reproduces them. Without it TA-LPG trains on
``all_vrandlife`` into ``<rule>_all_vrandlife_s<seed>`` (run and rule file), which ``evaluate`` does not read.
``evaluate`` trains fresh agents on each held-out level for ½×, 1× and 2× the training
lifetime: A2C (GROOVE's, at 3 learning rates, each reported), and each rule after
meta-training (and, at 1x, at its random initialisation); results go to
``experiments/reports/lpg_metagrad/eval/<level>_x<factor>.json``.
``analyse`` writes the tables' numbers (:mod:`metalearn.analysis.clustered`: each rule's meta-seeds one clustered arm)
to ``experiments/reports/data/lpg_metagrad.json``.
``compare`` stores the same per-seed results in the evaluation engine's folders for the committed specs
``experiments/specs/lpg_metagrad_x{0.5,1,2}.yaml`` (``experiments/reports/lpg_metagrad/compare_x*/``) and has the
engine analyse them (clustered over meta-seeds; verdict words), without training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from metalearn import analysis
from metalearn.envs import make_env
from metalearn.inner import Trainer, get_preset
from metalearn.meta import MetaConfig, load_config_dict, resume_run, start_run
from metalearn.overrides import apply_overrides
from metalearn.rules import load_rule

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "lpg_metagrad"
REPORT = ROOT / "experiments" / "reports" / "lpg_metagrad"
DATA = ROOT / "experiments" / "reports" / "data"
RULES = ("lpg", "ta_lpg")
CONFIGS = {"lpg": "lpg_gridworld_metagrad", "ta_lpg": "ta_lpg_gridworld_metagrad"}
DISTRIBUTION = "small"  # GROOVE's small levels: 4x4-6x6, fixed lifetime of 250 agent updates
TRAIN_UPDATES = 250
LEVELS = ("dense", "sparse", "long", "longer", "long_dense")
FACTORS = (0.5, 1.0, 2.0)
A2C = ["algorithm=a2c", "gae_lambda=0.95", "clip_value=False", "normalize_advantages=False"]
A2C += ["vf_coef=0.5", "aux_head_dim=0"]  # the `gridworld-a2c` preset (GROOVE's A2C), lr swept:
A2C_LRS = (1e-3, 3e-3, 1e-2)  # 3e-3 is the preset's
LPG_AGENT = ["vf_coef=0", "aux_head_dim=8", "ent_coef=0"]  # as in meta-training: learns from the rule alone
EVAL_SEED = 4321


# ------------------------------------------------------------------ train
def config(rule: str, seed: int, generations: int, meta_lr: float, small: bool = True) -> MetaConfig:
    """``rule``'s yaml; on DISTRIBUTION's levels when ``small`` (the stored runs), else on the yaml's own."""
    d = load_config_dict(CONFIGS[rule])
    d.update(seed=seed, generations=generations, eval_every=generations, eval_seeds=8)
    d["meta_gradient"] = {**d["meta_gradient"], "lr": meta_lr}
    distribution = DISTRIBUTION if small else d["curriculum"]["distribution"]
    d["curriculum"] = {**d["curriculum"], "distribution": distribution, "score": "random"}
    d["held_out_tasks"] = d["held_out_tasks"][:1]  # dense, at the start and the end: a progress check only
    return MetaConfig.from_dict(d)


def train(rule: str, seed: int, generations: int, meta_lr: float, ta_lpg_small: bool = False) -> Path:
    small = rule == "lpg" or ta_lpg_small  # LPG's yaml is on `small` itself
    levels = load_config_dict(CONFIGS[rule])["curriculum"]["distribution"]
    name = f"{rule}_s{seed}" if small else f"{rule}_{levels}_s{seed}"
    run_dir = RUNS / name
    if not (run_dir / "result.json").is_file():
        if (run_dir / "config.json").is_file():
            resume_run(run_dir, generations=generations, progress=False)
        else:
            start_run(config(rule, seed, generations, meta_lr, small), run_dir=run_dir, progress=False)
    (REPORT / "rules").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "rules" / "mean.npz", REPORT / "rules" / f"{name}.npz")
    return run_dir


# --------------------------------------------------------------- evaluate
def _stack(trees: list) -> object:
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def evaluate(level: str, factor: float, seeds: int) -> dict:
    """Fresh agents on ``level`` for ``factor`` x the training lifetime: A2C and every rule, same seeds.

    (Levels are not padded to one shape to share a compilation: a tabular observation grows with
    2^objects, and the padded agents would cost 3x the compute.)
    """
    out_path = REPORT / "eval" / f"{level}_x{factor:g}.json"
    if out_path.is_file():
        return json.loads(out_path.read_text())
    preset = get_preset("gridworld-lpg")
    env = make_env(preset.env, level=level)
    updates = round(TRAIN_UPDATES * factor)
    base = apply_overrides(preset.config, [f"total_timesteps={updates * preset.config.batch_size}", "eval_envs=0"])
    keys = jax.random.split(jax.random.PRNGKey(EVAL_SEED), seeds)
    rows = []

    def train(trainer: Trainer, meta_params: object, stacked: bool = False) -> np.ndarray:
        """(seeds,) final returns; (rules, seeds) for ``stacked`` meta-parameters."""
        fn = jax.vmap(trainer.train, in_axes=(None, 0))
        fn = jax.vmap(fn, in_axes=(0, None)) if stacked else fn
        return np.asarray(jax.jit(fn)(meta_params, keys).final_return, np.float64)

    def record(label: str, rule: str, meta_seed: int | None, final: np.ndarray, seconds: float) -> None:
        rows.append({"level": level, "label": label, "rule": rule, "meta_seed": meta_seed, "per_seed": final.tolist()})
        mean, se = analysis.mean_stderr(final)
        print(f"{level} x{factor:g} {label:<30} {mean:8.3f} ± {se:.3f}  ({seconds:.0f}s)", flush=True)

    for lr in A2C_LRS:
        start = time.time()
        finals = train(Trainer(env, apply_overrides(base, [*A2C, f"lr={lr}"])), None)
        record(f"A2C lr {lr:g}", f"a2c_lr{lr:g}", None, finals, time.time() - start)
    for name in RULES:
        files = sorted((REPORT / "rules").glob(f"{name}_s*.npz"))
        if not files:
            continue
        rule = load_rule(files[0])[0]
        meta_seeds = [int(f.stem.rsplit("_s", 1)[1]) for f in files]
        # each meta-seed's rule at its end, and (at the training lifetime only, to save compute) at its
        # start: every regime starts from rule.init(PRNGKey(seed))
        trained = [load_rule(f)[1] for f in files]
        initial = [rule.init(jax.random.PRNGKey(s)) for s in meta_seeds] if factor == 1 else []
        trainer = Trainer(env, apply_overrides(base, LPG_AGENT), objective=rule.objective)
        start = time.time()
        finals = train(trainer, _stack(trained + initial), stacked=True)  # (meta-seeds [x 2], seeds)
        seconds = time.time() - start
        for i, s in enumerate(meta_seeds):
            record(f"{name} meta-trained, meta-seed {s}", name, s, finals[i], seconds)
            if initial:
                record(f"{name} init, meta-seed {s}", f"{name}_init", s, finals[len(meta_seeds) + i], seconds)
    result = {"level": level, "factor": factor, "updates": updates, "seeds": seeds, "eval_seed": EVAL_SEED}
    result["rows"] = rows
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------- analyse
def analyse() -> dict:
    """Every statistic from the stored per-seed results (``eval/<level>_x<factor>.json``), by
    :func:`metalearn.analysis.clustered.arm_summary`: per cell and arm, a rule's meta-seeds one clustered arm."""
    from metalearn.analysis import clustered

    cells = []
    for path in sorted((REPORT / "eval").glob("*_x*.json")):
        result = json.loads(path.read_text())
        cell = {k: result[k] for k in ("level", "factor", "updates", "seeds")}
        for key in ARMS:  # A2C at each of its 3 learning rates (none picked), each rule at its end and start
            mine = sorted((r for r in result["rows"] if r["rule"] == key), key=lambda r: r["meta_seed"] or 0)
            if not mine:
                continue
            x = np.stack([r["per_seed"] for r in mine])[:, None, :]  # (meta-seeds or 1, 1, seeds)
            meta_seeds = {"meta_seeds": [r["meta_seed"] for r in mine]} if mine[0]["meta_seed"] is not None else {}
            cell[key] = {**meta_seeds, **clustered.arm_summary(x)}
        cells.append(cell)
    out = {
        "question": "LPG / TA-LPG meta-trained by meta-gradients vs A2C on held-out levels and lifetimes",
        "train": {"distribution": DISTRIBUTION, "lifetime_updates": TRAIN_UPDATES},
        "statistics": "mean ± s.e. over meta-seeds (A2C: over seeds) of the final return; IQM with a 95% bootstrap "
        "interval clustered over meta-seeds (meta-seeds, then seeds within each)",
        "cells": cells,
        "ta_lpg_progress_dependence": progress_dependence(),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "lpg_metagrad.json").write_text(json.dumps(out, indent=1))
    figure(cells)
    return out


def progress_dependence() -> dict:
    """How much each meta-trained TA-LPG's targets depend on lifetime progress, at its start and its end.

    As in ``ta_lpg_es_vs_metagrad.py``: π̂ and ŷ along one synthetic trajectory at progress 0.1 / 0.5 /
    0.9 of the training lifetime; :func:`metalearn.analysis.progress_dependence` (0: none).
    """
    out = {}
    for path in sorted((REPORT / "rules").glob("ta_lpg_s*.npz")):
        rule, meta_params, _ = load_rule(path)
        seed = int(path.stem.rsplit("_s", 1)[1])
        dependence = {}
        for when, params in (("start", rule.init(jax.random.PRNGKey(seed))), ("end", meta_params)):
            t = analysis.lpg_targets(rule, params, progresses=(0.1, 0.5, 0.9), num_updates=TRAIN_UPDATES)
            dependence[when] = analysis.progress_dependence(t)
        out[f"meta-seed {seed}"] = dependence
    return out


ARMS = {  # key in a cell -> (label, style)
    "a2c_lr0.001": ("A2C lr 1e-3", dict(color="0.55", ls=":")),
    "a2c_lr0.003": ("A2C lr 3e-3 (preset)", dict(color="k", ls="--")),
    "a2c_lr0.01": ("A2C lr 1e-2", dict(color="0.55", ls="-.")),
    "lpg_init": ("LPG, random init", dict(color="C0", ls="none", marker="x")),
    "lpg": ("LPG, meta-gradients", dict(color="C0")),
    "ta_lpg_init": ("TA-LPG, random init", dict(color="C1", ls="none", marker="x")),
    "ta_lpg": ("TA-LPG, meta-gradients", dict(color="C1")),
}


def figure(cells: list[dict]) -> None:
    """Final return against lifetime (x the training lifetime), one panel per held-out level: mean ± s.e. over
    meta-seeds (A2C: over seeds)."""
    from metalearn.analysis.figures import new_figure

    fig, axes = new_figure(1, len(LEVELS), panel=(3.4, 2.9))
    for ax, level in zip(axes[0], LEVELS, strict=True):
        mine = sorted((c for c in cells if c["level"] == level), key=lambda c: c["factor"])
        x = [c["factor"] for c in mine]
        for key, (label, style) in ARMS.items():
            have = [c for c in mine if key in c]
            if not have:
                continue
            y, e = [c[key]["mean"] for c in have], [c[key]["stderr"] for c in have]
            style = {"marker": "o", **style}
            ax.errorbar([c["factor"] for c in have], y, yerr=e, label=label, ms=4, capsize=2, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"{f:g}x" for f in x])
        ax.set_title(level)
        ax.set_xlabel(f"lifetime (x {TRAIN_UPDATES} updates)")
    axes[0][0].set_ylabel("final return")
    axes[0][0].legend(fontsize=7)
    fig.savefig(DATA / "lpg_metagrad.png", dpi=110, bbox_inches="tight")


# ---------------------------------------------------------------- compare (the evaluation engine)
ARM_RULES = {"LPG": "lpg", "TA-LPG": "ta_lpg", "A2C lr 1e-3": "a2c_lr0.001", "A2C lr 1e-2": "a2c_lr0.01"}
BASELINE_RULE = "a2c_lr0.003"  # the gridworld-a2c preset's lr: the spec's baseline
RULES_DIR = "experiments/reports/lpg_metagrad/rules"  # as the specs name the rule files


def compare(factor: str) -> Path:
    """The stored results at ``factor`` x the lifetime, as the engine's results folder, analysed there."""
    from metalearn.evaluation import analyse, load_spec, write_per_seed, write_spec

    spec = load_spec(ROOT / "experiments" / "specs" / f"lpg_metagrad_x{factor}.yaml")
    out = REPORT / f"compare_x{factor}"
    write_spec(out, spec)

    def instances(rows: list[dict]) -> list[dict]:
        return [
            {
                "ref": None
                if r["meta_seed"] is None
                else f"experiments/reports/lpg_metagrad/rules/{r['rule']}_s{r['meta_seed']}.npz",
                "final_return": r["per_seed"],
                "eval_return": [None] * len(r["per_seed"]),
                "diverged": [0] * len(r["per_seed"]),
            }
            for r in sorted(rows, key=lambda r: r["meta_seed"] or 0)
        ]

    for task in spec.tasks:
        stored = json.loads((REPORT / "eval" / f"{task.name}_x{factor}.json").read_text())
        assert stored["seeds"] == spec.seeds and stored["eval_seed"] == spec.seed, (task.name, factor)
        by_rule = {
            rule: [r for r in stored["rows"] if r["rule"] == rule] for rule in (*ARM_RULES.values(), BASELINE_RULE)
        }
        source = f"eval/{task.name}_x{factor}.json"
        for label, rule in ARM_RULES.items():
            write_per_seed(out, task.name, label, instances(by_rule[rule]), source=source)
        write_per_seed(out, task.name, "baseline_preset", instances(by_rule[BASELINE_RULE]), source=source)
    analyse(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["train", "evaluate", "analyse", "compare"])
    parser.add_argument("--rule", choices=RULES, default="lpg")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="meta-seeds to train")
    parser.add_argument("--generations", type=int, default=80, help="of 25 meta-steps each")
    parser.add_argument("--meta-lr", type=float, default=1e-3)
    parser.add_argument(
        "--ta-lpg-small",
        action="store_true",
        help="TA-LPG on `small` levels, as the stored runs (default: all_vrandlife)",
    )
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--factors", type=float, nargs="+", default=list(FACTORS))
    parser.add_argument("--eval-seeds", type=int, default=8, help="fresh agents per rule and cell")
    args = parser.parse_args()
    if args.step == "train":
        for seed in args.seeds:
            run = train(args.rule, seed, args.generations, args.meta_lr, args.ta_lpg_small)
            print(f"{args.rule} seed {seed}: {run}", flush=True)
    elif args.step == "evaluate":
        for level in args.levels:
            for factor in args.factors:
                evaluate(level, factor, args.eval_seeds)
    elif args.step == "compare":
        for factor in ("0.5", "1", "2"):
            out = compare(factor)
            print((out / "table.md").read_text())
    else:
        print(markdown(analyse()))


def markdown(out: dict) -> str:
    """The report's tables: mean ± s.e. per cell (rules: over meta-seeds; A2C: over seeds), then IQMs at 1x."""
    order = {level: i for i, level in enumerate(LEVELS)}
    cells = sorted(out["cells"], key=lambda c: (order[c["level"]], c["factor"]))
    arms = [k for k in ARMS if any(k in c for c in cells)]
    lines = ["| level | lifetime | " + " | ".join(ARMS[k][0] for k in arms) + " |", "|" + " --- |" * (2 + len(arms))]
    for c in cells:
        row = [c["level"], f"{c['factor']:g}x ({c['updates']})"]
        row += [f"{c[k]['mean']:.2f} ± {c[k]['stderr']:.2f}" if k in c else "" for k in arms]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| level (1x) | " + " | ".join(f"{ARMS[k][0]}: IQM [95% CI]" for k in arms) + " |"]
    lines.append("|" + " --- |" * (1 + len(arms)))
    for c in (c for c in cells if c["factor"] == 1):
        iqms = [c[k]["iqm"] for k in arms]
        lines.append(f"| {c['level']} | " + " | ".join(f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in iqms) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
