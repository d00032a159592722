"""Pytrees to and from one ``.npz`` file: arrays plus a JSON manifest, never pickle.

A file holds one array per leaf, keyed by the leaf's path (``actor/params/
Dense_0/kernel``), and an entry ``__manifest__`` with UTF-8 JSON bytes: the
``format`` tag, a ``version``, the leaf list (path, shape, dtype) and whatever
the caller adds. Writes are atomic (temp file, then rename).

Loading with a ``template`` pytree restores exactly its structure (dataclass
states, NamedTuples, ...) and checks every leaf's shape and dtype; without one,
the file must hold nested dicts and is rebuilt as such.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from metalearn.validation import naming

MANIFEST_KEY = "__manifest__"
_ZIP_MAGIC = b"PK\x03\x04"  # how every .npz (a zip archive) begins
_NPY_MAGIC = b"\x93NUMPY"  # how a lone .npy begins


class PytreeFileError(ValueError):
    """A file that is missing, corrupt, foreign, or does not fit what was asked."""


def _path_str(path: tuple) -> str:
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.GetAttrKey):
            parts.append(k.name)
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(str(k.idx))
        else:  # FlattenedIndexKey and friends
            parts.append(str(getattr(k, "key", k)))
    return "/".join(parts) or "."


def flatten_with_names(tree: Any) -> tuple[list[str], list[Any], Any]:
    """(leaf names, leaves, treedef) of a pytree."""
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [_path_str(p) for p, _ in leaves_with_path]
    if len(set(names)) != len(names):
        raise ValueError("pytree has two leaves with the same path name")
    return names, [leaf for _, leaf in leaves_with_path], treedef


def save_pytree(path: str | os.PathLike, tree: Any, *, format: str, manifest: dict | None = None) -> None:
    """Writes ``tree`` to ``path`` (an ``.npz``) atomically."""
    path = Path(path)
    names, leaves, _ = flatten_with_names(tree)
    arrays = {n: np.asarray(x) for n, x in zip(names, leaves, strict=True)}
    full = {
        "format": format,
        "version": 1,
        "leaves": [[n, list(a.shape), a.dtype.str] for n, a in arrays.items()],
        **(manifest or {}),
    }
    arrays[MANIFEST_KEY] = np.frombuffer(json.dumps(full).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with naming(path), open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(path: str | os.PathLike, *, format: str | None = None) -> dict:
    """The manifest of a file written by :func:`save_pytree`; checks ``format`` if given."""
    return _open(Path(path), format, manifest_only=True)[1]


def _open(path: Path, format: str | None, manifest_only: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    if not path.is_file():
        raise PytreeFileError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))  # long enough for either format's magic
    except OSError as err:
        raise PytreeFileError(f"{path}: cannot be read ({err.strerror})") from None
    if not magic.startswith(_ZIP_MAGIC):  # text, a lone .npy, anything else: never given to np.load (it may unpickle)
        kind = format or "metalearn"
        what = (
            "a single array, not a metalearn .npz file"
            if magic == _NPY_MAGIC
            else f"not a {kind} .npz file (text or another format, not a zip archive)"
        )
        raise PytreeFileError(f"{path}: {what}; allowed: a {kind} .npz that metalearn wrote")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = [MANIFEST_KEY] if manifest_only and MANIFEST_KEY in z.files else z.files
            arrays = {k: z[k] for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise PytreeFileError(f"{path}: not a readable .npz file (corrupt or truncated?): {err}") from None
    if MANIFEST_KEY not in arrays:
        raise PytreeFileError(f"{path}: no {MANIFEST_KEY} entry; not a metalearn file")
    try:
        manifest = json.loads(arrays.pop(MANIFEST_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise PytreeFileError(f"{path}: its manifest is not valid JSON: {err}") from None
    if not isinstance(manifest, dict):
        raise PytreeFileError(
            f"{path}: its manifest is a JSON {type(manifest).__name__}; allowed: a JSON object (not a metalearn file?)"
        )
    if format is not None and manifest.get("format") != format:
        raise PytreeFileError(f"{path}: holds a {manifest.get('format')!r} file, expected {format!r}")
    return arrays, manifest


def load_pytree(path: str | os.PathLike, *, format: str | None = None, template: Any = None) -> tuple[Any, dict]:
    """(tree, manifest). With ``template``, leaves must match it in names, shapes and dtypes."""
    path = Path(path)
    arrays, manifest = _open(path, format)
    if template is None:
        tree: dict = {}
        for name, value in arrays.items():
            node = tree
            *parents, leaf = name.split("/")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return tree, manifest
    names, leaves, treedef = flatten_with_names(template)
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in set(names)]
    if missing or extra:
        raise PytreeFileError(
            f"{path}: does not fit the expected structure; missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}"
        )
    restored = []
    for name, want in zip(names, leaves, strict=True):
        got = arrays[name]
        want_shape, want_dtype = np.shape(want), np.asarray(want).dtype
        if got.shape != want_shape or got.dtype != want_dtype:
            raise PytreeFileError(
                f"{path}: leaf {name!r} has shape {got.shape} {got.dtype}, expected {want_shape} {want_dtype}"
            )
        restored.append(got)
    return jax.tree_util.tree_unflatten(treedef, restored), manifest
