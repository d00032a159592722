"""Adds a meta-trained rule to the zoo (metalearn/zoo/), if the evaluation protocol lets it in.

    python experiments/scripts/zoo_add.py NAME RUN_DIR|RULE.npz --experiment YAML --summary TEXT \
        --eval "--preset cartpole --preset acrobot --budget 32768 --tune lr=... --seeds 16" \
        --smoke "--preset cartpole --budget 1024 --tune lr=1e-3,1e-2 --tune-seeds 1 --seeds 2"

Copies RUN_DIR/rules/mean.npz (or RULE.npz, a rule file of an earlier run of YAML) to metalearn/zoo/NAME.npz,
writes its card NAME.json (the experiment config, the commit the card was written at, the meta-training budget),
then runs `metalearn eval discovered:NAME ...` with the --eval arguments (the card's evaluation, its results folder
kept in experiments/reports/zoo/evaluations/NAME/) and the --smoke arguments (a tiny-budget evaluation the tests
re-run), and stores both verdict records with their commands. The rule stays only
if, on every meta-training task evaluated at the budget it was meta-trained at, the protocol's verdict is "better"
or "equivalent within ±m" (metalearn.zoo.admits); otherwise both files are removed and the script says why.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from metalearn.zoo import ZOO_DIR, admits

EVALUATIONS = Path(__file__).resolve().parents[1] / "reports" / "zoo" / "evaluations"  # the cards' results folders


def budget(config: dict, generation: int) -> dict:
    """The meta-training budget of a run's config at ``generation``."""
    strategy = config["strategy"]
    members = strategy["population_size"] * config["seeds_per_member"]
    steps = [t["train"]["total_timesteps"] for t in config["tasks"]]
    return {
        "generations": generation,
        "population_size": strategy["population_size"],
        "seeds_per_member": config["seeds_per_member"],
        "inner_timesteps": steps,
        "env_steps": generation * members * sum(steps),
    }


def evaluate(name: str, args: str, *, as_tests: bool = False, out: Path | None = None) -> dict:
    """Runs `metalearn eval discovered:NAME ARGS --json ...` (its results folder: ``out``, else a temporary one) and
    returns what it wrote. ``as_tests``: without XLA_FLAGS, as the test suite re-runs it (XLA's threading can
    change the floats, and so the returns)."""
    env = {k: v for k, v in os.environ.items() if not (as_tests and k == "XLA_FLAGS")}
    argv = ["eval", f"discovered:{name}", *shlex.split(args)]
    with tempfile.TemporaryDirectory() as tmp:
        where = ["--out", str(out or Path(tmp) / "out"), "--json", str(Path(tmp) / "eval.json")]
        subprocess.run([str(Path(sys.executable).parent / "metalearn"), *argv, *where], env=env, check=True)
        record = json.loads((Path(tmp) / "eval.json").read_text())
    record["command"] = "metalearn " + " ".join(shlex.quote(a) for a in argv)  # without the temporary paths
    record.pop("out")
    if out is not None:
        record["results"] = str(out)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("source", type=Path, help="a meta-training run directory, or a rule file one wrote")
    parser.add_argument("--summary", required=True, help="one line: what the rule is and where it was meta-trained")
    parser.add_argument("--experiment", required=True, help="the experiment file the run was started from")
    parser.add_argument("--eval", required=True, help="`metalearn eval` arguments of the card's evaluation")
    parser.add_argument("--smoke", required=True, help="`metalearn eval` arguments of the tiny-budget evaluation")
    args = parser.parse_args()

    from metalearn.inner import resolve_task
    from metalearn.meta import MetaConfig
    from metalearn.meta.config import load_config_dict
    from metalearn.rules import load_rule

    if args.source.is_dir():
        run = json.loads((args.source / "config.json").read_text())
        rule_file = args.source / "rules" / "mean.npz"
    else:  # a rule file kept from an earlier run: its experiment file is its config
        run = {"config": MetaConfig.from_dict(load_config_dict(args.experiment)).to_dict()}
        rule_file = args.source
    _, _, manifest = load_rule(rule_file)
    generation = manifest.get("generation", run["config"]["generations"])
    task = run["config"]["tasks"][0]  # the horizon a temporally-aware rule reads (and `analyze` shows)
    num_updates = manifest.get("num_updates") or resolve_task(task["preset"], overrides=task["train"])[2].num_updates
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    card = {
        "name": args.name,
        "summary": args.summary,
        "rule_file": f"{args.name}.npz",
        "produced_by": {
            "command": f"metalearn train {args.experiment}",
            "experiment": args.experiment,
            "source": str(rule_file),
            "commit": commit,  # HEAD when the card was written
            "config": run["config"],
            "versions": run.get("versions", {}),
        },
        "budget": {**budget(run["config"], generation), "num_updates": num_updates},
    }
    npz, card_path = ZOO_DIR / card["rule_file"], ZOO_DIR / f"{args.name}.json"
    shutil.copyfile(rule_file, npz)
    card_path.write_text(json.dumps(card, indent=1))
    try:
        card["evaluation"] = evaluate(args.name, args.eval, out=EVALUATIONS / args.name)
        card["smoke"] = evaluate(args.name, args.smoke, as_tests=True)
    except BaseException:
        npz.unlink()
        card_path.unlink()
        raise
    admitted, why = admits(card)
    if not admitted:
        npz.unlink()
        card_path.unlink()
        sys.exit(f"{args.name} stays out of the zoo: {why}")
    card_path.write_text(json.dumps(card, indent=1))
    print(f"added {args.name}: {[(e['preset'], e['verdict']) for e in card['evaluation']['evaluations']]}")


if __name__ == "__main__":
    main()
