"""Adding a meta-trained rule to the zoo: its card, its evaluation by ``metalearn eval``, and :func:`admits`.

``metalearn zoo-add NAME RUN_DIR|RULE.npz --experiment CONFIG --summary TEXT --eval ARGS --smoke ARGS`` copies the
rule (a run directory's ``rules/mean.npz``, or a rule file an earlier run of CONFIG wrote) into the zoo as
``NAME.npz``, writes its card ``NAME.json`` (the experiment config, the commit it was written at when in a git
checkout, the meta-training budget), then runs ``metalearn eval discovered:NAME ARGS`` (the card's evaluation,
its results folder kept where ``evaluations`` says) and the ``--smoke`` arguments (a tiny-budget evaluation the
tests re-run), and stores both verdict records with their commands. The rule stays only if :func:`admits` its
card; otherwise both files are removed and the reason returned.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from metalearn import zoo
from metalearn.runs import RunDir
from metalearn.validation import invalid


def budget(config: Any, generation: int) -> dict[str, Any]:
    """The meta-training budget of ``config`` (a MetaConfig) run for ``generation`` generations, in its regime's
    own terms (who trains per generation, environment steps)."""
    from metalearn.meta import make_meta_trainer

    trainer = make_meta_trainer(config)  # builds the tasks; compiles nothing
    return {
        "generations": generation,
        "regime": config.regime,
        "per_generation": trainer.describe(),
        "inner_timesteps": [t.trainer.config.total_timesteps for t in trainer.tasks],
        "env_steps": generation * trainer.env_steps_per_generation(),
        "num_updates": trainer.horizon,  # the horizon a temporally-aware rule reads (and `analyze` shows)
    }


def evaluate(name: str, args: str, *, as_tests: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Runs ``metalearn eval discovered:NAME ARGS --json ...`` in a new process (its results folder: ``out``, else a
    temporary one) and returns the record it wrote, with its command. ``as_tests``: without XLA_FLAGS, as the test
    suite re-runs it (XLA's threading can change the floats, and so the returns)."""
    env = {k: v for k, v in os.environ.items() if not (as_tests and k == "XLA_FLAGS")}
    argv = ["eval", f"discovered:{name}", *shlex.split(args)]
    with tempfile.TemporaryDirectory() as tmp:
        where = ["--out", str(out or Path(tmp) / "out"), "--json", str(Path(tmp) / "eval.json")]
        subprocess.run([sys.executable, "-m", "metalearn", *argv, *where], env=env, check=True)
        record = json.loads((Path(tmp) / "eval.json").read_text())
    record["command"] = "metalearn " + " ".join(shlex.quote(a) for a in argv)  # without the temporary paths
    record.pop("out")
    if out is not None:
        record["results"] = str(out)
    return record


def _commit() -> str | None:
    """HEAD of the git checkout this runs in, if it is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def add(
    name: str,
    source: str | Path,
    *,
    experiment: str,
    summary: str,
    eval_args: str,
    smoke_args: str,
    evaluations: str | Path | None = None,
) -> tuple[bool, str]:
    """Adds ``source``'s rule to the zoo as ``name`` if its evaluation admits it (see the module docstring);
    returns (admitted, why). Nothing is left in the zoo when it is not admitted or the evaluation fails."""
    from metalearn.meta import MetaConfig, load_config_dict
    from metalearn.meta.config import stored_config
    from metalearn.rules import load_rule

    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise invalid("name", name, "letters, digits, _ and - (the zoo's file names)")
    if name in zoo.discovered_names():
        raise ValueError(f"{name!r} is in the zoo already; allowed: a new name")
    run = RunDir(source)
    if run.is_run():
        saved = run.read_config()
        config, rule_file, versions = stored_config(saved), run.rule("mean"), saved.get("versions", {})
    else:  # a rule file kept from an earlier run: its experiment file is its config
        config, rule_file, versions = MetaConfig.from_dict(load_config_dict(experiment)), Path(source), {}
    _, _, manifest = load_rule(rule_file)  # a missing, corrupt or foreign file fails here, before anything is written
    card = {
        "name": name,
        "summary": summary,
        "rule_file": f"{name}.npz",
        "produced_by": {
            "command": f"metalearn train {experiment}",
            "experiment": experiment,
            "source": str(rule_file),
            "commit": _commit(),  # HEAD when the card was written
            "config": config.to_dict(),
            "versions": versions,
        },
        "budget": budget(config, manifest.get("generation", config.generations)),
    }
    if manifest.get("num_updates"):
        card["budget"]["num_updates"] = manifest["num_updates"]
    npz, card_path = zoo.ZOO_DIR / card["rule_file"], zoo.ZOO_DIR / f"{name}.json"
    shutil.copyfile(rule_file, npz)
    card_path.write_text(json.dumps(card, indent=1))
    try:
        card["evaluation"] = evaluate(name, eval_args, out=None if evaluations is None else Path(evaluations) / name)
        card["smoke"] = evaluate(name, smoke_args, as_tests=True)
        admitted, why = zoo.admits(card)
    except BaseException:
        npz.unlink()
        card_path.unlink()
        raise
    if not admitted:
        npz.unlink()
        card_path.unlink()
        return False, why
    card_path.write_text(json.dumps(card, indent=1))
    return True, why
