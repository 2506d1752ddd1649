"""Durations, rates, sizes and instants as they are written in scenario files, parsed once at the edge."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_duration", "parse_rate", "parse_size", "parse_instant", "format_duration", "format_latency",
           "iso_at"]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h|d)\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "250ms", "90s", "1h30m" or "2d"; ValueError when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as '30m', got {text!r}")
    s = text.strip().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"bad duration {text!r} (use ms, s, m, h, d, e.g. '1h30m')")
    return total


def parse_rate(text: str) -> float:
    """Messages per second in a rate such as "600/h" or "100/s"; ValueError when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"expected a rate string such as '600/h', got {text!r}")
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"bad rate {text!r} (use N/s, N/m, N/h or N/d)")
    return float(m.group(1)) / _DURATION_UNITS[m.group(2)]


def parse_size(text: str) -> int:
    """Bytes in a size such as "60KB" (1 KB = 1024 B); ValueError when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"expected a size string such as '60KB', got {text!r}")
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"bad size {text!r} (use B, KB or MB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an offset or Z, as an aware UTC datetime; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 time such as '2026-03-02T08:00:00Z', got {text!r}")
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad ISO-8601 time {text!r}") from None
    if when.tzinfo is None:
        raise ValueError(f"time {text!r} needs an offset or Z")
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:      # 0001-01-01T00:00:00+14:00 is before the first instant Python can hold
        raise ValueError(f"time {text!r} is outside the years 1 to 9999 in UTC") from None


def format_duration(seconds: float) -> str:
    """A short human form of a duration: 0s, 250ms, 45s, 5m, 1h30m, 2d3h."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    rest = int(round(seconds))
    if rest == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def format_latency(seconds: float) -> str:
    """A latency as the terminal and the report show it: 0.17s under two minutes, else as format_duration."""
    return f"{seconds:.2f}s" if seconds < 120 else format_duration(seconds)


def iso_at(start: datetime, seconds: float) -> str:
    """ISO-8601 text (UTC, Z) of the instant `seconds` after `start`, to the millisecond."""
    when = start + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
