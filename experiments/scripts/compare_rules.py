"""Side-by-side inner trainings: learned rules (published OPEN or Disco103 weights, rules by name, rule files) vs
baselines.

    python experiments/scripts/compare_rules.py SPEC.json OUT_DIR

SPEC: {"preset": "breakout", "seeds": 16, "set": ["total_timesteps=5e5"],
       "runs": [{"label": "OPEN (breakout)", "published": "breakout"},
                {"label": "Adam lr 1e-2", "set": ["lr=1e-2"]},
                {"label": "DPO", "rule": "dpo"},  # + optional "kwargs": {...}; init(PRNGKey(0))
                {"label": "my rule", "rule_file": "runs/x/rules/mean.npz"}]}

A published rule takes optional "kwargs" too (hyper-parameters that keep its weights' shapes, e.g. Disco103's
agent: {"published": "disco103", "kwargs": {"replay_capacity": 0, "batch_size": 8}}).

Optional "env" replaces the preset's environment (e.g. "CartPole-v1" under the "catch" preset's agent) and
"env_kwargs" its keyword arguments (e.g. {"level": "dense"} for a gridworld preset); optional "baseline": a run's
label. Every run uses the same seeds, the evaluation protocol's (metalearn.protocol.evaluation_keys). Writes
OUT_DIR/results.json (per run: final return mean ± s.e., IQM with its 95% bootstrap interval, per-seed values, wall
seconds, mean learning curve and, when a baseline is named, P(run > baseline) with its interval) and
OUT_DIR/curves.png (mean ± s.e. over seeds against environment steps). For a rule vs a baseline *tuned* at the same
budget, use `metalearn eval`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

from metalearn.analysis import probability_of_improvement, summarize
from metalearn.envs import make_env
from metalearn.inner import get_preset, make_trainer
from metalearn.overrides import apply_overrides
from metalearn.protocol import evaluation_keys
from metalearn.rules import load_rule, make_rule, published_rule, with_kwargs


def run(spec: dict, out: Path) -> dict:
    preset = get_preset(spec["preset"])
    base = apply_overrides(preset.config, spec.get("set", []))
    default_kwargs = preset.env_kwargs if spec.get("env", preset.env) == preset.env else {}
    env = make_env(spec.get("env", preset.env), **spec.get("env_kwargs", default_kwargs))
    seeds = evaluation_keys(spec.get("seed", 0), spec["seeds"])
    env_name = env.spec.name + "".join(f" {k}={v}" for k, v in spec.get("env_kwargs", {}).items())
    results = {"preset": spec["preset"], "env": env_name, "seeds": spec["seeds"], "runs": []}
    for r in spec["runs"]:
        config = apply_overrides(base, r.get("set", []))
        rule, meta_params = None, None
        if "published" in r:
            rule, meta_params = published_rule(r["published"])
            if r.get("kwargs"):
                rule = with_kwargs(rule, meta_params, **r["kwargs"])
        elif "rule" in r:
            rule = make_rule(r["rule"], **r.get("kwargs", {}))
            meta_params = rule.init(jax.random.PRNGKey(0))
        elif "rule_file" in r:
            rule, meta_params, _ = load_rule(r["rule_file"])
        hooks = {"optimizer": rule.optimizer, "objective": rule.objective} if rule else {}
        train = jax.jit(jax.vmap(make_trainer(env, config, **hooks).train, in_axes=(None, 0)))
        start = time.time()
        result = jax.device_get(train(meta_params, seeds))
        seconds = time.time() - start
        final = np.asarray(result.final_return, np.float64)
        se = lambda x: float(np.std(x, ddof=1) / math.sqrt(len(x)))
        summary = summarize(final) if np.all(np.isfinite(final)) else None
        row = {
            "label": r["label"],
            "config": config.to_dict(),
            "final_return": {
                "mean": float(final.mean()),
                "stderr": se(final),
                "per_seed": final.tolist(),
                **({"iqm": summary.iqm, "iqm_ci": list(summary.iqm_ci)} if summary else {}),
            },
            "last_update_return": float(np.asarray(result.curve)[:, -1].mean()),
            "eval_return": {"mean": float(np.mean(result.eval_return)), "stderr": se(result.eval_return)},
            "diverged": int(np.sum(result.diverged)),
            "wall_seconds_incl_compile": seconds,
            "curve_mean": np.asarray(result.curve).mean(0).tolist(),
            "curve_stderr": (np.asarray(result.curve).std(0, ddof=1) / math.sqrt(spec["seeds"])).tolist(),
            "steps_per_update": config.batch_size,
        }
        results["runs"].append(row)
        print(
            f"{row['label']:<28} final {row['final_return']['mean']:8.2f} ± {row['final_return']['stderr']:.2f}"
            f"  ({seconds:.0f}s)",
            flush=True,
        )
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1))
    if "baseline" in spec:
        improve(results, spec["baseline"])
        (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "curves.png")
    return results


def improve(results: dict, baseline: str) -> None:
    """Adds P(run > ``baseline``) on final return, with its 95% bootstrap interval, to every other run."""
    by_label = {r["label"]: np.asarray(r["final_return"]["per_seed"]) for r in results["runs"]}
    if baseline not in by_label:
        raise ValueError(f"baseline={baseline!r} is not a run's label; allowed: {', '.join(by_label)}")
    for r in results["runs"]:
        x = by_label[r["label"]]
        if r["label"] != baseline and np.all(np.isfinite(x)) and np.all(np.isfinite(by_label[baseline])):
            p, ci = probability_of_improvement([x], [by_label[baseline]])
            r["p_improvement"] = {"baseline": baseline, "p": p, "ci": list(ci)}
            print(f"P({r['label']} > {baseline}) = {p:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    for i, r in enumerate(results["runs"]):
        mean, se = np.array(r["curve_mean"]), np.array(r["curve_stderr"])
        steps = np.arange(1, len(mean) + 1) * r["steps_per_update"]
        ax.plot(
            steps,
            mean,
            color=f"C{i}",
            label=f"{r['label']} ({r['final_return']['mean']:.1f} ± {r['final_return']['stderr']:.1f})",
        )
        ax.fill_between(steps, mean - se, mean + se, color=f"C{i}", alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episodic return")
    ax.set_title(f"{results['env']}: mean ± s.e. over {results['seeds']} seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    spec_path, out_dir = sys.argv[1], Path(sys.argv[2])
    run(json.loads(Path(spec_path).read_text()), out_dir)
