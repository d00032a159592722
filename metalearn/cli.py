"""Command line: ``metalearn inner PRESET`` and ``metalearn list``."""

from __future__ import annotations

import argparse
import sys


def _cmd_list(args: argparse.Namespace) -> int:
    from metalearn.envs import list_envs
    from metalearn.inner import PRESETS
    from objectives import OBJECTIVES

    print("environments:")
    for name in list_envs():
        print(f"  {name}")
    print("inner presets:")
    for name, p in PRESETS.items():
        print(f"  {name:<14} {p.env:<22} {p.description}")
    print("objectives:")
    for name in OBJECTIVES:
        print(f"  {name}")
    return 0


def _cmd_inner(args: argparse.Namespace) -> int:
    from metalearn.inner.run import run_inner

    run_dir = run_inner(
        args.preset,
        overrides=args.set,
        env=args.env,
        seeds=args.seeds,
        seed=args.seed,
        out=args.out,
        progress=not args.quiet,
    )
    import json

    result = json.loads((run_dir / "result.json").read_text())
    print(f"final return {result['final_return_mean']:.2f} (eval {result['eval_return_mean']:.2f})")
    print(f"run directory: {run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metalearn",
        description="Discover RL algorithms with evolution strategies (inner PPO/A2C on gymnax and brax).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list environments, inner presets and objectives")
    p_list.set_defaults(func=_cmd_list)

    p_inner = sub.add_parser(
        "inner",
        help="train PPO/A2C agents with a preset and write a run directory",
        description="Train PPO/A2C agents (vmapped over seeds) with a named preset; writes config.json, "
        "metrics.jsonl, learning_curve.png and result.json into a new run directory.",
    )
    p_inner.add_argument("preset", help="preset name (see `metalearn list`), e.g. cartpole, breakout, ant")
    p_inner.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field, e.g. --set lr=1e-3 --set total_timesteps=1e5 (repeatable)",
    )
    p_inner.add_argument("--env", default=None, help="train on another environment than the preset's")
    p_inner.add_argument("--seeds", type=int, default=1, help="number of seeds trained at once (default 1)")
    p_inner.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p_inner.add_argument("--out", default="runs", help="parent folder of the run directory (default runs/)")
    p_inner.add_argument("--quiet", action="store_true", help="no progress bar")
    p_inner.set_defaults(func=_cmd_inner)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad names and values: one clear line, no traceback
        print(f"metalearn: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
