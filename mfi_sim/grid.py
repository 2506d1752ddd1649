"""The what-if grid: `--set KEY=V1,V2` settings and the scenario variants they make (their cartesian product).

A setting changes any scenario field by its dotted path (`traffic.rate`, `faults[0].duration`,
`connectors[0].max_connections`, `tenant.retry`); without an index, a path into an array of tables changes
every entry. Setting a fault's `duration` drops its `end` (and the reverse), since a fault takes one or the
other. Every point is validated before anything runs; a sweep runs no `[[tests]]`, so they are left out.
"""
from __future__ import annotations

import copy
import itertools
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import OptionError, ScenarioError
from .scenario import scenario_from_data

__all__ = ["Setting", "Point", "parse_key", "parse_set", "setting", "apply", "plan"]

#: Fields of which a table takes one or the other: setting one drops the other.
_EITHER = {"duration": "end", "end": "duration"}


@dataclass(frozen=True)
class Setting:
    """One `--set KEY=V1,V2,...`: where in the scenario, and the values (as typed in TOML)."""

    key: str
    path: tuple[str | int, ...]
    values: tuple[Any, ...]
    texts: tuple[str, ...]


def _typed(text: str) -> Any:
    """A value as TOML would read it (10 -> int, true -> bool, "6h" or 6h -> str)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_key(key: str, expr: str | None = None) -> tuple[str | int, ...]:
    """A dotted path (`faults[0].duration`) as its parts; OptionError naming `expr` (or the key) when malformed."""
    shown = expr if expr is not None else key
    path: list[str | int] = []
    for part in key.split("."):
        name, _, index = part.partition("[")
        if not name or (index and not index.endswith("]")):
            raise OptionError(f"--set {shown!r}: bad key {key!r}")
        path.append(name)
        if index:
            try:
                path.append(int(index[:-1]))
            except ValueError:
                raise OptionError(f"--set {shown!r}: bad index in {part!r}") from None
    return tuple(path)


def parse_set(expr: str) -> Setting:
    """Parses `KEY=V1,V2`; OptionError when malformed."""
    key, sep, rest = expr.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise OptionError(f"--set {expr!r}: expected KEY=VALUE[,VALUE...], e.g. traffic.rate=100/s,300/s")
    path = parse_key(key, expr)
    texts = tuple(v.strip() for v in rest.split(","))
    if any(not v for v in texts):
        raise OptionError(f"--set {expr!r}: empty value")
    return Setting(key, path, tuple(_typed(v) for v in texts), texts)


def setting(key: str, values: Sequence[Any]) -> Setting:
    """A setting from Python values (as TOML would hold them: 10, "6h", True); strings are taken as they are."""
    if not values:
        raise OptionError(f"--set {key}: no values to try")
    texts = tuple(v if isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v))
                  for v in values)
    return Setting(key, parse_key(key), tuple(values), texts)


def apply(data: dict[str, Any], key: str, value: Any) -> None:
    """Sets one field of parsed scenario data by its dotted path (as `--set` does)."""
    _apply(data, parse_key(key), value, key)


def _apply(data: Any, path: Sequence[str | int], value: Any, key: str) -> None:
    """Sets `value` at `path` inside parsed TOML data (fanning out over arrays of tables)."""
    head, rest = path[0], path[1:]
    if isinstance(data, list):
        if isinstance(head, int):
            if not 0 <= head < len(data):
                raise OptionError(f"--set {key}: index {head} is out of range (there are {len(data)})")
            target = data[head]
            if not rest:
                data[head] = value
                return
            _apply(target, rest, value, key)
            return
        if not data:
            raise OptionError(f"--set {key}: the scenario has no entries to change there")
        for item in data:
            _apply(item, path, value, key)
        return
    if not isinstance(data, dict) or isinstance(head, int):
        raise OptionError(f"--set {key}: cannot index into this field")
    if not rest:
        data[head] = value
        other = _EITHER.get(head)
        if other is not None and other in data and "kind" in data:   # a [[faults]] table
            del data[other]
        return
    if head not in data:
        data[head] = {} if not isinstance(rest[0], int) else []
    _apply(data[head], rest, value, key)


Point = tuple[dict[str, str], dict[str, Any]]
"""A point of the grid: its labels (setting key -> value as typed) and its scenario data."""


def plan(data: dict[str, Any], settings: Sequence[Setting], source: str) -> list[Point]:
    """Every point of the grid (the cartesian product of the settings): its labels and its validated data."""
    points = []
    for combo in itertools.product(*(range(len(s.values)) for s in settings)):
        variant = copy.deepcopy(data)
        variant.pop("tests", None)      # a sweep runs no [[tests]]: a shorter run must not fail on them
        labels = {}
        for setting, i in zip(settings, combo):
            _apply(variant, setting.path, copy.deepcopy(setting.values[i]), setting.key)
            labels[setting.key] = setting.texts[i]
        try:
            scenario_from_data(copy.deepcopy(variant), source)
        except ScenarioError as exc:
            where = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ScenarioError(f"with {where}: {exc.field + ': ' if exc.field else ''}{exc.message}",
                                file=source) from None
        points.append((labels, variant))
    return points
