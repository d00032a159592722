"""Meta-training checkpoints: the whole MetaState as arrays plus a JSON manifest.

``checkpoints/gen_000012.npz`` holds one generation's state; ``checkpoints/
latest`` names the newest (for people; resume reads the files themselves).
Every write is atomic (temp file, then rename) and verified (the zip's CRCs
read back), so a process killed at any moment leaves the previous checkpoint
intact.

Cleanup only ever deletes files of this exact naming whose manifest says they
were written by this run (its ``run_id``), and never the newest verified
one: a stray or copied file in ``checkpoints/`` is left alone, and one in the
way of a checkpoint about to be written (another run's ``gen_000003.npz``)
is moved into ``checkpoints/foreign/`` first, with a warning. Resume tries the
run's checkpoints newest first and falls back past any that is unreadable.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from metalearn.pytree_io import PytreeFileError, load_pytree, read_manifest, save_pytree
from metalearn.runs import RunDir
from metalearn.validation import naming

CHECKPOINT_FORMAT = "metalearn-checkpoint"
MIN_KEEP = 2  # the newest checkpoint plus one intact fallback
FOREIGN = "foreign"  # checkpoints/foreign/: files moved out of the way of this run's own
_NAME = re.compile(r"gen_(\d{6})\.npz")


def _dir(run_dir: Path) -> Path:
    return RunDir(run_dir).checkpoints


def checkpoint_name(generation: int) -> str:
    return f"gen_{generation:06d}.npz"


def verify(path: Path) -> None:
    """Raises :class:`PytreeFileError` unless every member of the ``.npz`` reads back with a matching CRC."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise PytreeFileError(f"{path}: not a readable .npz file (corrupt or truncated?): {err}") from None
    if bad is not None:
        raise PytreeFileError(f"{path}: member {bad!r} is corrupt (CRC mismatch)")


def save_checkpoint(
    run_dir: Path,
    state: Any,
    *,
    generation: int,
    search_hash: str,
    keep: int,
    run_id: str | None = None,
    warn: Callable[[str], None] = print,
) -> Path:
    """Writes and verifies ``state`` for ``generation``, points ``latest`` at it, then prunes.

    Of this run's own checkpoints (``run_id``) the newest ``max(keep, MIN_KEEP)`` are kept. A file
    of the same name that is not this run's is never overwritten: it is moved into ``foreign/``.
    """
    folder = _dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / checkpoint_name(generation)
    if path.exists() and not _is_own(path, generation, run_id, search_hash):
        _move_aside(path, warn)
    save_pytree(
        path,
        jax.device_get(state),
        format=CHECKPOINT_FORMAT,
        manifest={"generation": generation, "search_hash": search_hash, "run_id": run_id},
    )
    verify(path)
    tmp = folder / "latest.tmp"
    with naming(folder / "latest"):
        tmp.write_text(path.name + "\n")
    os.replace(tmp, folder / "latest")
    _prune(folder, keep=max(keep, MIN_KEEP), run_id=run_id, search_hash=search_hash, newest=path)
    return path


def _move_aside(path: Path, warn: Callable[[str], None]) -> None:
    """Moves ``path`` (not this run's) into ``foreign/`` under a name no file there has yet."""
    folder = path.parent / FOREIGN
    folder.mkdir(exist_ok=True)
    dest, k = folder / path.name, 1
    while dest.exists():
        dest, k = folder / f"{path.stem}-{k}{path.suffix}", k + 1
    os.replace(path, dest)
    warn(f"warning: {path}: not this run's checkpoint (another run's, or a copy); moved it to {dest}")


def _named_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(generation, path) of the files named exactly ``gen_NNNNNN.npz``, newest first."""
    found = []
    for p in folder.glob("gen_*.npz") if folder.is_dir() else ():
        m = _NAME.fullmatch(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def _is_own(path: Path, generation: int, run_id: str | None, search_hash: str) -> bool:
    try:
        m = read_manifest(path, format=CHECKPOINT_FORMAT)
    except PytreeFileError:
        return False
    return m.get("run_id") == run_id and m.get("search_hash") == search_hash and m.get("generation") == generation


def _prune(folder: Path, *, keep: int, run_id: str | None, search_hash: str, newest: Path) -> None:
    own = [p for g, p in _named_checkpoints(folder) if p != newest and _is_own(p, g, run_id, search_hash)]
    for old in own[keep - 1 :]:  # `newest` is the first kept
        old.unlink(missing_ok=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest file named like a checkpoint (unverified), else None."""
    found = _named_checkpoints(_dir(run_dir))
    return found[0][1] if found else None


def load_checkpoint(
    path: Path, template: Any, *, search_hash: str, run_id: str | None = None, check_run_id: bool = False
) -> tuple[Any, int]:
    """(state, generation) from ``path``, checked against ``template`` and the run's config."""
    manifest = read_manifest(path, format=CHECKPOINT_FORMAT)
    if manifest.get("search_hash") != search_hash:
        raise PytreeFileError(
            f"{path}: written by a run with another search config (hash {manifest.get('search_hash')}, "
            f"this run's is {search_hash}); rule, strategy, tasks, fitness, seeds and seed must match to resume"
        )
    if check_run_id and manifest.get("run_id") != run_id:
        raise PytreeFileError(
            f"{path}: written by another run (run id {manifest.get('run_id')}, this run's is {run_id})"
        )
    generation = manifest.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise PytreeFileError(f"{path}: its manifest's generation is {generation!r}; allowed: an integer >= 0")
    state, _ = load_pytree(path, format=CHECKPOINT_FORMAT, template=jax.device_get(template))
    return state, generation


def load_newest_intact(
    run_dir: Path, template: Any, *, search_hash: str, run_id: str | None, warn: Callable[[str], None] = print
) -> tuple[Any, int] | None:
    """(state, generation) of the newest checkpoint of this run that loads; None if the run has none.

    Every file skipped on the way is reported through ``warn`` with the reason.
    """
    for generation, path in _named_checkpoints(_dir(run_dir)):
        try:
            state, got = load_checkpoint(path, template, search_hash=search_hash, run_id=run_id, check_run_id=True)
            if got != generation:
                raise PytreeFileError(f"{path}: its manifest says generation {got}, its name {generation}")
        except PytreeFileError as err:
            warn(f"warning: skipping checkpoint {err}")
            continue
        return state, generation
    return None
