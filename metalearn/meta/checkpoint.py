"""Meta-training checkpoints: the whole MetaState as arrays plus a JSON manifest.

``checkpoints/gen_000012.npz`` holds one generation's state; ``checkpoints/
latest`` names the newest. Every write is atomic (temp file, then rename), so
a process killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax

from metalearn.pytree_io import PytreeFileError, load_pytree, read_manifest, save_pytree

CHECKPOINT_FORMAT = "metalearn-checkpoint"


def _dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, state: Any, *, generation: int, search_hash: str, keep: int) -> Path:
    """Writes ``state`` for ``generation``, points ``latest`` at it, keeps the newest ``keep``."""
    folder = _dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gen_{generation:06d}.npz"
    save_pytree(
        path,
        jax.device_get(state),
        format=CHECKPOINT_FORMAT,
        manifest={"generation": generation, "search_hash": search_hash},
    )
    tmp = folder / "latest.tmp"
    tmp.write_text(path.name + "\n")
    os.replace(tmp, folder / "latest")
    for old in sorted(folder.glob("gen_*.npz"))[:-keep]:
        old.unlink()
    return path


def latest_checkpoint(run_dir: Path) -> Path | None:
    folder = _dir(run_dir)
    pointer = folder / "latest"
    if pointer.is_file():
        path = folder / pointer.read_text().strip()
        if path.is_file():
            return path
    found = sorted(folder.glob("gen_*.npz"))
    return found[-1] if found else None


def load_checkpoint(path: Path, template: Any, *, search_hash: str) -> tuple[Any, int]:
    """(state, generation) from ``path``, checked against ``template`` and the run's config."""
    manifest = read_manifest(path, format=CHECKPOINT_FORMAT)
    if manifest.get("search_hash") != search_hash:
        raise PytreeFileError(
            f"{path}: written by a run with another search config (hash {manifest.get('search_hash')}, "
            f"this run's is {search_hash}); rule, strategy, tasks, fitness, seeds and seed must match to resume"
        )
    state, _ = load_pytree(path, format=CHECKPOINT_FORMAT, template=jax.device_get(template))
    return state, int(manifest["generation"])
