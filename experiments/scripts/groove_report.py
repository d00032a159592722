"""GROOVE as published, at CPU scale: algorithmic regret vs domain randomisation, and the score ablation.

Two claims of GROOVE (Jackson et al. 2023), tested with ``metalearn/experiments/lpg_gridworld_groove_es.yaml``
(LPG by ES over antithetic pairs, each agent living its level's lifetime, levels from GROOVE's own
buffer scored when the lifetimes end):

* the headline: prioritising levels by algorithmic regret (AR) gives an LPG rule that trains agents
  better on held-out levels than domain randomisation (DR) does;
* the ablation: AR is the critical component; the UED scores of PLR (positive value loss, L1 value
  loss) and a fixed random buffer (``frozen``) do worse.

Arms differ only in ``curriculum`` (:data:`ARMS`). Steps (each resumes or skips what is done):

    python experiments/scripts/groove_report.py train ar:0 dr:0 frozen:0 pvl:0 l1vl:0 ...
    python experiments/scripts/groove_report.py evaluate --levels dense sparse long longer long_dense
    python experiments/scripts/groove_report.py analyse
    python experiments/scripts/groove_report.py compare

``train`` runs each ARM:SEED into ``runs/groove/<arm>_s<seed>`` and copies the final mean rule to
``experiments/reports/groove_es/rules/<arm>_s<seed>.npz`` (committed: the evaluation needs only these).
``evaluate`` trains fresh agents (8 seeds a rule) on each held-out hand-designed level for the training
lifetime (250 updates), and on Breakout-MinAtar: every rule, each meta-seed's initial rule (``init``)
and the tuned A2C (``gridworld-a2c``, 16 seeds); results go to
``experiments/reports/groove_es/eval/<level>.json`` (a rerun adds only the rows a file lacks). ``analyse`` writes
``experiments/reports/data/groove_es.{json,png}`` and prints the report's tables. ``compare`` stores the gridworld
levels' per-seed results in the evaluation engine's folder for the committed spec
``experiments/specs/groove_es_gridworld.yaml`` (``experiments/reports/groove_es/compare/``) and has the engine
analyse them: per level and pooled, clustered over meta-seeds, with verdict words, without training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from pathlib import Path

import jax
import numpy as np

from metalearn.meta import MetaConfig, load_config_dict, resume_run, start_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "groove"
REPORT = ROOT / "experiments" / "reports" / "groove_es"
DATA = ROOT / "experiments" / "reports" / "data"
CONFIG = "lpg_gridworld_groove_es"
ARMS = {  # arm -> curriculum changes to the config (the AR arm is the config as committed)
    "ar": {},
    "dr": {"kind": "dr", "score": "random"},
    "frozen": {"kind": "frozen", "score": "random"},
    "pvl": {"score": "positive_value_loss"},
    "l1vl": {"score": "l1_value_loss"},
}
LABELS = {
    "ar": "GROOVE (algorithmic regret)",
    "dr": "domain randomisation",
    "frozen": "fixed random buffer",
    "pvl": "buffer by positive value loss",
    "l1vl": "buffer by L1 value loss",
    "init": "LPG at initialisation",
}
ROWS = [*ARMS, "init"]  # the evaluated rules: each arm's, and every arm's generation 0


# ------------------------------------------------------------------ train
def config(arm: str, seed: int) -> MetaConfig:
    d = load_config_dict(CONFIG)
    d["seed"] = seed
    d["curriculum"] = {**d["curriculum"], **ARMS[arm]}
    return MetaConfig.from_dict(d)


def train(arm: str, seed: int) -> Path:
    run_dir = RUNS / f"{arm}_s{seed}"
    start = time.time()
    if not (run_dir / "result.json").is_file():
        if (run_dir / "config.json").is_file():
            resume_run(run_dir, progress=False)
        else:
            start_run(config(arm, seed), run_dir=run_dir, progress=False)
    (REPORT / "rules").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "rules" / "mean.npz", REPORT / "rules" / f"{arm}_s{seed}.npz")
    print(f"{arm} seed {seed}: {run_dir} ({(time.time() - start) / 60:.1f} min)", flush=True)
    return run_dir


# --------------------------------------------------------------- evaluate
GRID_LEVELS = ("dense", "sparse", "long", "longer", "long_dense", "labyrinth", "sixteen_rooms")
TRANSFER = {"breakout": ("Breakout-MinAtar", 500_000)}  # MinAtar transfer: env, steps per agent
TRAIN_UPDATES = 250  # the `small` levels' lifetime, the held-out agents' too
EVAL_SEED = 2468
# The evaluation protocol's baseline (metalearn.evaluation.tune_baseline): A2C tuned on each held-out level at its
# budget, on tuning seeds apart from the evaluation seeds, over the antagonist sweep's learning rates and entropy
# costs.
A2C_GRID = ("lr=1e-3,3e-3,1e-2", "ent_coef=0,0.01,0.05")
BASELINES = {"a2c": "A2C (tuned on `small`)", "a2c_tuned": "A2C (tuned on the level)"}


def _stack(trees: list) -> object:
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def rules() -> tuple[object, list[tuple[str, int, object]]]:
    """The LPG rule and its (arm, meta-seed, meta-parameters): every committed final mean rule, and each
    meta-seed's starting point as arm ``init`` (every arm's generation 0: the rule initialised from the
    config's seed, as :class:`~metalearn.meta.ESTrainer` does)."""
    from metalearn.rules import load_rule

    files = sorted((REPORT / "rules").glob("*_s*.npz"))
    if not files:
        raise SystemExit(f"no rule files in {REPORT / 'rules'}; run `train` first")
    rule, out = load_rule(files[0])[0], []
    for f in files:
        arm, seed = f.stem.rsplit("_s", 1)
        out.append((arm, int(seed), load_rule(f)[1]))
    out += [("init", seed, rule.init(jax.random.PRNGKey(seed))) for seed in sorted({s for _, s, _ in out})]
    return rule, out


def evaluate(level: str, seeds: int) -> dict:
    """Fresh agents on ``level``: every rule of :func:`rules` (``seeds`` each) and the tuned A2C
    (``2 x seeds``), the same keys for all. Rows already in the level's file are kept; only missing ones run.

    Gridworld levels: 250 updates, scored by the final policy's evaluation-rollout return divided by the
    level's optimal return (value iteration); MinAtar: the LPG agent's shape on the game, raw return.
    """
    from metalearn.analysis import mean_stderr
    from metalearn.envs import make_env
    from metalearn.envs.value_iteration import optimal_return
    from metalearn.evaluation import check_disjoint, tune_baseline
    from metalearn.evaluation.spec import TUNING_SEED_OFFSET, TuneSpec
    from metalearn.inner import Trainer, get_preset
    from metalearn.inner.tune import format_point

    out_path = REPORT / "eval" / f"{level}.json"
    lpg, a2c = get_preset("gridworld-lpg"), get_preset("gridworld-a2c")
    if level in TRANSFER:
        env_name, steps = TRANSFER[level]
        env, optimum = make_env(env_name), None
    else:
        env, steps = make_env("GridWorld", level=level), TRAIN_UPDATES * lpg.config.batch_size
        optimum = optimal_return(level)
    out = {
        "level": level,
        "steps": steps,
        "optimal_return": optimum,
        "seeds": seeds,
        "eval_seed": EVAL_SEED,
        "rows": [],
    }
    if out_path.is_file():
        out = json.loads(out_path.read_text())
        if out["seeds"] != seeds:
            raise SystemExit(f"{out_path} has {out['seeds']} seeds per rule, not --seeds {seeds}; remove it to rerun")
    done = {(r["arm"], r["meta_seed"]) for r in out["rows"]}
    agent = lpg.config.replace(total_timesteps=steps, vf_coef=0.5)  # as in meta-training
    baseline = a2c.config.replace(total_timesteps=steps)
    keys = jax.random.split(jax.random.PRNGKey(EVAL_SEED), 2 * seeds)
    rule, todo = rules()
    todo = [r for r in todo if (r[0], r[1]) not in done]

    def record(arm: str, meta_seed: int | None, result, seconds: float) -> None:
        ev, final = np.asarray(result.eval_return, np.float64), np.asarray(result.final_return, np.float64)
        label = BASELINES[arm] if arm in BASELINES else f"{arm} meta-seed {meta_seed}"
        out["rows"].append(
            {
                "label": label,
                "arm": arm,
                "meta_seed": meta_seed,
                "eval_return": ev.tolist(),
                "final_return": final.tolist(),
            }
        )
        mean, se = mean_stderr(ev)
        norm = f" ({mean / optimum:.3f} of optimal)" if optimum else ""
        print(f"{level:<14} {label:<22} eval {mean:8.3f} ± {se:.3f}{norm}  ({seconds:.0f}s)", flush=True)

    def a2c(config) -> object:  # the A2C agents on every evaluation key
        return jax.block_until_ready(jax.jit(jax.vmap(Trainer(env, config).train, in_axes=(None, 0)))(None, keys))

    if ("a2c", None) not in done:
        start = time.time()
        record("a2c", None, a2c(baseline), time.time() - start)
    if ("a2c_tuned", None) not in done:
        start = time.time()
        tune = TuneSpec(grid=tuple(A2C_GRID), seeds=seeds)  # the engine's successive halving, disjoint seeds
        tuning_seed = EVAL_SEED + TUNING_SEED_OFFSET
        tuning_keys = jax.random.split(jax.random.PRNGKey(tuning_seed), seeds * tune.rounds)
        check_disjoint(keys, tuning_keys, f"tuning seed {tuning_seed}")
        chosen = tune_baseline(env, baseline, tune, tuning_keys, "eval_return")["chosen"]
        out["a2c_tuned"] = f"tuned by successive halving on seed {tuning_seed}: {format_point(chosen)}"
        record("a2c_tuned", None, a2c(baseline.replace(**chosen)), time.time() - start)
    if todo:
        start = time.time()
        train = jax.vmap(Trainer(env, agent, objective=rule.objective).train, in_axes=(None, 0))
        results = jax.jit(jax.vmap(train, in_axes=(0, None)))(_stack([p for _, _, p in todo]), keys[:seeds])
        results = jax.block_until_ready(results)
        seconds = time.time() - start
        for i, (arm, seed, _) in enumerate(todo):
            record(arm, seed, jax.tree.map(lambda x, i=i: x[i], results), seconds)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1))
    return out


# ---------------------------------------------------------------- analyse
MARGIN = 0.05  # equivalence margin on the normalised scale: 5% of the levels' range [0, optimal], as the engine's


def _normalised(result: dict, row: dict) -> np.ndarray:
    ev = np.asarray(row["eval_return"], np.float64)
    return ev / result["optimal_return"] if result["optimal_return"] else ev


def _arms(result: dict) -> dict[str, np.ndarray]:
    """One level's stored agents as arms ``(G, 1, S)``: each rule's meta-seeds (G of them), each A2C (G = 1)."""
    out = {}
    for arm in [*BASELINES, *ROWS]:
        mine = sorted((r for r in result["rows"] if r["arm"] == arm), key=lambda r: r["meta_seed"] or 0)
        if mine:
            out[arm] = np.stack([_normalised(result, r) for r in mine])[:, None, :]
    return out


def analyse() -> dict:
    """Every statistic from the stored per-seed results (``eval/<level>.json``), by :mod:`metalearn.analysis.clustered`:
    per level and pooled over the gridworld levels (normalised), each rule one clustered arm of its meta-seeds."""
    from metalearn.analysis import clustered

    cells, grids = [], {}  # grids: arm -> its (G, 1, S) on every gridworld level
    for path in sorted((REPORT / "eval").glob("*.json")):
        result = json.loads(path.read_text())
        cell = {k: result[k] for k in ("level", "steps", "optimal_return", "seeds")}
        arms = _arms(result)
        for arm, x in arms.items():
            meta_seeds = [r["meta_seed"] for r in result["rows"] if r["arm"] == arm and arm in ROWS]
            cell[arm] = {**({"meta_seeds": sorted(meta_seeds)} if meta_seeds else {}), **clustered.arm_summary(x)}
            if result["optimal_return"]:  # gridworld levels: pooled across levels (normalised)
                grids.setdefault(arm, []).append(x)
        if "a2c_tuned" in result:
            cell["a2c_tuned_setting"] = result["a2c_tuned"]
        if "a2c_tuned" in arms and "ar" in arms:  # the protocol's verdict on this level: GROOVE vs A2C tuned on it
            cell["protocol"] = clustered.judge(arms["ar"], arms["a2c_tuned"], margin=MARGIN)
        cells.append(cell)
    pooled = {arm: np.concatenate(blocks, axis=1) for arm, blocks in grids.items()}  # (G, levels, S)
    aggregate = {arm: {"levels": x.shape[1], **clustered.arm_summary(x)} for arm, x in pooled.items()}
    if "ar" in pooled:  # AR vs every other arm, pooled over the levels: difference, P(AR > arm), verdict
        for arm, a in aggregate.items():
            if arm != "ar":
                a["ar_vs"] = clustered.judge(pooled["ar"], pooled[arm], margin=MARGIN)
    out = {
        "question": "GROOVE (algorithmic regret) vs DR, and AR vs PVL vs L1VL vs a fixed random buffer",
        "config": CONFIG,
        "arms": {arm: {"label": LABELS[arm], "curriculum": ARMS[arm]} for arm in ARMS},
        "statistics": "mean ± s.e. over meta-seeds (A2C: over seeds); IQM, difference and P(AR > rule) with 95% "
        f"bootstrap intervals clustered over meta-seeds, stratified over levels; margin ±{MARGIN} (normalised)",
        "cells": cells,
        "aggregate_gridworld": aggregate,
        "buffer": buffer_statistics() or _committed_buffer_statistics(),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "groove_es.json").write_text(json.dumps(out, indent=1))
    figure(out)
    return out


def _committed_buffer_statistics() -> dict:
    """The buffer statistics of the committed analysis: the run directories they come from are not committed."""
    path = DATA / "groove_es.json"
    return json.loads(path.read_text())["buffer"] if path.is_file() else {}


def buffer_statistics() -> dict:
    """From the runs' metrics.jsonl: per generation, the mean score of replayed and of fresh levels (per arm,
    over meta-seeds), the fraction replayed, and the levels' mean features."""
    from metalearn.analysis import curve_mean_stderr

    over_runs = lambda x: curve_mean_stderr(x)[0].tolist()  # (runs, G) -> (G,) the mean over meta-seeds
    out = {}
    for arm in ARMS:
        runs = sorted(RUNS.glob(f"{arm}_s*"))
        rows = [[json.loads(x)["curriculum"] for x in (r / "metrics.jsonl").read_text().splitlines()] for r in runs]
        if not rows:
            continue
        g = min(len(r) for r in rows)
        scores = np.array([[c["level_scores"] for c in r[:g]] for r in rows], np.float64)  # (runs, G, L)
        replayed = np.array([[c["level_replayed"] for c in r[:g]] for r in rows], bool)
        with warnings.catch_warnings():  # an arm that never replays (DR), or always does (frozen)
            warnings.simplefilter("ignore", RuntimeWarning)
            out[arm] = {
                "generations": g,
                "replayed_score": np.nanmean(np.where(replayed, scores, np.nan), axis=2).tolist(),
                "fresh_score": np.nanmean(np.where(~replayed, scores, np.nan), axis=2).tolist(),
                "replayed_fraction": over_runs(replayed.mean(axis=2)),  # each run's fraction a generation
                **{
                    f: over_runs(np.array([[c[f] for c in r[:g]] for r in rows]))
                    for f in ("grid_size", "objects", "walls")
                },
            }
    return out


def figure(out: dict) -> None:
    """Left: normalised held-out return per level and arm (mean ± s.e. over meta-seeds; A2C over seeds). Middle: the AR
    arm's buffer: the algorithmic regret of replayed vs fresh levels over meta-training. Right: the
    levels each arm trained on: mean walls per level over meta-training."""
    from metalearn.analysis import curve_mean_stderr
    from metalearn.analysis.figures import new_figure

    fig, axes = new_figure(1, 3, panel=(6.0, 3.4))
    ax = axes[0][0]
    cells = [c for c in out["cells"] if c["optimal_return"]]
    width = 0.8 / (len(ROWS) + len(BASELINES))
    for j, arm in enumerate([*BASELINES, *ROWS]):
        have = [(i, c) for i, c in enumerate(cells) if arm in c]
        y, e = [c[arm]["mean"] for _, c in have], [c[arm]["stderr"] for _, c in have]
        ax.bar([i + j * width for i, _ in have], y, width, yerr=e, label={**BASELINES, **LABELS}[arm], capsize=2)
    ax.set_xticks([i + 0.4 for i in range(len(cells))], [c["level"] for c in cells], rotation=30)
    ax.set_ylabel("eval return / optimal return")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    buf = out["buffer"].get("ar")
    if buf:
        g = np.arange(1, buf["generations"] + 1)
        for key, label in (("replayed_score", "replayed levels"), ("fresh_score", "fresh levels")):
            ax.plot(g, curve_mean_stderr(buf[key])[0], label=label)  # NaN where no run replayed (generation 1)
        ax.set_xlabel("generation")
        ax.set_ylabel("algorithmic regret (mean over meta-seeds)")
        ax.set_title("GROOVE's buffer")
        ax.legend(fontsize=7)
    ax = axes[0][2]
    for arm, buf in out["buffer"].items():
        ax.plot(np.arange(1, buf["generations"] + 1), buf["walls"], label=LABELS[arm])
    ax.set_xlabel("generation")
    ax.set_ylabel("walls per level trained on (mean over meta-seeds)")
    ax.legend(fontsize=7)
    fig.savefig(DATA / "groove_es.png", dpi=110, bbox_inches="tight")


def _iv(v: list[float], digits: int = 3) -> str:
    """[value, lo, hi] as ``value [lo, hi]``."""
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


def _ms(summary: dict) -> str:
    return f"{summary['mean']:.3f} ± {summary['stderr']:.3f}"


def markdown(out: dict) -> str:
    """The report's tables: per level (columns) and rule (rows), then pooled over the gridworld levels, then the
    protocol's verdict per level."""
    cells = out["cells"]
    head = "| rule | " + " | ".join(c["level"] + ("" if c["optimal_return"] else " (raw)") for c in cells) + " |"
    lines = [head, "|" + " --- |" * (1 + len(cells))]
    for b, label in [(b, label) for b, label in BASELINES.items() if any(b in c for c in cells)]:
        lines.append(f"| {label}, over seeds | " + " | ".join(_ms(c[b]) if b in c else "" for c in cells) + " |")
    for a in ROWS:
        lines.append(f"| {LABELS[a]} | " + " | ".join(_ms(c[a]) if a in c else "" for c in cells) + " |")
    agg = out["aggregate_gridworld"]
    if agg:
        lines += [
            "",
            "| rule | mean ± s.e. over meta-seeds | IQM [95% CI] | AR − rule, IQM [95% CI] | P(AR > rule) [95% CI] | "
            "AR vs rule |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for a in [*BASELINES, *ROWS]:
            if a not in agg:
                continue
            label = f"{BASELINES[a]}; ± s.e. over seeds" if a in BASELINES else LABELS[a]
            v = agg[a].get("ar_vs")
            judged = f"{_iv(v['difference'])} | {_iv(v['p_improvement'], 2)} | {v['verdict']}" if v else " | | "
            lines.append(f"| {label} | {_ms(agg[a])} | {_iv(agg[a]['iqm'])} | {judged} |")
    judged = [c for c in cells if "protocol" in c]
    if judged:  # the evaluation protocol, per level: GROOVE's rule vs A2C tuned on that level
        lines += [
            "",
            "| level | A2C tuned on the level | A2C IQM [95% CI] | GROOVE IQM [95% CI] | P(GROOVE > A2C) | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in judged:
            p = c["protocol"]
            setting = c["a2c_tuned_setting"].split(": ", 1)[-1]
            lines.append(
                f"| {c['level']} | {setting} | {_iv(c['a2c_tuned']['iqm'])} | {_iv(c['ar']['iqm'])} | "
                f"{_iv(p['p_improvement'], 2)} | "
                f"**{p['verdict']}** |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------- compare (the evaluation engine)
SPEC_ARMS = {"GROOVE (AR)": "ar", "DR": "dr", "fixed buffer": "frozen", "PVL": "pvl", "L1VL": "l1vl"}


def compare() -> Path:
    """The stored gridworld results as the engine's results folder, analysed there."""
    from metalearn.evaluation import analyse, load_spec, write_per_seed, write_spec

    spec = load_spec(ROOT / "experiments" / "specs" / "groove_es_gridworld.yaml")
    out = REPORT / "compare"
    write_spec(out, spec)

    def instance(row: dict, ref: str | None) -> dict:
        ev = row["eval_return"][: spec.seeds]  # A2C trained 2 x seeds agents; its first 8 share the rules' keys
        return {
            "ref": ref,
            "eval_return": ev,
            "final_return": row["final_return"][: spec.seeds],
            "diverged": [0] * len(ev),
        }

    for task in spec.tasks:
        stored = json.loads((REPORT / "eval" / f"{task.name}.json").read_text())
        assert stored["eval_seed"] == spec.seed and stored["optimal_return"] == task.score_range[1], task.name
        rows = stored["rows"]
        source = f"eval/{task.name}.json"
        for label, arm in SPEC_ARMS.items():
            mine = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["meta_seed"])
            refs = [f"experiments/reports/groove_es/rules/{arm}_s{r['meta_seed']}.npz" for r in mine]
            write_per_seed(
                out, task.name, label, [instance(r, f) for r, f in zip(mine, refs, strict=True)], source=source
            )
        (a2c,) = [r for r in rows if r["arm"] == "a2c"]
        write_per_seed(out, task.name, "baseline_preset", [instance(a2c, None)], source=source)
    analyse(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("train", help="meta-train ARM:SEED jobs one after another")
    p.add_argument("jobs", nargs="+", metavar="ARM:SEED")
    p = sub.add_parser("evaluate", help="held-out levels and MinAtar transfer")
    p.add_argument("--levels", nargs="+", default=[*GRID_LEVELS, *TRANSFER], choices=[*GRID_LEVELS, *TRANSFER])
    p.add_argument("--seeds", type=int, default=8, help="fresh agents per rule (A2C: twice as many)")
    sub.add_parser("analyse", help="tables, figure and experiments/reports/data/groove_es.json")
    sub.add_parser("compare", help="the gridworld results through the evaluation engine (no training)")
    args = parser.parse_args()
    if args.step == "train":
        jobs = [(j.split(":")[0], int(j.split(":")[1])) for j in args.jobs]
        for arm, _ in jobs:
            if arm not in ARMS:
                raise SystemExit(f"unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
        for arm, seed in jobs:
            train(arm, seed)
    elif args.step == "evaluate":
        for level in args.levels:
            evaluate(level, args.seeds)
    elif args.step == "compare":
        print((compare() / "table.md").read_text())
    else:
        print(markdown(analyse()))


if __name__ == "__main__":
    main()
