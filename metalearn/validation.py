"""The two shapes of a user-facing error: an invalid field value, and an unknown name.

Every config dataclass and registry lookup raises through these, so all messages
read alike: ``prefix.field=value is invalid; allowed: ...`` and
``unknown kind 'name'; did you mean: a, b? allowed: ...``.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any


def invalid(field: str, value: Any, allowed: str) -> ValueError:
    """``ValueError("field=value is invalid; allowed: allowed")``; ``field`` carries its prefix (``strategy.lr``)."""
    return ValueError(f"{field}={value!r} is invalid; allowed: {allowed}")


def field_error(obj: Any, field: str, allowed: str, prefix: str | None = None) -> ValueError:
    """:func:`invalid` for ``obj.field``, prefixed by ``prefix`` (default: the class name)."""
    prefix = type(obj).__name__ if prefix is None else prefix
    return invalid(f"{prefix}.{field}" if prefix else field, getattr(obj, field), allowed)


def did_you_mean(
    name: Any,
    choices: Iterable[str],
    n: int = 3,
    cutoff: float = 0.5,
    key: Callable[[str], str] = lambda s: s,
) -> str:
    """``"did you mean: a, b? "`` for the choices close to ``name`` (compared by ``key``), else ``""``."""
    by_key = {key(c): c for c in choices}
    close = difflib.get_close_matches(key(str(name)), list(by_key), n=n, cutoff=cutoff)
    return f"did you mean: {', '.join(by_key[c] for c in close)}? " if close else ""


def unknown(kind: str, name: Any, choices: Iterable[str], allowed: str | None = None, **kw: Any) -> ValueError:
    """``ValueError("unknown kind 'name'; did you mean: ...? allowed: a, b, c")``.

    ``allowed`` replaces the list of choices in the message (for long registries).
    """
    choices = list(choices)
    hint = did_you_mean(name, choices, **kw)
    return ValueError(f"unknown {kind} {name!r}; {hint}allowed: {allowed or ', '.join(choices)}")


# What a scalar or mapping field's annotation allows (nested configs are checked by their own from_dict).
_ALLOWED_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "a string"),
    "Mapping[str, Any]": ((Mapping,), "a mapping of name: value"),
}
# Config integers end up in JAX arrays, whose default integer is 32 bits.
INT_RANGE = (-(2**31), 2**31)


def _is_finite(x: int | float) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


def _non_finite(key: str, value: Any) -> tuple[str, Any] | None:
    """(key, value) of the first non-finite number in ``value`` (nested mappings and lists too), else None."""
    if isinstance(value, float) and not _is_finite(value):
        return key, value
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list | tuple) else ()
    for k, v in items:
        found = _non_finite(f"{key}.{k}", v)
        if found:
            return found
    return None


def check_type(key: str, value: Any, annotation: Any) -> None:
    """Raises :func:`invalid` when ``value`` is not what a dataclass field's annotation allows.

    Every number in ``value`` (nested ones too) must be finite, whatever the annotation. Scalars
    (``int``, ``float``, ``bool``, ``str``), ``Mapping[str, Any]`` and their ``| None`` forms are
    checked; an ``int`` must lie in :data:`INT_RANGE`, a ``float`` be finite; other annotations
    (nested configs, tuples) are left to their own checks.
    """
    bad = _non_finite(key, value)
    if bad:
        raise invalid(*bad, "a finite number")
    parts = [p.strip() for p in str(annotation).split("|")]
    optional = "None" in parts
    base = [p for p in parts if p != "None"]
    if len(base) != 1 or base[0] not in _ALLOWED_TYPES or (value is None and optional):
        return
    types, what = _ALLOWED_TYPES[base[0]]
    wrong_keys = isinstance(value, Mapping) and not all(isinstance(k, str) for k in value)
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types) or wrong_keys:
        raise invalid(key, value, what + (" or null" if optional else ""))
    lo, hi = INT_RANGE
    if base[0] == "int" and not lo <= value < hi:
        raise invalid(key, value, "an integer in [-2**31, 2**31) (JAX computes in 32 bits)")
    if base[0] == "float" and not _is_finite(value):
        raise invalid(key, value, "a finite number")


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """Re-raises an ``OSError`` that names no file (a full disk: ``[Errno 28]``) as one naming ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None


def read_utf8(path: str | os.PathLike) -> str:
    """The text of ``path``; bytes that are not UTF-8 are a ``ValueError`` naming the file."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode()
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); allowed: a UTF-8 text file"
        ) from None


def read_yaml(path: str | os.PathLike, allowed: str) -> Any:
    """The YAML document in ``path``; text that is not UTF-8, not YAML or nested too deeply to parse is a one-line
    ``ValueError`` naming the file and ``allowed``."""
    import yaml

    text = read_utf8(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({str(err).splitlines()[0]}); allowed: {allowed}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read; allowed: {allowed}") from None
