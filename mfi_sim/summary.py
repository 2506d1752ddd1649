"""A connector's queue as a finished run leaves it: one frozen record, built once from the live queue.

Reports, figures and tests read these records, never the queue objects, so a Result stays what it was when the
engine handed it over, whatever the engine does next (a console session plays on; a batch run is discarded).
"""
from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from .messages import DONE, INVALID_GONE
from .records import LatencyHistogram

if TYPE_CHECKING:
    from .queue import ConnectorQueue

__all__ = ["ConnectorSummary", "summarize", "censored_ages"]

#: Finds the runs of messages not finished in MessageStore.status (one byte each), at C speed.
_NOT_DONE = re.compile(b"[^" + re.escape(bytes([DONE])) + b"]+")
_GONE = re.compile(re.escape(bytes([INVALID_GONE])))
_DONE = bytes([DONE])


@dataclass(frozen=True, slots=True)
class ConnectorSummary:
    """One connector's queue at instant `t`: counts in recipients (as message trace counts them, except
    `max_queue_depth`, in messages), its last error, retry figures and the time distributions the figures
    need. Mappings are read-only copies; histograms are copies no other object holds."""

    name: str
    index: int
    t: float
    status: str                     # Get-Queue status at `t`
    received: int
    delivered: int
    ndr: int
    rejected: int
    expired: int
    attempts: int
    max_queue_depth: int
    delay_notifications: int
    busy_s: float                   # connection-seconds spent on attempts
    connections: int                # connections the queue may open at once
    first_failure: float | None     # when the first attempt failed
    codes_seen: Mapping[str, int]   # failed attempts by code
    ndr_by_status: Mapping[str, int]
    failures_by_hour: Mapping[int, Mapping[str, int]]
    last_error: str | None
    last_error_code: str | None
    retry_count: int                # consecutive failed retries (Get-Queue RetryCount)
    first_retry: float | None
    last_retry: float | None
    latency: LatencyHistogram       # delivered messages, arrival to delivery (one value per message)
    extra_delivered: LatencyHistogram   # the second and later recipients of delivered messages
    ndr_latency: LatencyHistogram   # NDR'd recipients, arrival to NDR
    queued_ages: LatencyHistogram   # recipients still queued at `t`, by age (censored times in system)
    transcript_lines: tuple[str, ...] | None   # the captured SMTP transcript, when one was asked for

    @property
    def queued(self) -> int:
        """Recipients still waiting at `t`."""
        return self.received - self.delivered - self.ndr - self.rejected


def _copy(hist: LatencyHistogram) -> LatencyHistogram:
    out = LatencyHistogram()
    out.merge(hist)
    return out


def _bucket_key(t: float) -> Callable[[float], int]:
    """Orders arrivals by the histogram bucket of their age at `t` (LatencyHistogram's own rule: 1%-wide log
    buckets from 1 ms, younger than that at the top): older arrivals have larger ages, so keys never decrease."""
    base = math.log(1.01)

    def key(arrival: float) -> int:
        age = t - arrival
        return 1 if age < 1e-3 else -int(math.log(age * 1000.0) / base)
    return key


def censored_ages(queue: ConnectorQueue, t: float) -> LatencyHistogram:
    """Every recipient not finished at `t`, by the age of its message then (times in system not yet known).

    Numbers are given in arrival order, so the messages of a run of unfinished ones fill each age bucket in one
    stretch: a binary search per bucket finds it, instead of a step per message (a 2-million backlog would
    otherwise cost seconds at the end of every run)."""
    store = queue.store
    arrival, status, invalid = store.arrival, store.status, store.invalid
    rcpts = set(queue.ledger.rcpts)
    if len(rcpts) > 1:
        return _ages_one_by_one(queue, t)
    weight = rcpts.pop() if rcpts else 0
    ages = LatencyHistogram()
    flags = status.tobytes()
    key = _bucket_key(t)
    total = 0.0
    finished = len(flags) - len(flags.lstrip(_DONE))   # the oldest messages are mostly done: skip them at once
    for run in _NOT_DONE.finditer(flags, finished):
        lo, hi = run.span()
        gone = [m.start() for m in _GONE.finditer(flags, lo, hi)]   # unknown recipients already bounced
        total += weight * ((hi - lo) * t - math.fsum(arrival[lo:hi]))
        i = lo
        while i < hi:
            j = bisect_right(arrival, key(arrival[i]), i, hi, key=key)
            left = sum(invalid[g] for g in gone[bisect_left(gone, i):bisect_left(gone, j)])
            ages.add_weighted(t - arrival[i], weight * (j - i) - left)   # arrival[i] is the oldest: the max
            i = j
        total -= math.fsum((t - arrival[g]) * invalid[g] for g in gone)
    ages.total = total
    return ages


def _ages_one_by_one(queue: ConnectorQueue, t: float) -> LatencyHistogram:
    """censored_ages for a connector whose traffic streams carry different numbers of recipients."""
    store = queue.store
    arrival, stream, invalid, status = store.arrival, store.stream, store.invalid, store.status
    rcpts = queue.ledger.rcpts
    ages = LatencyHistogram()
    flags = status.tobytes()
    for run in _NOT_DONE.finditer(flags, len(flags) - len(flags.lstrip(_DONE))):
        for i in range(*run.span()):
            gone = invalid[i] if status[i] == INVALID_GONE else 0
            ages.add_weighted(t - arrival[i], rcpts[stream[i]] - gone)
    return ages


def summarize(queue: ConnectorQueue, t: float) -> ConnectorSummary:
    """The frozen record of `queue`, brought to `t` by the engine (reads its public views, changes nothing
    but flushing its buffered latencies into its histogram)."""
    queue.flush_latency()
    c = queue.counters
    last = queue.last
    retry = queue.retry
    lines = queue.transcript_lines
    return ConnectorSummary(
        name=queue.name, index=queue.index, t=t, status=queue.status(), received=c.received,
        delivered=c.delivered, ndr=c.ndr, rejected=c.rejected, expired=queue.expired, attempts=c.attempts,
        max_queue_depth=c.max_queue_depth, delay_notifications=c.delay_notifications, busy_s=c.busy_s,
        connections=len(queue.pool.free), first_failure=c.first_failure,
        codes_seen=MappingProxyType(dict(c.codes_seen)), ndr_by_status=MappingProxyType(dict(c.ndr_by_status)),
        failures_by_hour=MappingProxyType({h: MappingProxyType(dict(codes))
                                           for h, codes in c.failures_by_hour.items()}),
        last_error=last.last_error if last else None, last_error_code=last.code if last else None,
        retry_count=retry.failures, first_retry=retry.first_retry, last_retry=retry.last_retry,
        latency=_copy(queue.latency), extra_delivered=_copy(c.times.extra_delivered),
        ndr_latency=_copy(c.times.ndr), queued_ages=censored_ages(queue, t),
        transcript_lines=tuple(lines) if lines is not None else None)
