"""The connector queue: arrivals, connections, queue-level Retry, per-message deferral, expiry, delay notices.

The queue advances lazily and exactly: `advance(t)` plays every arrival, attempt, retry and expiry up to `t`
in time order, as a small event loop over the connector's own state. The engine calls it at every instant the
world can change (faults, actions, certificate expiry, alert evaluation), so between two calls nothing outside
the queue changes, and the result does not depend on how often it is called. No SimPy process per message.

Connections are slots; each slot holds an open session (one SMTP connection) that carries up to
`messages_per_connection` messages back to back while mail is waiting. A connection-level failure puts the
whole queue into Retry (SPEC 1.2); a recipient-level 4xx defers one message on its own schedule.
"""
from __future__ import annotations

import math
import random
from math import log
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush, heapreplace

from . import codes
from .attempt import Outcome, SessionSpec, message_stage_faults, open_session
from .messages import DONE, QUEUED, MessageStore
from .records import ConnectorCounters, LatencyHistogram, NdrRecord, Recorder, TraceSink
from .retry import RetryPolicy
from .scenario.schema import Connector, Traffic
from .message_replies import MessageReplies
from .traffic import MergedFeed
from .world.state import WorldState

__all__ = ["ConnectorQueue", "READY", "ACTIVE", "RETRY", "SUSPENDED"]

READY, ACTIVE, RETRY, SUSPENDED = "Ready", "Active", "Retry", "Suspended"
INF = math.inf
#: Seconds an idle connection stays open for the next message (Postfix's connection cache keeps 2 s).
KEEPALIVE = 2.0
#: Arrivals are drawn this many simulated seconds ahead, in one batch.
ARRIVAL_CHUNK = 60.0


class ConnectorQueue(MessageReplies):
    """One outbound connector's queue and connection pool."""

    def __init__(self, index: int, config: Connector, world: WorldState, streams: tuple[Traffic, ...],
                 feed: MergedFeed, policy: RetryPolicy, expiration: float, delay_notice: float | None,
                 aged_after: float, rng: random.Random, recorder: Recorder, trace: TraceSink | None = None,
                 on_ndr: Callable[[NdrRecord], None] | None = None, *, tenant: str,
                 connections: int | None = None) -> None:
        self.index = index
        self.config = config
        self.name = config.name
        self.world = world
        hosts = config.recipient_domains if config.use_mx else config.smart_hosts
        self.spec = SessionSpec(hosts, config.use_mx, config.port, config.tls, config.tls_domain)
        self.streams = streams
        self.rcpts = [t.recipients_per_message for t in streams]
        self.invalid_fraction = [t.invalid_recipient_fraction for t in streams]
        self.feed = feed
        self.policy = policy
        self.expiration = expiration
        self.delay_notice = delay_notice
        self.aged_after = aged_after
        self.rng = rng
        self.recorder = recorder
        self.trace = trace
        self.on_ndr = on_ndr
        self.tenant = tenant
        self.enabled = config.enabled
        self.fixed = False
        self.counters = ConnectorCounters()
        self.latency = LatencyHistogram()
        self.store = MessageStore()

        self.now = 0.0
        self.q: deque[int] = deque()          # waiting messages, by number (= arrival order)
        self.ready: list[int] = []            # deferred messages whose retry time has come (heap by number)
        self.deferred: list[tuple[float, int]] = []   # (retry time, number) of deferred messages
        self.tries: dict[int, int] = {}       # message-level failures of deferred messages
        k = connections or config.max_connections
        self.free: list[tuple[float, int]] = [(0.0, i) for i in range(k)]   # (slot free at, slot)
        self.session: list[Outcome | None] = [None] * k
        self.left = [0] * k

        self.retry_at: float | None = None    # in Retry until then
        self.pending_fail = INF               # a failed attempt puts the queue into Retry at this time
        self.pending_outcome: Outcome | None = None
        self.failures = 0                     # consecutive connection-level failures (queue retries)
        self.first_retry: float | None = None
        self.last_retry: float | None = None
        self.last: Outcome | None = None      # the last connection-level failure
        self.last_error_time: float | None = None
        self.expired = 0
        self._delay_ptr = 0
        self._aged_ptr = 0
        self._aged_done = 0
        self._first_expiry_noted = False
        self._at: list[float] = []             # arrivals drawn ahead, not yet taken in
        self._as: list[int] = []
        self._ai = 0
        self._next_arrival = feed.next_time
        self._lat_buf: list[float] = []
        self.capture: int | None = None       # attempt to record as a transcript (1-based; 0 = first failure)
        self.transcript: list[str] | None = None

    # ------------------------------------------------------------------------------------------ status
    def status(self) -> str:
        """Get-Queue status now: Suspended (connector off), Retry, Active (mail moving) or Ready (idle)."""
        if not self.enabled and not self.fixed:
            return SUSPENDED
        if self.retry_at is not None and self.now < self.retry_at:
            return RETRY
        if self.q or self.ready or self.deferred or any(f > self.now for f, _ in self.free):
            return ACTIVE
        return READY

    def queued_messages(self, at: float | None = None) -> int:
        """Messages waiting, deferred or in flight (one per busy connection) at `at` (default: now)."""
        t = self.now if at is None else at
        return len(self.q) + len(self.ready) + len(self.deferred) + sum(1 for f, _ in self.free if f > t)

    def oldest_arrival(self) -> float | None:
        candidates = []
        if self.q:
            candidates.append(self.q[0])
        if self.ready:
            candidates.append(self.ready[0])
        if self.deferred:
            candidates.append(min(n for _, n in self.deferred))
        return self.store.arrival[min(candidates)] if candidates else None

    def aged_messages(self) -> int:
        """Messages queued for longer than `aged_after` at `now` (for the alerts)."""
        arrival, status = self.store.arrival, self.store.status
        cut = self.now - self.aged_after
        p, n = self._aged_ptr, len(arrival)
        while p < n and arrival[p] <= cut:
            if status[p] == DONE:
                self._aged_done += 1
            p += 1
        self._aged_ptr = p
        return p - self._aged_done

    # ------------------------------------------------------------------------------------------ actions
    def set_smart_hosts(self, hosts: tuple[str, ...]) -> None:
        """Admin changed the connector's smart hosts: new connections use them (open ones finish first)."""
        s = self.spec
        self.spec = SessionSpec(hosts, False, s.port, s.tls, s.tls_domain)
        self.session = [None] * len(self.session)

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        if not on:
            self.session = [None] * len(self.session)

    # ------------------------------------------------------------------------------------------ the loop
    def advance(self, t1: float) -> None:
        """Plays everything that happens on this connector up to time `t1`."""
        if t1 <= self.now:
            return
        if self.fixed:
            self._advance_fixed(t1)
            return
        if not self.enabled:
            if self.pending_fail <= t1:
                self._enter_retry()
            self._until(t1)
            return
        q, ready, deferred, free = self.q, self.ready, self.deferred, self.free
        arrival, stream_of, invalid_of, status_of = (self.store.arrival, self.store.stream, self.store.invalid,
                                                     self.store.status)
        session, left, rcpts = self.session, self.left, self.rcpts
        counters = self.counters
        lat_buf = self._lat_buf
        expiration = self.expiration
        delay = self.delay_notice if self.delay_notice is not None else INF
        per_conn = self.config.messages_per_connection
        rnd = self.rng.random
        trace = self.trace
        msg_faults = self._message_faults_possible()

        while True:
            # The queue is waiting for its next retry.
            if self.retry_at is not None:
                if self.retry_at >= t1:
                    if self.pending_fail <= t1:
                        self._enter_retry()
                        continue
                    self._until(t1)
                    return
                self._until(self.retry_at)
                self.last_retry = self.retry_at
            # Which message goes next, and when a connection is free for it.
            if ready:
                r = self.now
            else:
                if not q:
                    if self._next_arrival >= t1:
                        if deferred and deferred[0][0] < t1:
                            if self.pending_fail <= deferred[0][0]:
                                self._enter_retry()
                                continue
                            self._until(deferred[0][0])
                            continue
                        if self.pending_fail <= t1:
                            self._enter_retry()
                            continue
                        self._until(t1)
                        return
                    self._pull(self._next_arrival)
                r = arrival[q[0]]
            if deferred and deferred[0][0] < r:
                r = deferred[0][0]
                if r >= t1:
                    if self.pending_fail <= t1:
                        self._enter_retry()
                        continue
                    self._until(t1)
                    return
                if self.pending_fail <= r:
                    self._enter_retry()
                    continue
                self._until(r)
                continue
            f0, slot = free[0]
            s = f0 if f0 > r else r
            if s < self.now:
                s = self.now
            if self.retry_at is not None and s < self.retry_at:
                s = self.retry_at
            if s >= self.pending_fail:
                self._enter_retry()
                continue
            if s >= t1:
                if self.pending_fail <= t1:
                    self._enter_retry()
                    continue
                self._until(t1)
                return
            if s > self.now:
                # Housekeeping only when something falls due by s (arrivals, expiries, timers, notices).
                if self._next_arrival <= s or (q and arrival[q[0]] + expiration <= s) or \
                        (ready and arrival[ready[0]] + expiration <= s) or (deferred and deferred[0][0] <= s) or \
                        (self._delay_ptr < len(arrival) and arrival[self._delay_ptr] + delay <= s):
                    before = (q[0] if q else -1, ready[0] if ready else -1)
                    self._until(s)
                    if (q[0] if q else -1, ready[0] if ready else -1) != before:
                        continue          # the head expired or a deferred message became ready: choose again
                else:
                    self.now = s
            if self.retry_at is not None:
                self.retry_at = None
            begin = s

            # Reuse this slot's connection if it is open, has messages left, and has not been idle too long.
            sess = session[slot]
            fresh = sess is None or left[slot] <= 0 or r > f0 + KEEPALIVE
            if fresh and self.pending_fail < INF:
                # A connection attempt is failing: no new connection until the queue has handled it.
                self._enter_retry()
                continue
            number = heappop(ready) if ready else q.popleft()
            if fresh:
                say = None
                if self.capture is not None and self.transcript is None:
                    lines: list[str] = [f"=== {self._clock(s)} attempt {counters.attempts + 1} for message {number}"]
                    if self.capture in (0, counters.attempts + 1):
                        say = lines.append
                sess = open_session(self.spec, self.world, s, say)
                if not sess.ok:
                    if say is not None:
                        lines.append(f"=== Outcome: {sess.last_error}")
                        self.transcript = lines
                    self._attempt_failed(number, sess, s, slot)
                    continue
                if say is not None and self.capture:
                    self._capture_message(lines, number, sess)
                session[slot] = sess
                left[slot] = per_conn
                s += sess.elapsed
            assert sess is not None
            server = sess.server
            assert server is not None
            done_at = s - log(1.0 - rnd()) * server.config.service_time
            arrived = arrival[number]
            if done_at > arrived + expiration:
                # It would finish after it expires: it expires at its deadline instead (SPEC 1.2).
                self._expire(number, arrived + expiration)
                continue
            counters.attempts += 1
            counters.busy_s += done_at - begin
            if self.capture and self.transcript is None and counters.attempts == self.capture:
                self._capture_message([f"=== {self._clock(s)} attempt {self.capture} for message {number}",
                                       f"=== Reusing the open connection to {sess.server_name} [{sess.ip}]"],
                                      number, sess)
            n = rcpts[stream_of[number]]
            inv = invalid_of[number]
            if msg_faults and message_stage_faults(server, self.world.faults.active(server.address, s)):
                if self._message_attempt(number, sess, slot, s, done_at, n, inv):
                    continue
            elif inv == 0:
                if self.failures:
                    self._recovered(s)
                counters.delivered += n
                lat_buf.append(done_at - arrived)
                if n != 1:
                    counters.times.add_delivered(done_at - arrived, n)
                if len(lat_buf) >= 4096:
                    self.flush_latency()
                if trace is not None:
                    self._trace_delivered(number, 0, n, done_at, sess)
                status_of[number] = DONE
                if number < self._aged_ptr:
                    self._aged_done += 1
            else:
                if self.failures:
                    self._recovered(s)
                self._delivered(number, n, inv, done_at, sess)
            heapreplace(free, (done_at, slot))
            left[slot] -= 1

    def flush_latency(self) -> None:
        """Moves buffered latencies into the bounded histogram."""
        self.latency.add_many(self._lat_buf)
        self._lat_buf.clear()

    # ------------------------------------------------------------------------------------------ pieces
    def _until(self, t: float) -> None:
        """Plays arrivals, expiries, delay notices and deferral timers up to `t` (no attempts)."""
        if self.fixed:
            self._advance_fixed(t)
            return
        deferred, ready = self.deferred, self.ready
        arrival = self.store.arrival
        expiration = self.expiration
        while deferred and deferred[0][0] <= t:
            due, number = heappop(deferred)
            if arrival[number] + expiration <= due:
                self._expire(number, arrival[number] + expiration)
            else:
                heappush(ready, number)
        q = self.q
        while q and arrival[q[0]] + expiration <= t:
            number = q.popleft()
            self._expire(number, arrival[number] + expiration)
        while ready and arrival[ready[0]] + expiration <= t:
            number = heappop(ready)
            self._expire(number, arrival[number] + expiration)
        if self._next_arrival <= t:      # after the expiries, so the depth it measures is the depth at t
            self._pull(t)
        if self.delay_notice is not None:
            self._delay_notices(t)
        if t > self.now:
            self.now = t

    def _pull(self, t: float) -> None:
        """Takes in every arrival up to `t`: stores it and queues it (or, after Fix now, handles it at once)."""
        feed = self.feed
        store = self.store
        add_arrival, add_stream = store.arrival.append, store.stream.append
        add_invalid, add_status = store.invalid.append, store.status.append
        rcpts, fractions = self.rcpts, self.invalid_fraction
        rnd = self.rng.random
        q_append = self.q.append
        trace = self.trace
        fixed = self.fixed
        number = len(store.arrival)
        received = 0
        while self._next_arrival <= t:
            if self._ai >= len(self._at):
                self._at, self._as = feed.take(max(t, self._next_arrival) + ARRIVAL_CHUNK)
                self._ai = 0
                if not self._at:
                    self._next_arrival = feed.next_time
                    continue
            at, streams = self._at, self._as
            i, end = self._ai, len(at)
            while i < end:
                when = at[i]
                if when > t:
                    break
                st = streams[i]
                i += 1
                n = rcpts[st]
                inv = 0
                f = fractions[st]
                if f > 0.0:
                    inv = sum(1 for _ in range(n) if rnd() < f)
                add_arrival(when)
                add_stream(st)
                add_invalid(inv)
                add_status(QUEUED)
                received += n
                if trace is not None:
                    for k in range(n):
                        trace.emit(when, "RECEIVE", self.index, number, k, "Message received by the service",
                                   "Pending")
                if fixed:
                    self.counters.received += received
                    received = 0
                    self._deliver_locally(number, when, at_arrival=True)
                else:
                    q_append(number)
                number += 1
            self._ai = i
            self._next_arrival = at[i] if i < end else feed.next_time
        self.counters.received += received
        # Only count busy connections when the depth could beat the peak (cheap bound first).
        if len(self.q) + len(self.ready) + len(self.deferred) + len(self.free) > self.counters.max_queue_depth:
            self.counters.max_queue_depth = max(self.counters.max_queue_depth, self.queued_messages(t))

    def _enter_retry(self) -> None:
        """A failed attempt took effect: the whole queue waits for its next retry (SPEC 1.2)."""
        t = self.pending_fail
        outcome = self.pending_outcome
        assert outcome is not None
        self.pending_fail = INF
        self.pending_outcome = None
        self._until(t)
        if self.failures == 0:
            self.first_retry = t
        self.failures += 1
        age = t - (self.first_retry if self.first_retry is not None else t)
        self.retry_at = t + self.policy.next_delay(self.failures, age)
        self.session = [None] * len(self.session)
        if self.failures == 1:
            self.recorder.note(t, "queue_retry", self.name,
                               f"Queue '{self.name}' went into Retry: {outcome.last_error}", outcome.code)

    def _recovered(self, t: float) -> None:
        if self.failures:
            self.recorder.note(t, "queue_recovered", self.name,
                               f"Queue '{self.name}' connected again after {self.failures} failed "
                               f"retr{'y' if self.failures == 1 else 'ies'}; delivering", None)
        self.failures = 0
        self.first_retry = None

    def _attempt_failed(self, number: int, outcome: Outcome, s: float, slot: int) -> None:
        """A connection could not be used: the message goes back; the queue goes into Retry at the end."""
        c = self.counters
        c.attempts += 1
        c.busy_s += outcome.elapsed
        code = outcome.code or "other"
        c.count_failure(code, self.now)
        end = s + outcome.elapsed
        heapreplace(self.free, (end, slot))
        self.session[slot] = None
        if outcome.permanent:
            self._fail(number, end, outcome.detail, outcome, bounce_code=code)
            return
        self._requeue(number)
        self.last = outcome
        self.last_error_time = end
        if self.trace is not None:
            n = self.rcpts[self.store.stream[number]]
            for i in range(n):
                self.trace.emit(end, "DEFER", self.index, number, i, outcome.last_error or "", "Pending")
        if end < self.pending_fail:
            self.pending_fail = end
            self.pending_outcome = outcome

    def _requeue(self, number: int) -> None:
        """Puts a message back in arrival order (it is among the oldest, so the scan is short)."""
        q = self.q
        i = 0
        n = len(q)
        while i < n and q[i] < number:
            i += 1
        q.insert(i, number)

    # ------------------------------------------------------------------------------------------ Fix now
    def apply_fix_now(self, t: float) -> None:
        """Fix now took effect: mail for this connector's domains stays in the cloud (accepted domain becomes
        Authoritative). Queued mail is delivered to its mailbox or, for unknown recipients, NDR'd with 5.1.10;
        new unknown recipients are rejected at once instead of queueing."""
        self.advance(t)
        self.fixed = True
        self.retry_at = None
        self.pending_fail = INF
        self.session = [None] * len(self.session)
        waiting = sorted(list(self.q) + list(self.ready) + [n for _, n in self.deferred])
        self.q.clear()
        self.ready.clear()
        self.deferred.clear()
        for number in waiting:
            self._deliver_locally(number, t, at_arrival=False)
        self.recorder.note(t, "fix_effective", self.name,
                           f"Fix now took effect on '{self.name}': {len(waiting)} queued messages handled in the "
                           f"cloud; unknown recipients are now rejected at once", codes.CONNECTION_REFUSED)

    def _advance_fixed(self, t1: float) -> None:
        if self._next_arrival <= t1:
            self._pull(t1)
        if t1 > self.now:
            self.now = t1
