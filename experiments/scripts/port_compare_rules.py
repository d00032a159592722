"""Moves every comparison `compare_rules.py` ran onto the evaluation engine (issue 37), without training.

    python experiments/scripts/port_compare_rules.py

For each old spec ``experiments/specs/NAME.json`` (read from commit ``OLD_SPECS``, the last to hold them) it
writes the engine's spec ``experiments/specs/NAME.yaml`` (runs become arms; a GROOVE rule's meta-seeds one
clustered arm; the hand-designed run at the preset's settings, or PPO-clip, which trains bit for bit as the
preset's PPO, the baseline; a run the old spec named as its baseline a contrast) and stores the old output's
per-seed results (``experiments/reports/<old folder>/results.json``) in the engine's folder
``experiments/reports/compare/NAME/``, checking that each arm's stored config is the config the new spec gives it,
then has the engine analyse it. `metalearn compare experiments/specs/NAME.yaml --out
experiments/reports/compare/NAME` then trains nothing (the folder holds the spec's results) and re-analyses.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from metalearn.evaluation import analyse, load_spec, write_per_seed, write_spec
from metalearn.evaluation.report import PRESET
from metalearn.inner import TrainConfig, resolve_task
from metalearn.overrides import apply_overrides

ROOT = Path(__file__).resolve().parents[2]
OLD_SPECS = "38c94f6f7aa0ffcc85dc5c8dee676c1dc090d541"  # the last commit with compare_rules.py and its JSON specs
SPECS, REPORTS = ROOT / "experiments" / "specs", ROOT / "experiments" / "reports"
OLD_OUT = {  # spec name -> the folder its `compare_rules.py` command wrote (from the scripts and README commands)
    "disco_cartpole_es": "disco/es-cartpole",
    "open_breakout": "open_breakout",
    "open_breakout_1e7": "open_breakout_1e7",
    "open_breakout_adam_lr": "open_breakout_adam_lr",
    "open_spaceinvaders": "open_spaceinvaders",
}
DEFAULTS = TrainConfig().to_dict()
GROUPED = re.compile(r"^(?P<arm>.+), meta-seed (?P<seed>\d+)$")  # one rule's meta-seeds: one clustered arm


def old_folder(name: str) -> Path:
    if name in OLD_OUT:
        return REPORTS / OLD_OUT[name]
    for prefix, folder in (("distill_open_", "distill/open_"), ("distill_", "distill/"), ("dpo_", "dpo_")):
        if name.startswith(prefix):
            return REPORTS / (folder + name.removeprefix(prefix))
    for prefix, folder in (("groove_", "groove/"), ("lpo_cpu_", "lpo_cpu/")):
        if name.startswith(prefix):
            return REPORTS / (folder + name.removeprefix(prefix))
    raise SystemExit(f"no output folder known for {name}")


def rule_ref(run: dict) -> str | None:
    if "published" in run:
        return f"published:{run['published']}"
    if "rule_file" in run:
        return run["rule_file"]
    if "rule" in run:
        return run["rule"] if run["rule"] in ("ppo_clip", "dpo") else f"init:{run['rule']}"
    return None


def new_spec(name: str, old: dict) -> tuple[dict, dict[str, list[str]]]:
    """(the engine spec, arm label -> the old runs' labels, one per instance; the baseline under PRESET)."""
    runs = old["runs"]
    hand = [r for r in runs if rule_ref(r) is None]
    base = next((r for r in hand if not r.get("set")), hand[0] if len(hand) == 1 else None)
    if base is None:  # PPO-clip as a rule trains as the preset's PPO does (same bits, checked by the tests)
        base = next((r for r in runs if r.get("rule") == "ppo_clip" and not r.get("set") and not r.get("kwargs")), None)
    task = {"preset": old["preset"], "set": list(old.get("set", []))}
    task |= {k: old[k] for k in ("env", "env_kwargs") if k in old}
    arms, sources = [], {}
    for r in runs:
        if r is base:
            continue
        match = GROUPED.match(r["label"])
        label = match["arm"] if match else r["label"]
        if label in sources:  # another meta-seed of an arm already listed
            arms[[a["label"] for a in arms].index(label)]["rules"].append(rule_ref(r))
            sources[label].append(r["label"])
            continue
        arm = {"label": label}
        ref = rule_ref(r)
        if ref:
            arm |= {"rules": [ref]} if match else {"rule": ref}
        arm |= {k: r[k] for k in ("kwargs", "set") if r.get(k)}
        arms.append(arm)
        sources[label] = [r["label"]]
    for arm in arms:  # a single-instance group is a plain rule
        if len(arm.get("rules", [])) == 1:
            arm["rule"] = arm.pop("rules")[0]
    spec = {"name": name, "seeds": old["seeds"], "seed": old.get("seed", 0), "tasks": [task], "arms": arms}
    if any(len(v) > 1 for v in sources.values()):
        spec["instance_seeds"] = "shared"  # every meta-seed's rule trained on all the seeds
    if base is not None:
        spec["baseline"] = {"label": base["label"], **({"set": base["set"]} if base.get("set") else {})}
        sources[PRESET] = [base["label"]]
    else:
        spec["baseline"] = None
    if old.get("baseline") and (base is None or old["baseline"] != base["label"]):
        spec["contrasts"] = [[a["label"], old["baseline"]] for a in arms if a["label"] != old["baseline"]]
    elif base is None:  # no reference named: every arm against the first
        spec["contrasts"] = [[a["label"], arms[0]["label"]] for a in arms[1:]]
    labels = [a["label"] for a in arms]
    students = [
        (x, t) for x in labels if " → " in x for t in labels if t.startswith(x.split(" → ")[0]) and "teacher" in t
    ]
    if students:  # distillation: each student against its teacher
        spec["contrasts"] = [list(pair) for pair in students]
    if "LPG by GROOVE" in labels and "LPG by DR" in labels:  # the earlier GROOVE report's own question
        spec["contrasts"] = [["LPG by GROOVE", "LPG by DR"]]
    if "TA-LPO (meta-trained, 32k)" in labels and "LPO (meta-trained, 32k)" in labels:  # across horizons
        spec["contrasts"] = [["TA-LPO (meta-trained, 32k)", "LPO (meta-trained, 32k)"]]
    return spec, sources


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def port(name: str) -> Path:
    old = json.loads(git("show", f"{OLD_SPECS}:experiments/specs/{name}.json"))
    spec_dict, sources = new_spec(name, old)
    header = (
        f"# Moved from compare_rules.py's {name}.json by experiments/scripts/port_compare_rules.py (issue 37); its\n"
        f"# per-seed results ({old_folder(name).relative_to(ROOT)}/results.json) are stored in\n"
        f"# experiments/reports/compare/{name}/ and analysed by the engine.\n"
    )
    (SPECS / f"{name}.yaml").write_text(header + yaml.safe_dump(spec_dict, sort_keys=False, allow_unicode=True))
    spec = load_spec(SPECS / f"{name}.yaml")
    results = json.loads((old_folder(name) / "results.json").read_text())
    by_label = {r["label"]: r for r in results["runs"]}
    out = REPORTS / "compare" / name
    write_spec(out, spec)
    (task,) = spec.tasks
    _, _, config = resolve_task(task.preset, task.env, task.env_kwargs, task.overrides)
    labels = {**{a.label: a for a in spec.arms}, PRESET: None}
    for label, olds in sources.items():
        arm = labels[label]
        sets = list(arm.set) if arm else list(spec.baseline.set)
        expected = apply_overrides(config, sets).to_dict()
        instances = []
        for ref_label in olds:
            run = by_label[ref_label]
            # fields added since (absent from the stored config) must be at their defaults, which kept old behaviour
            stored = {**DEFAULTS, **run["config"]}
            if stored != expected:
                diff = {k: (stored.get(k), v) for k, v in expected.items() if stored.get(k) != v}
                raise SystemExit(f"{name}: {ref_label}'s stored config differs from the spec's: {diff}")
            per_seed = run["final_return"]["per_seed"]
            instances.append(
                {
                    "ref": ref_label,
                    "final_return": per_seed,
                    "eval_return": [None] * len(per_seed),  # compare_rules kept only its mean
                    "diverged": [0] * len(per_seed),  # it counted none in any stored run
                    "curve_mean": run["curve_mean"],
                }
            )
        write_per_seed(
            out, task.name, label, instances, steps_per_update=run["steps_per_update"], source=str(old_folder(name))
        )
    analyse(out)
    return out


def main() -> None:
    listed = git("ls-tree", "--name-only", f"{OLD_SPECS}:experiments/specs/").split()
    for name in sorted(Path(f).stem for f in listed if f.endswith(".json")):
        print(port(name).relative_to(ROOT), flush=True)


if __name__ == "__main__":
    main()
