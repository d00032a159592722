"""TA-LPG by ES vs by meta-gradients: do the learned targets depend on the agent's lifetime progress?

The TA-LPG paper's claim (Jackson et al. 2024): ES over whole lifetimes discovers update rules whose
targets change over the agent's lifetime; meta-gradients through K = 5 updates do not. This script
meta-trains TA-LPG both ways at CPU scale, several meta-seeds each, on the same random-lifetime
gridworld levels (``--distribution``, default GROOVE's ``all_vrandlife``: lifetimes 10-250 updates):

* ES: ``metalearn/experiments/ta_lpg_gridworld_es.yaml`` (antithetic task sampling, pair-winner shaping),
* meta-gradients: ``metalearn/experiments/ta_lpg_gridworld_metagrad.yaml`` (8 persistent agents, K = 5),

with the levels scored ``random`` (a score is only logged; regret would train an A2C agent per level).
Each final mean rule's targets π̂ and ŷ are computed along the same synthetic trajectory
(:func:`metalearn.analysis.synthetic_trajectory`) at progress 0.1 / 0.5 / 0.9 and lifetime 250, and
:func:`metalearn.analysis.progress_dependence` says how much of their variation lies across progress
(0: none). Runs go to ``runs/ta_lpg_es_vs_metagrad/<regime>_s<seed>`` and resume if interrupted.

    python experiments/scripts/ta_lpg_es_vs_metagrad.py --regime es --seeds 0 1 2
    python experiments/scripts/ta_lpg_es_vs_metagrad.py --regime meta_gradient --seeds 0 1 2
    python experiments/scripts/ta_lpg_es_vs_metagrad.py --analyse   # table, JSON and figure

Writes ``experiments/reports/data/ta_lpg_es_vs_metagrad.json`` and ``.../ta_lpg_es_vs_metagrad.png``; without the
run directories (not committed), ``--analyse`` re-summarises the per-run measurements stored in that JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from metalearn import analysis
from metalearn.meta import MetaConfig, load_config_dict, resume_run, start_run
from metalearn.rules import load_rule
from metalearn.runs import read_jsonl, summary_value

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "ta_lpg_es_vs_metagrad"
DATA = ROOT / "experiments" / "reports" / "data"
CONFIGS = {"es": "ta_lpg_gridworld_es", "meta_gradient": "ta_lpg_gridworld_metagrad"}
PROGRESSES = (0.1, 0.5, 0.9)
LIFETIME = 250


def config(regime: str, seed: int, distribution: str, generations: int) -> MetaConfig:
    d = load_config_dict(CONFIGS[regime])
    d["seed"] = seed
    d["generations"] = generations
    d["eval_every"] = generations  # evaluate the starting and the final rule only
    d["curriculum"] = {**d["curriculum"], "distribution": distribution, "score": "random"}
    d["curriculum"].pop("baseline", None)
    d["curriculum"].pop("baseline_train", None)
    return MetaConfig.from_dict(d)


def run(regime: str, seed: int, distribution: str, generations: int) -> Path:
    run_dir = RUNS / f"{regime}_s{seed}"
    if (run_dir / "result.json").is_file():
        return run_dir
    if (run_dir / "config.json").is_file():
        return resume_run(run_dir, generations=generations, progress=False)
    return start_run(config(regime, seed, distribution, generations), run_dir=run_dir, progress=False)


def measure() -> tuple[list[dict], dict]:
    """Per finished run (under ``RUNS``): its final and starting rule's progress dependence and returns; and the
    final rule's targets by (regime, seed), for the figure."""
    rows, targets_of = [], {}
    for run_dir in sorted(RUNS.glob("*_s*")):
        if not (run_dir / "result.json").is_file():
            continue
        regime, seed = run_dir.name.rsplit("_s", 1)
        rule, meta_params, _ = load_rule(run_dir / "rules" / "mean.npz")
        targets = analysis.lpg_targets(rule, meta_params, progresses=PROGRESSES, num_updates=LIFETIME)
        # The rule both regimes start from at this seed (every regime: rule.init(PRNGKey(seed))).
        initial = rule.init(jax.random.PRNGKey(int(seed)))
        initial_targets = analysis.lpg_targets(rule, initial, progresses=PROGRESSES, num_updates=LIFETIME)
        targets_of[regime, int(seed)] = targets
        evals = read_jsonl(run_dir / "eval.jsonl")
        final = {name: summary_value(t["return"]) for name, t in evals[-1]["tasks"].items()}
        first = {name: summary_value(t["return"]) for name, t in evals[0]["tasks"].items()}
        rows.append(
            {
                "regime": regime,
                "seed": int(seed),
                "generations": evals[-1]["generation"],
                "dependence": analysis.progress_dependence(targets),
                "dependence_initial": analysis.progress_dependence(initial_targets),
                "pi_hat_by_progress_mean_abs": np.abs(targets.pi_hat).mean(axis=1).tolist(),
                "eval_return_first": first,
                "eval_return_final": final,
            }
        )
    return rows, targets_of


def summarise(rows: list[dict]) -> dict:
    """Per regime and target (π̂, ŷ), over meta-seeds (the units: one rule each): the final rules' dependence and
    the starting rules', each mean ± s.e., and each rule's change from its own start with the percentile-bootstrap
    95% interval of the mean change (3 meta-seeds give a rough interval: about their smallest to largest change)."""

    def described(values: list[float], interval: bool = False) -> dict:
        mean, se = analysis.mean_stderr(values)
        return {
            "values": values,
            "mean": mean,
            "stderr": se,
            **({"ci": analysis.bootstrap_ci(values)} if interval else {}),
        }

    summary = {}
    for regime in CONFIGS:
        mine = [r for r in rows if r["regime"] == regime]
        if not mine:
            continue
        summary[regime] = {"seeds": [r["seed"] for r in mine]}
        for target in ("pi_hat", "y_hat"):
            end = [r["dependence"][target] for r in mine]
            start = [r["dependence_initial"][target] for r in mine]
            summary[regime][target] = described(end)
            summary[regime][f"{target}_initial"] = described(start)
            summary[regime][f"{target}_change"] = described([e - s for e, s in zip(end, start, strict=True)], True)
    return summary


def analyse() -> dict:
    """Measures the finished runs, or, where their directories are absent (they are not committed), re-summarises
    the per-run measurements stored in ``ta_lpg_es_vs_metagrad.json`` (the figure is then left as it is)."""
    rows, targets_of = measure()
    path = DATA / "ta_lpg_es_vs_metagrad.json"
    if not rows:
        if not path.is_file():
            raise SystemExit(f"no finished runs under {RUNS} and no {path}; run --regime first")
        rows = json.loads(path.read_text())["runs"]
    out = {
        "question": "how much do TA-LPG's targets depend on lifetime progress, by ES vs by meta-gradients",
        "progresses": PROGRESSES,
        "lifetime": LIFETIME,
        "runs": rows,
        "summary": summarise(rows),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    if targets_of:
        figure(rows, targets_of)
    return out


def figure(rows: list[dict], targets_of: dict[tuple[str, int], analysis.LpgTargets]) -> None:
    """π̂ along the synthetic trajectory at each progress, one panel per run (ES top, meta-gradients bottom)."""
    from metalearn.analysis.figures import new_figure

    regimes = [g for g in CONFIGS if any(r["regime"] == g for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    fig, axes = new_figure(len(regimes), len(seeds), panel=(4.0, 2.8))
    for i, regime in enumerate(regimes):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            t = targets_of.get((regime, seed))
            if t is None:
                ax.set_visible(False)
                continue
            for p, pi_hat in zip(t.progresses, t.pi_hat, strict=True):
                ax.plot(pi_hat, label=f"progress {p:.1f}")
            dep = analysis.progress_dependence(t)["pi_hat"]
            ax.set_title(f"{regime} seed {seed}: dependence {dep:.2f}", fontsize=9)
            ax.set_xlabel("step of the trajectory")
            ax.set_ylabel("π̂")
    axes[0][0].legend(fontsize=7)
    fig.savefig(DATA / "ta_lpg_es_vs_metagrad.png", dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", choices=sorted(CONFIGS), help="meta-train this regime's seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--distribution", default="all_vrandlife")
    parser.add_argument("--generations", type=int, default=None, help="default: ES 10, meta-gradients 12")
    parser.add_argument("--analyse", action="store_true", help="summarise the finished runs")
    args = parser.parse_args()
    if args.regime:
        generations = args.generations or {"es": 10, "meta_gradient": 12}[args.regime]
        for seed in args.seeds:
            print(f"{args.regime} seed {seed}: {run(args.regime, seed, args.distribution, generations)}", flush=True)
    if args.analyse:
        out = analyse()
        for regime, s in out["summary"].items():
            change = lambda t, s=s: f"{s[t]['mean']:+.3f} [{s[t]['ci'][0]:+.3f}, {s[t]['ci'][1]:+.3f}]"
            print(
                f"{regime:>14}: π̂ dependence {s['pi_hat']['mean']:.3f} ± {s['pi_hat']['stderr']:.3f}, "
                f"ŷ dependence {s['y_hat']['mean']:.3f} ± {s['y_hat']['stderr']:.3f} (at the start: π̂ "
                f"{s['pi_hat_initial']['mean']:.3f} ± {s['pi_hat_initial']['stderr']:.3f}, ŷ "
                f"{s['y_hat_initial']['mean']:.3f} ± {s['y_hat_initial']['stderr']:.3f}); change from the start: π̂ "
                f"{change('pi_hat_change')}, ŷ {change('y_hat_change')} (95% CI; meta-seeds {s['seeds']})"
            )


if __name__ == "__main__":
    main()
