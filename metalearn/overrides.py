"""``--set key=value`` overrides, for flat config dataclasses and nested config dicts."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from metalearn.validation import check_type

T = TypeVar("T")

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
_MISSING = object()


def parse_value(key: str, text: str, current: Any = _MISSING, option: str = "--set") -> Any:
    """Parses ``text`` as the type of ``current``; a new key is read as YAML. ``option`` names the flag in errors."""
    low = text.strip().lower()
    if low in {"none", "null"}:
        return None
    if current is _MISSING or isinstance(current, list | dict):
        import yaml

        try:
            return yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as err:
            raise ValueError(f"{option} {key}={text!r}: not a valid YAML value ({str(err).splitlines()[0]})") from None
    if current is None:  # an unset optional field: a number if it reads as one, else the text
        try:
            value = float(text)
        except ValueError:
            return text
        return int(value) if value.is_integer() else value
    try:
        if isinstance(current, bool):
            if low not in _TRUE | _FALSE:
                raise ValueError
            return low in _TRUE
        if isinstance(current, int):
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
        raise ValueError(f"{option} {key}={text!r}: expected {kind}") from None
    return text


def split_assignment(item: str, option: str = "--set") -> tuple[str, str]:
    """``"key=value"`` -> (key, value text); ``option`` names the flag in the error."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{option} {item!r}: expected key=value")
    return key.strip(), text


def apply_overrides(config: T, assignments: list[str]) -> T:
    """Returns the flat dataclass ``config`` with each ``"key=value"`` applied (and validated)."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for item in assignments:
        key, text = split_assignment(item)
        if key not in fields:
            raise ValueError(f"--set {key}: unknown key; allowed: {', '.join(sorted(fields))}")
        changes[key] = parse_value(key, text, getattr(config, key))
        check_type(key, changes[key], fields[key].type)
    return dataclasses.replace(config, **changes)


def apply_dotted_overrides(d: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Applies ``"a.b.0.c=value"`` to a nested dict/list (a copy); list indices are integers.

    Keys that do not exist yet are created (the config's own validation then
    names any that are not allowed).
    """
    import copy

    d = copy.deepcopy(d)
    for item in assignments:
        key, text = split_assignment(item)
        node: Any = d
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(f"--set {key}: {where} is not an index of a list of {len(node)}")
                part = int(part)
                current = node[part]
            elif isinstance(node, dict):
                current = node.get(part, _MISSING)
            else:
                raise ValueError(f"--set {key}: {'.'.join(parts[:i])} is a value, not a mapping or list")
            if last:
                node[part] = parse_value(key, text, current)
            else:
                if current is _MISSING or current is None:
                    node[part] = {}
                node = node[part]
    return d
