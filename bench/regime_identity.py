"""Behaviour fingerprints of meta-training at fixed seeds: one generation of each regime × curriculum kind × rule
kind, shrunk to a tiny budget (``metalearn.meta.shrink``), run end to end by ``start_run``.

    python bench/regime_identity.py OUT.json

Each case's fingerprint is the SHA-256 of everything the run wrote that is not a time or an identity: the metrics
rows (without ``seconds``), the evaluations, and every array of its checkpoints and rule files (not their
manifests, which hold the run's random id and its config's hash). Two commits whose fingerprints
agree behave bit-identically on these cases on this machine (a refactor's before/after check).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from metalearn.meta import MetaConfig, load_config_dict, start_run
from metalearn.meta.shrink import shrink

# Experiments, and variants of them (name, dotted changes) for combinations no shipped experiment has.
CASES = {
    "cartpole_lr_schedule": ("cartpole_lr_schedule", {}),
    "open_cartpole_cpu": ("open_cartpole_cpu", {}),
    "lpo_cartpole_cpu": ("lpo_cartpole_cpu", {}),
    "ta_lpo_cartpole_cpu": ("ta_lpo_cartpole_cpu", {}),
    "open_large_eggroll": ("open_large_eggroll", {}),
    "disco_catch_es": ("disco_catch_es", {}),
    "lpg_gridworld_dr": ("lpg_gridworld_dr", {}),
    "lpg_gridworld_plr": ("lpg_gridworld_groove", {}),
    "lpg_gridworld_groove_es": ("lpg_gridworld_groove_es", {}),
    "ta_lpg_gridworld_es": ("ta_lpg_gridworld_es", {}),
    "lpg_gridworld_metagrad": ("lpg_gridworld_metagrad", {}),
    "ta_lpg_gridworld_metagrad": ("ta_lpg_gridworld_metagrad", {}),
    "metagrad_groove": ("lpg_gridworld_metagrad", {"curriculum": {"kind": "groove", "score": "alg_regret"}}),
}


def _hash_zip(h, path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".npy") and not name.startswith("__manifest__"):  # (its run id is new every run)
                with z.open(name) as f:
                    a = np.load(f, allow_pickle=False)
                h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())


def fingerprint(run: Path) -> str:
    h = hashlib.sha256()
    for row in (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()):
        row.pop("seconds")
        h.update(json.dumps(row, sort_keys=True).encode())
    h.update((run / "eval.jsonl").read_bytes())
    for path in sorted((run / "checkpoints").glob("gen_*.npz")) + sorted((run / "rules").glob("*.npz")):
        h.update(path.name.encode())
        _hash_zip(h, path)
    return h.hexdigest()[:16]


def main(out: str) -> None:
    prints = {}
    for case, (name, changes) in CASES.items():
        d = copy.deepcopy(load_config_dict(name))
        for key, value in changes.items():
            d[key] = {**d.get(key, {}), **value}
        config = MetaConfig.from_dict(shrink(d))
        with tempfile.TemporaryDirectory() as tmp:
            run = start_run(config, run_dir=Path(tmp) / "run", progress=False)
            prints[case] = fingerprint(run)
        print(case, prints[case], flush=True)
    Path(out).write_text(json.dumps(prints, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
