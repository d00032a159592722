"""Does a whole Disco103 training behave as the reference's? Our port's learning curves on Catch beside DeepMind's.

    python experiments/scripts/disco_catch_curves.py ours --seeds 8 --updates 500 \\
        --out experiments/reports/disco/port-catch.json
    python experiments/scripts/disco_catch_curves.py ours --seeds 8 --updates 500 --min-replay 64 \\
        --out experiments/reports/disco/port-catch-min-replay.json
    python experiments/scripts/disco_catch_curves.py compare experiments/reports/disco/reference-catch.json \\
        experiments/reports/disco/port-catch.json --out experiments/reports/disco/catch-curves
    python experiments/scripts/disco_catch_curves.py compare experiments/reports/disco/reference-catch.json \\
        experiments/reports/disco/port-catch-min-replay.json --out experiments/reports/disco/catch-curves-min-replay

``ours`` trains our port's agent at the reference colab's setting (the ``catch`` preset: torso 512x512, action
model 128, lr 0.01, 2 streams x 29 steps per update, 64 trajectories replayed from 1024) with the published
weights, on the evaluation protocol's fresh seeds, and writes the same JSON as ``disco103_reference_catch.py``
(which trains the reference's own agent, in the reference's environment). ``--min-replay 64`` makes our agent wait,
as the colab does, until its replay holds 64 trajectories before learning (by default it learns from the first
rollout). Per seed the curve (our ``final_return``'s per-update value: the mean over the 2 streams of each one's
last finished episode's return), the final return (mean of the last 50 updates) and seconds.

``compare`` reads both and writes ``OUT/compare.json`` (per side: final return mean ± s.e., IQM with its 95%
bootstrap interval, seeds above 0, each seed's take-off update; P(port > reference) with its interval; the
engine's verdict word, IQM difference and margin) and ``OUT/curves.png`` (each side's mean ± s.e. over seeds,
smoothed over 25 updates).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np


def ours(args: argparse.Namespace) -> None:
    import jax

    from metalearn.analysis import mean_stderr
    from metalearn.evaluation import evaluation_keys
    from metalearn.inner import get_preset, make_trainer
    from metalearn.rules import published_rule, with_kwargs

    preset = get_preset("catch")
    config = dataclasses.replace(preset.config, total_timesteps=args.updates * preset.config.batch_size, eval_envs=0)
    rule, meta_params = published_rule("disco103")
    if args.min_replay:
        rule = with_kwargs(rule, meta_params, min_replay=args.min_replay)
    trainer = make_trainer(preset.env, config, objective=rule.objective)
    train = jax.jit(jax.vmap(trainer.train, in_axes=(None, 0)))
    start = time.time()
    result = jax.device_get(train(meta_params, evaluation_keys(args.seed, args.seeds)))
    seconds = time.time() - start
    runs = [
        {"seed": i, "curve": np.asarray(c).tolist(), "final_return": float(f), "seconds": seconds / args.seeds}
        for i, (c, f) in enumerate(zip(result.curve, result.final_return, strict=True))
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, indent=1) + "\n")
    mean, se = mean_stderr([r["final_return"] for r in runs])
    print(f"final return {mean:.2f} ± {se:.2f} ({seconds:.0f} s for {args.seeds} seeds)")


def compare(args: argparse.Namespace) -> None:
    from metalearn.analysis import clustered, mean_stderr, summarize

    sides = {"reference": json.loads(args.reference.read_text()), "port": json.loads(args.port.read_text())}
    finals = {k: np.array([r["final_return"] for r in v["runs"]]) for k, v in sides.items()}
    out: dict = {"sides": {}}
    for name, x in finals.items():
        s = summarize(x)
        out["sides"][name] = {
            "seeds": len(x),
            "mean": s.mean,
            "stderr": s.stderr,
            "iqm": s.iqm,
            "iqm_ci": list(s.iqm_ci),
            "seeds_above_0": int((x > 0).sum()),
            # Take-off: the first update whose 25-update mean return is above -0.3 (half-way from random play
            # at -0.6 to 0), per seed; None where it never is.
            "takeoff_update": [
                int(np.argmax(c > -0.3)) + 25 if (c > -0.3).any() else None for c in smoothed(sides[name]["runs"])
            ],
            "per_seed": x.tolist(),
            "seconds_per_seed": mean_stderr([r["seconds"] for r in sides[name]["runs"]])[0],
        }
    # The engine's statistics and verdict words; the margin is 5% of the reference's |IQM|, the engine's rule.
    c = clustered.judge(finals["port"], finals["reference"])
    out["p_port_above_reference"] = {"p": c["p_improvement"][0], "ci": c["p_improvement"][1:]}
    out["iqm_difference"], out["margin"], out["verdict"] = c["difference"], c["margin"], c["verdict"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(out, indent=1) + "\n")
    for name, s in out["sides"].items():
        print(
            f"{name:<9} final {s['mean']:.2f} ± {s['stderr']:.2f}  IQM {s['iqm']:.2f} "
            f"[{s['iqm_ci'][0]:.2f}, {s['iqm_ci'][1]:.2f}]  {s['seeds_above_0']}/{s['seeds']} above 0; "
            f"take-off update per seed: {s['takeoff_update']}"
        )
    p, lo, hi = c["p_improvement"]
    print(f"P(port > reference) = {p:.2f} [{lo:.2f}, {hi:.2f}]; verdict (port vs reference): {out['verdict']}")
    plot(sides, args.out / "curves.png")


def smoothed(runs: list[dict], window: int = 25) -> np.ndarray:
    """(seeds, updates - window + 1) each seed's curve averaged over ``window`` updates; an update where no
    episode ended (NaN) is left out of its windows."""
    curves = np.array([r["curve"] for r in runs], np.float64)
    ok = np.isfinite(curves)
    kernel = np.ones(window) / window
    num = np.array([np.convolve(np.where(o, c, 0.0), kernel, "valid") for c, o in zip(curves, ok, strict=True)])
    den = np.array([np.convolve(o.astype(float), kernel, "valid") for o in ok])
    return num / np.maximum(den, 1e-9)


def plot(sides: dict, path: Path, window: int = 25) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metalearn.analysis import curve_mean_stderr

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    for i, (name, data) in enumerate(sides.items()):
        smooth = smoothed(data["runs"], window)
        mean, se = curve_mean_stderr(smooth)
        x = np.arange(window, smooth.shape[1] + window)
        ax.plot(x, mean, color=f"C{i}", label=f"{name} ({len(smooth)} seeds)")
        ax.fill_between(x, mean - se, mean + se, color=f"C{i}", alpha=0.2)
    ax.axhline(-0.6, color="grey", lw=0.8, ls=":", label="uniform random policy (−0.6)")
    ax.set_xlabel("update (2 streams x 29 steps)")
    ax.set_ylabel(f"episode return (mean of {window} updates)")
    ax.set_title("Disco103 on Catch (10x5), the colab's agent: mean ± s.e. over seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ours", help="train our port's agents and write their curves")
    o.add_argument("--seeds", type=int, default=8)
    o.add_argument("--updates", type=int, default=500)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--min-replay", type=int, default=0, help="trajectories stored before the first learning step")
    o.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare", help="the reference's curves and ours, side by side")
    c.add_argument("reference", type=Path)
    c.add_argument("port", type=Path)
    c.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    ours(args) if args.cmd == "ours" else compare(args)


if __name__ == "__main__":
    main()
