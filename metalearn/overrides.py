"""``--set key=value`` overrides for frozen config dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _parse(field: str, text: str, current: Any) -> Any:
    """Parses ``text`` as the type of the field's current value."""
    low = text.strip().lower()
    if low in {"none", "null"}:
        return None
    try:
        if isinstance(current, bool):
            if low not in _TRUE | _FALSE:
                raise ValueError
            return low in _TRUE
        if isinstance(current, int) or current is None:
            value = float(text)  # accepts 5e5
            if not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        kind = (
            "true or false" if isinstance(current, bool) else "a number" if isinstance(current, float) else "an integer"
        )
        raise ValueError(f"--set {field}={text!r}: expected {kind}") from None
    return text


def apply_overrides(config: T, assignments: list[str]) -> T:
    """Returns ``config`` with each ``"key=value"`` applied (validated by the dataclass)."""
    fields = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        if key not in fields:
            raise ValueError(f"--set {key}: unknown key; allowed: {', '.join(sorted(fields))}")
        changes[key] = _parse(key, text, getattr(config, key))
    return dataclasses.replace(config, **changes)
