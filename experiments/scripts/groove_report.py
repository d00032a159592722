"""GROOVE as published, at CPU scale: algorithmic regret vs domain randomisation, and the score ablation.

Two claims of GROOVE (Jackson et al. 2023), tested with ``experiments/lpg_gridworld_groove_es.yaml``
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

``train`` runs each ARM:SEED into ``runs/groove/<arm>_s<seed>`` and copies the final mean rule to
``experiments/reports/groove/rules/<arm>_s<seed>.npz`` (committed: the evaluation needs only these).
``evaluate`` trains fresh agents (16 seeds) on each held-out hand-designed level for the training
lifetime (250 updates): every rule, and the tuned A2C (``gridworld-a2c``); results go to
``experiments/reports/groove/eval/<level>.json``. ``analyse`` writes
``experiments/reports/data/groove_es.{json,png}`` and prints the report's tables.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from metalearn.meta import MetaConfig, load_config_dict, resume_run, start_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "groove"
REPORT = ROOT / "experiments" / "reports" / "groove"
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
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("train", help="meta-train ARM:SEED jobs one after another")
    p.add_argument("jobs", nargs="+", metavar="ARM:SEED")
    args = parser.parse_args()
    if args.step == "train":
        jobs = [(j.split(":")[0], int(j.split(":")[1])) for j in args.jobs]
        for arm, _ in jobs:
            if arm not in ARMS:
                raise SystemExit(f"unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
        for arm, seed in jobs:
            train(arm, seed)


if __name__ == "__main__":
    _ = (jax, np, json)
    main()
