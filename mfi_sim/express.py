"""The queue's express lane: while a connector is healthy and nothing but arrivals and deliveries can happen, its
messages are served in a tight loop instead of the general one (queue.py), with the same results, draw for draw.

Two cases carry almost every message of a long run: an idle queue, where each arrival finds an open connection
free and goes at once (`_arrivals`), and a backlog draining after an outage, where the oldest message takes the
next connection to come free (`_backlog`). Anything else (a new connection, a deferral, a retry, an expiry,
arrivals at the same instant, the horizon `t1`) hands back to the general loop, which calls `serve` again on
its next turn. Delay notices due on the way are sent where the general loop sends them (before the attempt that
passes their time). The lane is closed while a trace, a transcript or a message-stage fault are on.
"""
from __future__ import annotations

import math
from heapq import heapreplace
from math import log
from typing import TYPE_CHECKING

from .connections import KEEPALIVE
from .ledger import LATENCY_BATCH
from .messages import DONE, QUEUED

if TYPE_CHECKING:
    from .queue import ConnectorQueue

__all__ = ["serve", "open_for"]

INF = math.inf


def open_for(q: ConnectorQueue) -> bool:
    """Whether the lane may run during this advance: nothing is watching single attempts."""
    return q._slow is None and q.transcript is None and q.ledger.trace is None


def serve(q: ConnectorQueue, t1: float) -> None:
    """Serves what the lane can before `t1`: the backlog first, then arrivals that go at once.

    Only a healthy queue: nothing handled at once (Fix now, default route), no deferred or ready-again message
    (they go first, on their own timers), no Retry under way. Some of these imply each other today (a failed
    attempt always leaves its message deferred; Retry closes every session, and the lane needs an open one); each
    is checked anyway, so that the lane never relies on how the general loop happens to get there."""
    ledger, retry = q.ledger, q.retry
    if q.intake.handle_at_once is not None or retry.failures or retry.pending_fail < INF \
            or retry.retry_at is not None or ledger.ready or ledger.deferred:
        return
    if ledger.waiting:
        _backlog(q, t1)
    if not ledger.waiting:
        _arrivals(q, t1)


def _backlog(q: ConnectorQueue, t1: float) -> None:
    """The oldest waiting message takes the next connection to come free, while that connection's session may
    carry it and the message has not expired by then. Arrivals up to each start join the line on the way."""
    ledger, pool, intake = q.ledger, q.pool, q.intake
    waiting, store, counters = ledger.waiting, ledger.store, ledger.counters
    arrival, stream_of, invalid_of, status = store.arrival, store.stream, store.invalid, store.status
    rcpts, expiration, delivered, latencies = ledger.rcpts, ledger.expiration, ledger.delivered, ledger.lat_buf
    free, left, session = pool.free, pool.left, pool.session
    aged_ptr = ledger.aged_ptr
    notice_at = ledger.next_notice()
    rnd = q.rng.random
    now = q.now
    while waiting:
        number = waiting[0]
        r = arrival[number]
        f0, slot = free[0]
        s = f0 if f0 > r else r      # when both the message (taken in, perhaps ahead of the clock) and the
        if s < now:                  # connection are ready, and not before the clock
            s = now
        sess = session[slot]
        if s >= t1 or r + expiration <= s or sess is None or left[slot] <= 0 or r > f0 + KEEPALIVE:
            break       # the horizon, an expiry, or a new connection: the general loop
        if intake.next_arrival <= s:
            q.now = now
            q._pull(s)      # arrivals before this start join the line (the peak depth is measured there)
            if notice_at == INF:
                notice_at = ledger.next_notice()
        if notice_at <= s:      # delay notices due by this start go first, as the general loop sends them
            ledger.delay_notifications(s)
            notice_at = ledger.next_notice()
        now = s
        waiting.popleft()
        done_at = s - log(1.0 - rnd()) * sess.server.config.service_time  # type: ignore[union-attr]
        if done_at > r + expiration:
            ledger.expire(number, r + expiration)      # it would finish after it expires (SPEC 1.2)
            continue
        counters.attempts += 1
        counters.busy_s += done_at - s
        n = rcpts[stream_of[number]]
        inv = invalid_of[number]
        if inv or n != 1 or number < aged_ptr:
            delivered(number, n, inv, done_at, sess)
        else:       # one known recipient: ledger.delivered's common case, inline
            status[number] = DONE
            counters.delivered += 1
            latencies.append(done_at - r)
            if len(latencies) >= LATENCY_BATCH:
                ledger.flush_latency()
        heapreplace(free, (done_at, slot))
        left[slot] -= 1
    q.now = now


def _arrivals(q: ConnectorQueue, t1: float) -> None:
    """The queue is empty: each arrival that finds an open connection free goes at once, without joining the
    line. The arrivals come straight from the intake's drawn-ahead buffer. No delay notice can fall due here:
    with nothing waiting or deferred, every earlier message has finished."""
    intake, ledger, pool = q.intake, q.ledger, q.pool
    times, streams, i = intake.times, intake.streams, intake.pos
    end = len(times)
    store, counters = ledger.store, ledger.counters
    add_arrival, add_stream = store.arrival.append, store.stream.append
    add_invalid, add_status = store.invalid.append, store.status.append
    rcpts, fractions, unknown = ledger.rcpts, intake.fractions, intake.unknown
    free, left, session = pool.free, pool.left, pool.session
    expiration, delivered, latencies = ledger.expiration, ledger.delivered, ledger.lat_buf
    busy = len(free)      # busy connections, at most
    rnd = q.rng.random
    number = len(store.arrival)
    while i < end:
        a = times[i]
        f0, slot = free[0]
        sess = session[slot]
        if a >= t1 or f0 > a or (i + 1 < end and times[i + 1] == a) \
                or sess is None or left[slot] <= 0 or a > f0 + KEEPALIVE:
            break       # the horizon, no connection free, arrivals at once, or a new connection: the general loop
        st = streams[i]
        n = rcpts[st]
        inv = unknown(n, fractions[st]) if fractions[st] > 0.0 else 0
        done_at = a - log(1.0 - rnd()) * sess.server.config.service_time  # type: ignore[union-attr]
        i += 1
        q.now = a
        add_arrival(a)
        add_stream(st)
        add_invalid(inv)
        counters.received += n
        if busy >= counters.max_queue_depth:     # the depth now (this message + busy) could beat the peak
            busy = sum(1 for f, _ in free if f > a)
            if busy >= counters.max_queue_depth:
                counters.max_queue_depth = busy + 1
        busy += 1       # at the next arrival at most this one more connection is busy
        if done_at > a + expiration:
            add_status(QUEUED)
            ledger.expire(number, a + expiration)      # it would finish after it expires (SPEC 1.2)
            number += 1
            continue
        counters.attempts += 1
        counters.busy_s += done_at - a
        if inv or n != 1:
            add_status(QUEUED)
            delivered(number, n, inv, done_at, sess)
        else:       # one known recipient: ledger.delivered's common case, inline
            add_status(DONE)
            counters.delivered += 1
            latencies.append(done_at - a)
            if len(latencies) >= LATENCY_BATCH:
                ledger.flush_latency()
        heapreplace(free, (done_at, slot))
        left[slot] -= 1
        number += 1
    intake.pos = i
    intake.next_arrival = times[i] if i < end else intake.feed.next_time
