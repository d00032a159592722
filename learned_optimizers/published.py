"""The published OPEN meta-parameters, shipped with the package.

``load_published("breakout")`` (or a path to such a ``.npy``) returns the
meta-parameters and the network sizes they need. The files are plain
float32 vectors (no pickle): the ``ravel_pytree`` of OPEN's meta-parameters.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.flatten_util
import numpy as np

from learned_optimizers import open as open_opt

DIRECTORY = Path(__file__).parent / "published"
# Flat length -> network sizes.
SIZES = {
    1211: {"gru_features": 8, "hidden_size": 16},
    3571: {"gru_features": 16, "hidden_size": 32},
}


def published_names() -> list[str]:
    return sorted(p.name.removesuffix("_OPEN.npy") for p in DIRECTORY.glob("*_OPEN.npy"))


def load_published(name_or_path: str | Path) -> tuple[dict, dict]:
    """(meta_params, sizes) where ``sizes`` are the ``gru_features``/``hidden_size`` to build OPEN with."""
    path = Path(name_or_path)
    if not path.is_file():
        path = DIRECTORY / f"{name_or_path}_OPEN.npy"
        if not path.is_file():
            raise ValueError(f"no published OPEN weights {str(name_or_path)!r}; known: {', '.join(published_names())}")
    try:
        vector = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a plain .npy array ({err})") from None
    known = ", ".join(f"{n} (GRU {s['gru_features']}, MLP {s['hidden_size']})" for n, s in SIZES.items())
    if not isinstance(vector, np.ndarray) or vector.ndim != 1 or vector.dtype.kind != "f":
        raise ValueError(
            f"{path}: expected a flat float vector of OPEN meta-parameters, got shape "
            f"{getattr(vector, 'shape', None)} dtype {getattr(vector, 'dtype', None)}; known sizes: {known}"
        )
    if vector.size not in SIZES:
        raise ValueError(f"{path}: has {vector.size} values; OPEN meta-parameter vectors we know have {known}")
    if not np.isfinite(vector).all():
        raise ValueError(f"{path}: holds {np.size(vector) - np.isfinite(vector).sum()} non-finite values (NaN/inf)")
    sizes = SIZES[vector.size]
    template = open_opt.init(jax.random.PRNGKey(0), **sizes)
    _, unravel = jax.flatten_util.ravel_pytree(template)
    return unravel(np.asarray(vector, np.float32)), dict(sizes)
