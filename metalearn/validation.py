"""The two shapes of a user-facing error: an invalid field value, and an unknown name.

Every config dataclass and registry lookup raises through these, so all messages
read alike: ``prefix.field=value is invalid; allowed: ...`` and
``unknown kind 'name'; did you mean: a, b? allowed: ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
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
