"""What the engine records: counters, latency histogram, trace events, queue snapshots, timeline entries.

The engine appends; observers (alerts, reports, tests) read or subscribe. Nothing here prints or writes files.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from itertools import repeat
from math import log
from operator import add, truediv
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .messages import MessageStore

__all__ = ["ConnectorCounters", "LatencyHistogram", "RecipientTimes", "TraceSink", "MessageReader", "TeeSink",
           "NdrRecord", "QueueSnapshot", "Tally", "TimelineEntry", "Recorder"]

#: Latencies under 1 ms count as 0; the others go to log-spaced buckets of milliseconds.
_UNDER_1MS = (1e-3).__gt__
_TO_MS = (1000.0).__mul__


@dataclass(slots=True)
class ConnectorCounters:
    """Per-connector counts; recipients, except `max_queue_depth` (messages, as Get-Queue counts them)."""

    received: int = 0
    delivered: int = 0
    ndr: int = 0
    rejected: int = 0
    attempts: int = 0
    max_queue_depth: int = 0
    delay_notifications: int = 0
    codes_seen: dict[str, int] = field(default_factory=dict)
    ndr_by_status: dict[str, int] = field(default_factory=dict)
    failures_by_hour: dict[int, dict[str, int]] = field(default_factory=dict)
    busy_s: float = 0.0                 # connection-seconds spent on attempts (for utilisation)
    first_failure: float | None = None  # when the first attempt failed (what "time to alert" counts from)
    times: RecipientTimes = field(default_factory=lambda: RecipientTimes())

    def count_failure(self, code: str, t: float) -> None:
        """A failed attempt with `code` at time `t` (for codes_seen and attempts per hour by outcome)."""
        if self.first_failure is None:
            self.first_failure = t
        self.codes_seen[code] = self.codes_seen.get(code, 0) + 1
        hour = self.failures_by_hour.setdefault(int(t // 3600), {})
        hour[code] = hour.get(code, 0) + 1

    @property
    def queued(self) -> int:
        return self.received - self.delivered - self.ndr - self.rejected


class LatencyHistogram:
    """Bounded-memory latency distribution: log-spaced buckets 1% wide, exact count, sum and max."""

    __slots__ = ("_buckets", "count", "total", "max", "_zero")
    _BASE = math.log(1.01)

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._zero = 0

    def add(self, seconds: float) -> None:
        self.add_many((seconds,))

    def add_many(self, values: Sequence[float]) -> None:
        """Adds a batch of latencies (the queue buffers them to keep its loop short). The work runs in C through
        map and Counter; the total is summed left to right, as one addition at a time would."""
        if not values:
            return
        zero = sum(map(_UNDER_1MS, values))
        timed = values if not zero else [v for v in values if v >= 1e-3]
        buckets, get = self._buckets, self._buckets.get
        spread = Counter(map(int, map(truediv, map(log, map(_TO_MS, timed)), repeat(self._BASE))))
        for b, n in spread.items():
            buckets[b] = get(b, 0) + n
        self.count += len(values)
        self.total += reduce(add, values, 0.0)
        top = max(values)
        if top > self.max:
            self.max = top
        self._zero += zero

    def add_weighted(self, seconds: float, weight: int) -> None:
        """Adds `weight` equal values at once (the recipients of one message)."""
        if weight <= 0:
            return
        self.count += weight
        self.total += seconds * weight
        if seconds > self.max:
            self.max = seconds
        if seconds < 1e-3:
            self._zero += weight
            return
        b = int(math.log(seconds * 1000.0) / self._BASE)
        self._buckets[b] = self._buckets.get(b, 0) + weight

    def bins(self) -> list[tuple[float, int]]:
        """(representative value, count) per non-empty bucket, in increasing order (the midpoint, capped at max;
        values under 1 ms count as 0)."""
        out = [(0.0, self._zero)] if self._zero else []
        for b in sorted(self._buckets):
            out.append((min(math.exp((b + 0.5) * self._BASE) / 1000.0, self.max), self._buckets[b]))
        return out

    def count_at_most(self, seconds: float) -> int:
        """How many values are at most `seconds` (to within the 1% width of the bucket holding it)."""
        return sum(n for v, n in self.bins() if v <= seconds)

    def merge(self, other: LatencyHistogram) -> None:
        for b, n in other._buckets.items():
            self._buckets[b] = self._buckets.get(b, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self._zero += other._zero

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1), to within 1% of the true value (midpoint of its bucket), capped at max."""
        if self.count == 0:
            return 0.0
        rank = q * self.count
        seen = self._zero
        if seen >= rank and seen > 0:
            return 0.0
        for b in sorted(self._buckets):
            seen += self._buckets[b]
            if seen >= rank:
                mid = math.exp((b + 0.5) * self._BASE) / 1000.0
                return min(mid, self.max)
        return self.max


class RecipientTimes:
    """Per-recipient times in system that the per-message latency histogram does not hold: recipients NDR'd
    (arrival to NDR) and the second and later recipients of a delivered message. Fed off the queue's fast path."""

    __slots__ = ("ndr", "extra_delivered")

    def __init__(self) -> None:
        self.ndr = LatencyHistogram()
        self.extra_delivered = LatencyHistogram()

    def add_ndr(self, seconds: float, recipients: int) -> None:
        self.ndr.add_weighted(seconds, recipients)

    def add_delivered(self, seconds: float, recipients: int) -> None:
        """Recipients of one message delivered after `seconds`, beyond the one the message histogram counts."""
        self.extra_delivered.add_weighted(seconds, recipients - 1)


class TraceSink(Protocol):
    """Receives message-trace events (possibly out of time order) and writes them in order up to a watermark."""

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str,
             status: str, dest: tuple[str, str] | None = None) -> None: ...

    def flush(self, watermark: float) -> None: ...


@runtime_checkable
class MessageReader(Protocol):
    """An output that writes per-message fields (arrival, traffic stream, unknown recipients): the engine hands
    it the connectors' message stores, in [[connectors]] order, while it builds the queues."""

    def attach(self, stores: Sequence[MessageStore]) -> None: ...


@dataclass(frozen=True, slots=True)
class NdrRecord:
    """A non-delivery (or delay) notice to generate: which message, which recipients, why."""

    t: float
    connector: int
    number: int
    recipients: tuple[tuple[int, str, str], ...]   # (recipient index, enhanced status, diagnostic reply)
    remote: str | None
    last_attempt: float | None
    delayed: bool = False
    retry_until: float | None = None
    attempts: tuple[tuple[float, str, str], ...] = ()   # (time in simulated s, server, reply) of each attempt


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A connector queue at one evaluation instant (the fields Get-Queue and the alerts need)."""

    t: float
    connector: str
    status: str
    queued_messages: int
    queued_recipients: int
    aged_messages: int              # queued longer than the alert's queued_for
    oldest_arrival: float | None
    last_error: str | None
    last_error_code: str | None
    last_server: str | None
    last_ip: str | None
    retry_count: int
    first_retry: float | None
    last_retry: float | None
    next_retry: float | None
    received: int
    delivered: int
    ndr: int
    rejected: int
    expired: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Tally:
    """What a metric test reads of one connector at an instant besides its snapshot: NDRs by status and the
    latency of the messages delivered so far (copies, taken only at a test's eval_time)."""

    connector: str
    ndr_by_status: Mapping[str, int]
    latency: LatencyHistogram


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the story: fault started, queue went into Retry, action taken, fix took effect, ..."""

    t: float
    kind: str
    connector: str | None
    text: str
    code: str | None = None


class TeeSink:
    """Sends trace events to several sinks (e.g. --events and --trace together)."""

    def __init__(self, sinks: list[TraceSink]) -> None:
        self.sinks = sinks

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str,
             status: str, dest: tuple[str, str] | None = None) -> None:
        for s in self.sinks:
            s.emit(t, event, connector, number, rcpt, detail, status, dest)

    def flush(self, watermark: float) -> None:
        for s in self.sinks:
            s.flush(watermark)

    def attach(self, stores: Sequence[MessageStore]) -> None:
        """Hands the message stores on to the sinks that read them."""
        for s in self.sinks:
            if isinstance(s, MessageReader):
                s.attach(stores)


class Recorder:
    """Collects snapshots and timeline entries; observers subscribe to snapshots as they are taken."""

    def __init__(self) -> None:
        self.snapshots: list[QueueSnapshot] = []
        self.notes: list[TimelineEntry] = []     # in the order they were written
        self._subscribers: list[Callable[[list[QueueSnapshot]], None]] = []

    def subscribe(self, fn: Callable[[list[QueueSnapshot]], None]) -> None:
        """`fn` receives each evaluation's snapshots (one per connector), in time order."""
        self._subscribers.append(fn)

    def snapshot(self, snaps: list[QueueSnapshot]) -> None:
        self.snapshots.extend(snaps)
        for fn in self._subscribers:
            fn(snaps)

    def note(self, t: float, kind: str, connector: str | None, text: str, code: str | None = None) -> None:
        self.notes.append(TimelineEntry(t, kind, connector, text, code))

    @property
    def timeline(self) -> list[TimelineEntry]:
        """The notes in time order. A queue learns of an attempt's end when it plays the attempt, so notes
        from parallel connections can be written slightly out of order (by at most one attempt's length)."""
        return sorted(self.notes, key=lambda e: e.t)
