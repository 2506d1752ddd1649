"""Reading one TOML table of a scenario: typed getters that know the field's path and line, and reject
fields the catalogue does not list (so a typo is an error, never silently ignored)."""
from __future__ import annotations

import math
import re
from typing import Any, Callable, TypeVar

from ..errors import ScenarioError
from ..escaping import echo
from ..units import format_duration, parse_duration
from . import limits
from .fields import allowed

__all__ = ["Reader", "Context", "MISSING", "describe"]

T = TypeVar("T")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


class _Lines:
    """Finds the line of a field in the TOML text (tomllib gives none), e.g. ("faults", 1, "kind")."""

    def __init__(self, text: str) -> None:
        self.index: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        table, idx = "", 0
        for no, line in enumerate(text.splitlines(), 1):
            h = _HEADER.match(line)
            if h:
                table = h.group(2)
                if h.group(1) == "[[":
                    idx = counts.get(table, -1) + 1
                    counts[table] = idx
                else:
                    idx = 0
                self.index.setdefault((table, idx, ""), no)
                continue
            k = _KEY.match(line)
            if k:
                self.index.setdefault((table, idx, k.group(1)), no)

    def find(self, table: str, idx: int, key: str) -> int | None:
        return self.index.get((table, idx, key)) or self.index.get((table, idx, ""))


class Reader:
    """Reads one TOML table, tracking the field path for errors and rejecting unknown keys."""

    def __init__(self, data: Any, path: str, ctx: "Context", table: str, idx: int = 0, kind: str = "") -> None:
        if not isinstance(data, dict):
            raise ctx.error(path, f"expected a table, got {type(data).__name__}", table, idx)
        self.data, self.path, self.ctx, self.table, self.idx = data, path, ctx, table, idx
        self.kind = kind            # the table's name in the field catalogue ("servers.certificate")
        self.seen: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> ScenarioError:
        return self.ctx.error(self.field(key), message, self.table, self.idx, key)

    def raw(self, key: str, default: Any = MISSING) -> Any:
        self.seen.add(key)
        if key in self.data:
            self.ctx.used.add((self.kind, key))
            return self.data[key]
        if default is MISSING:
            raise self.error(key, "required field is missing")
        return default

    def typed(self, key: str, kind: type | tuple[type, ...], default: Any = MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.error(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"expected {_article(names)}, got {describe(value)}")
        return value

    def text(self, key: str, default: Any = MISSING, limit: int | None = limits.MAX_TEXT,
             lines: bool = False) -> Any:
        """A non-empty string of at most `limit` characters, without control characters (line breaks and
        tabs too, unless `lines`): names end up in terminals, CSV, XML, YAML and mail headers."""
        value = self.typed(key, str, default)
        if isinstance(value, str) and not (value is default and default is not MISSING):
            if not value.strip() and not lines:
                raise self.error(key, "must not be empty")
            if limit is not None and len(value) > limit:
                raise self.error(key, f"longer than the limit of {limit} characters")
            bad = (_CONTROL_IN_LINES if lines else _CONTROL).search(value)
            if bad:
                raise self.error(key, f"contains the control character {bad.group(0)!r} at position {bad.start()}")
        return value

    def boolean(self, key: str, default: Any = MISSING) -> Any:
        return self.typed(key, bool, default)

    def integer(self, key: str, default: Any = MISSING, low: int | None = None, high: int | None = None) -> Any:
        value = self.typed(key, int, default)
        if isinstance(value, int):
            if low is not None and value < low:
                raise self.error(key, f"must be at least {low}, got {value}")
            if high is not None and value > high:
                raise self.error(key, f"must be at most {high}, got {value}")
        return value

    def number(self, key: str, default: Any = MISSING, low: float | None = None,
               high: float | None = None) -> Any:
        value = self.typed(key, (int, float), default)
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise self.error(key, f"must be a finite number, got {value!r}")
            if low is not None and value < low:
                raise self.error(key, f"must be at least {low}, got {value}")
            if high is not None and value > high:
                raise self.error(key, f"must be at most {high}, got {value}")
            return float(value)
        return value

    def parsed(self, key: str, parse: Callable[[str], T], default: Any = MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        try:
            return parse(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def duration(self, key: str, default: Any = MISSING, positive: bool = False, low: float | None = None) -> Any:
        value = self.parsed(key, parse_duration, default)
        if isinstance(value, float):
            if not value <= limits.MAX_ANY_DURATION:
                raise self.error(key, f"must be at most {limits.MAX_ANY_DURATION / 86400:g} days")
            if positive and value <= 0:
                raise self.error(key, "must be longer than zero")
            if low is not None and value < low:
                raise self.error(key, f"must be at least {format_duration(low)}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(repr(o) for o in options)}, got {echo(value, 40)}")
        return value

    def strings(self, key: str, default: Any = MISSING, nonempty: bool = True) -> Any:
        value = self.raw(key, default)
        if value is default and default is not MISSING:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() and not _CONTROL.search(v)
                                                  for v in value):
            raise self.error(key, f"expected a list of non-empty strings, got {describe(value)}")
        if nonempty and not value:
            raise self.error(key, "must list at least one entry")
        if len(value) > 1000 or any(len(v) > limits.MAX_TEXT for v in value):
            raise self.error(key, f"at most 1000 entries of at most {limits.MAX_TEXT} characters")
        return tuple(v.strip() for v in value)

    def tables(self, key: str) -> list[Reader]:
        value = self.raw(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise self.error(key, f"expected an array of tables ([[{key}]]), got {describe(value)}")
        most = limits.MAX_TABLES.get(key, 1000)
        if len(value) > most:
            raise self.error(key, f"at most {most} entries, got {len(value)}")
        kind = f"{self.kind}.{key}" if self.kind else key
        return [Reader(item, f"{self.field(key)}[{i}]", self.ctx, key, i, kind) for i, item in enumerate(value)]

    def sub(self, key: str) -> Reader:
        value = self.raw(key, {})
        kind = f"{self.kind}.{key}" if self.kind else key
        return Reader(value, self.field(key), self.ctx, key if not self.path else self.table, self.idx, kind)

    def done(self) -> None:
        """Rejects keys that are not in the field catalogue, or that do not apply here: a typo must not be
        silently ignored."""
        known = allowed(self.kind)
        for key in self.data:
            if key not in known:
                raise self.error(key, "unknown field")
            if key not in self.seen:
                raise self.error(key, "does not apply here (see the field reference in the README)")


class Context:
    def __init__(self, file: str, text: str, used: set[tuple[str, str]] | None = None) -> None:
        self.file = file
        self.lines = _Lines(text)
        self.used = used if used is not None else set()   # (table, field) pairs the file gave

    def error(self, field: str, message: str, table: str = "", idx: int = 0, key: str = "") -> ScenarioError:
        return ScenarioError(message, file=self.file, field=field, line=self.lines.find(table, idx, key))


def _article(name: str) -> str:
    return {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number",
            "int or float": "a number", "dict": "a table", "list": "a list"}.get(name, name)


def describe(value: Any) -> str:
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)
    text = repr(value) if not isinstance(value, (list, dict)) else repr(value)[:200]
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"
