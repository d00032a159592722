"""Re-derive a meta-training run's held-out evaluation of a saved rule, without the run directory.

    python experiments/scripts/meta_eval_row.py CONFIG [RULE_FILE] [--set KEY=VALUE ...]

CONFIG is the experiment the rule was meta-trained with (a name in experiments/ or a YAML path,
with the same ``--set`` overrides as ``metalearn train``). RULE_FILE is a rule file that run saved:
its manifest's ``generation`` picks the evaluation seeds, as the run did for that generation.
Without RULE_FILE the starting rule is evaluated (generation 0). Prints the JSON row that
``metalearn train`` writes to ``eval.jsonl`` for that generation (per task: return and fitness,
mean and standard error over ``eval_seeds`` seeds), so a report's numbers can be checked
against the committed config and rule file alone.
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from metalearn.analysis.stats import mean_stderr
from metalearn.meta import MetaConfig, load_config_dict, make_meta_trainer
from metalearn.overrides import apply_dotted_overrides
from metalearn.rules import load_rule
from metalearn.validation import invalid


def _summary(values: np.ndarray) -> dict[str, float]:
    """Mean and standard error of one task's per-seed values, as eval.jsonl has them."""
    mean, stderr = mean_stderr(np.asarray(values, np.float64))  # the package's statistics
    return {"mean": mean, "stderr": stderr}


def eval_row(config: MetaConfig, rule_file: str | None = None) -> dict:
    """The eval.jsonl row of ``rule_file`` (or of the starting rule) under ``config``."""
    trainer = make_meta_trainer(config)
    if rule_file is None:
        generation, meta_params = 0, trainer.mean_params(trainer.init())
    else:
        _, meta_params, manifest = load_rule(rule_file)
        if manifest["rule"] != config.rule.name:
            raise invalid(f"{rule_file}: rule", manifest["rule"], f"{config.rule.name!r}, the config's rule")
        generation = int(manifest["generation"])
    out = jax.device_get(trainer.evaluate_rule(meta_params, trainer.eval_key(generation)))
    held_out = {t.name for t in trainer.held_out}
    tasks = {
        name: {"held_out": name in held_out, "return": _summary(r["return"]), "fitness": _summary(r["fitness"])}
        for name, r in out.items()
    }
    return {"generation": generation, "tasks": tasks}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config", help="experiment name or YAML path")
    p.add_argument("rule_file", nargs="?", help="rule file saved by that run (default: the starting rule)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config entry")
    args = p.parse_args()
    config = MetaConfig.from_dict(apply_dotted_overrides(load_config_dict(args.config), args.set))
    print(json.dumps(eval_row(config, args.rule_file)))


if __name__ == "__main__":
    main()
