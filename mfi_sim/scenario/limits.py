"""What a scenario may ask for: the stated limits that keep every file that loads runnable in bounded time
and memory. Each is this project's assumption (no service document gives them), chosen far above what a
story needs and below what exhausts a laptop; the README's field reference lists them."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import Traffic

__all__ = ["MAX_FILE_BYTES", "MAX_NESTING", "MAX_DURATION", "MAX_ANY_DURATION", "MIN_EVALUATE_EVERY",
           "MIN_RETRY_INTERVAL", "MIN_SERVICE_TIME", "MAX_MESSAGES", "MAX_CONNECTIONS", "MAX_ZONE_RECORDS",
           "MAX_TABLES", "MAX_TEXT", "MAX_DESCRIPTION", "expected_messages", "zone_records", "nesting_depth"]

MAX_FILE_BYTES = 4 * 1024 * 1024          # a scenario file; bundled ones are a few kilobytes
MAX_NESTING = 16                          # arrays and tables inside one another
MAX_DURATION = 31 * 86400.0               # simulated time of one run: a month
MAX_ANY_DURATION = 3650 * 86400.0         # any other duration or offset: ten years
MIN_EVALUATE_EVERY = 60.0                 # the service evaluates its alerts every few minutes
MIN_RETRY_INTERVAL = 1.0                  # a retry schedule's shortest wait
MIN_SERVICE_TIME = 0.001                  # a server's time per message
MAX_MESSAGES = 20_000_000                 # expected arrivals of one run (rates x time + bursts)
MAX_CONNECTIONS = 100                     # a connector's parallel connections
MAX_ZONE_RECORDS = 2_000                  # lines of all zone texts, $GENERATE ranges counted in full
MAX_TEXT = 1000                           # a name, host or reply
MAX_DESCRIPTION = 20_000                  # the story
#: How many entries each array of tables may have.
MAX_TABLES = {"connectors": 100, "servers": 1000, "traffic": 100, "faults": 1000, "actions": 1000,
              "tests": 1000, "zones": 100, "bursts": 1000}

_GENERATE = re.compile(r"^\s*\$GENERATE\s+(\d+)\s*-\s*(\d+)(?:\s*/\s*(\d+))?", re.IGNORECASE | re.MULTILINE)


def expected_messages(traffic: Sequence[Traffic], duration: float) -> float:
    """Messages the traffic streams bring in `duration` seconds on average: rate x time, plus bursts."""
    total = 0.0
    for t in traffic:
        end = duration if t.end is None else min(t.end, duration)
        span = max(0.0, end - t.start)
        rate = sum(t.profile) / len(t.profile) if t.profile else t.rate
        total += rate * span + sum(count for at, count in t.bursts if at <= duration)
    return total


def zone_records(text: str) -> int:
    """An upper bound of the records a zone text makes, counted without parsing it: one per line, and the
    whole range of each `$GENERATE` line (RFC-less BIND extension, expanded by dnspython in memory)."""
    count = text.count("\n") + 1
    for m in _GENERATE.finditer(text):
        low, high, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        count += max(0, high - low) // max(step, 1)
    return count


def nesting_depth(value: object) -> int:
    """How deep arrays and tables nest in parsed TOML data, counted without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
