"""A connector's message ledger: where every message is (waiting, deferred, ready again, finished) and how
each one ends (delivered, NDR, expired), with ages, delay notices and the counters, trace and NDRs they feed.

Messages live in the compact arrays of MessageStore (messages.py); the ledger holds only their numbers:
`waiting` in arrival order, `ready` (deferred messages whose retry time came, a heap by number) and
`deferred` (a heap of (retry time, number)). Numbers follow arrival order, so the smallest is the oldest.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from heapq import heapify, heappop, heappush

from . import codes
from .attempt import Outcome
from .messages import DONE, INVALID_GONE, QUEUED, MessageStore
from .records import ConnectorCounters, LatencyHistogram, NdrRecord, Recorder, TraceSink
from .retry import RetryPolicy
from .retry_state import RetryState

__all__ = ["MessageLedger"]

#: The status of every recipient-not-found NDR.
NOT_FOUND = codes.RECIPIENT_NOT_FOUND_STATUS
INF = float("inf")
#: Latencies are buffered and added to the histogram this many at a time.
LATENCY_BATCH = 4096


class MessageLedger:
    """The messages of one connector, their places in the queue and their endings."""

    def __init__(self, index: int, name: str, rcpts: list[int], expiration: float,
                 delay_notification: float | None, aged_after: float, retry: RetryState, recorder: Recorder,
                 trace: TraceSink | None, on_ndr: Callable[[NdrRecord], None] | None) -> None:
        self.index = index
        self.name = name
        self.rcpts = rcpts
        self.expiration = expiration
        self.delay_notification = delay_notification
        self.aged_after = aged_after
        self.retry = retry
        self.recorder = recorder
        self.trace = trace
        self.on_ndr = on_ndr
        self.store = MessageStore()
        self.counters = ConnectorCounters()
        self.latency = LatencyHistogram()
        self.lat_buf: list[float] = []
        self.waiting: deque[int] = deque()         # waiting messages, by number (= arrival order)
        self.ready: list[int] = []                  # deferred messages whose retry time has come (heap)
        self.deferred: list[tuple[float, int]] = []   # (retry time, number) of deferred messages
        self.tries: dict[int, int] = {}             # message-level failures of deferred messages
        self.expired = 0
        self.delay_ptr = 0                          # messages before it had their delay notice (or ended)
        self.aged_ptr = 0                           # messages before it are older than aged_after
        self.aged_done = 0                          # ... of which finished
        self.first_expiry_noted = False

    # ------------------------------------------------------------------------------------------ where messages are
    def queued(self) -> int:
        """Messages waiting, ready again or deferred (not those in flight)."""
        return len(self.waiting) + len(self.ready) + len(self.deferred)

    def oldest_arrival(self) -> float | None:
        candidates = []
        if self.waiting:
            candidates.append(self.waiting[0])
        if self.ready:
            candidates.append(self.ready[0])
        if self.deferred:
            candidates.append(min(n for _, n in self.deferred))
        return self.store.arrival[min(candidates)] if candidates else None

    def aged_messages(self, now: float) -> int:
        """Messages queued for longer than `aged_after` at `now` (for the alerts)."""
        p = self.aged_ptr
        q = bisect_right(self.store.arrival, now - self.aged_after, p)    # numbers follow arrival order
        self.aged_done += self.store.status[p:q].count(DONE)
        self.aged_ptr = q
        return q - self.aged_done

    def back_at(self, number: int, t: float) -> None:
        """A failed or dropped attempt ends at `t`: the message is in flight until then, and waiting again after
        (never sent on another connection meanwhile)."""
        heappush(self.deferred, (t, number))

    def defer_all(self, t: float, detail: str, dest: tuple[str, str] | None = None) -> None:
        """The queue retried and failed at `t`: a DEFER event for every recipient still queued (only with a trace)."""
        if self.trace is None:
            return
        arrival = self.store.arrival
        numbers = sorted(list(self.waiting) + self.ready + [n for _, n in self.deferred])
        for number in numbers:
            if arrival[number] > t:
                break       # taken in ahead of the clock (the loop looks at the next arrival before it is due)
            first, _ = self.remaining(number)
            self.trace_deferred(number, first, t, detail, dest)

    def defer(self, number: int, t: float, policy: RetryPolicy) -> None:
        """A 4xx for this message alone: it waits on its own schedule, never past its expiry."""
        tries = self.tries.get(number, 0) + 1
        self.tries[number] = tries
        arrived = self.store.arrival[number]
        due = t + policy.next_delay(tries, t - arrived)
        heappush(self.deferred, (min(due, arrived + self.expiration), number))

    def take_all(self) -> list[int]:
        """Removes every queued message (not those in flight) and returns their numbers in arrival order."""
        numbers = sorted(list(self.waiting) + list(self.ready) + [n for _, n in self.deferred])
        self.waiting.clear()
        self.ready.clear()
        self.deferred.clear()
        return numbers

    def play_timers(self, t: float) -> None:
        """Deferred messages whose time came become ready; messages whose lifetime ran out by `t` expire."""
        deferred, ready = self.deferred, self.ready
        arrival = self.store.arrival
        expiration = self.expiration
        while deferred and deferred[0][0] <= t:
            due, number = heappop(deferred)
            if arrival[number] + expiration <= due:
                self.expire(number, arrival[number] + expiration)
            else:
                heappush(ready, number)
        q = self.waiting
        while q and arrival[q[0]] + expiration <= t:
            number = q.popleft()
            self.expire(number, arrival[number] + expiration)
        while ready and arrival[ready[0]] + expiration <= t:
            number = heappop(ready)
            self.expire(number, arrival[number] + expiration)

    def due_by(self, s: float) -> bool:
        """Whether an expiry, a deferral timer or a delay notice falls due by `s` (arrivals aside)."""
        arrival = self.store.arrival
        expiration = self.expiration
        q, ready, deferred = self.waiting, self.ready, self.deferred
        if (q and arrival[q[0]] + expiration <= s) or (ready and arrival[ready[0]] + expiration <= s) \
                or (deferred and deferred[0][0] <= s):
            return True
        delay = self.delay_notification
        return delay is not None and self.delay_ptr < len(arrival) and arrival[self.delay_ptr] + delay <= s

    # ------------------------------------------------------------------------------------------ endings
    def finish(self, number: int) -> None:
        self.store.status[number] = DONE
        if number < self.aged_ptr:
            self.aged_done += 1

    def next_message(self) -> int:
        """Takes the next message to send: a deferred one whose time came, else the oldest waiting one."""
        return heappop(self.ready) if self.ready else self.waiting.popleft()

    def delivered(self, number: int, n: int, inv: int, t: float, sess: Outcome) -> None:
        """The destination took the message: known recipients delivered, unknown ones (first time) NDR'd."""
        if inv:
            self._delivered_some(number, n, inv, t, sess)
            return
        self.counters.delivered += n
        buf = self.lat_buf
        buf.append(t - self.store.arrival[number])
        if n != 1:
            self.counters.times.add_delivered(t - self.store.arrival[number], n)
        if len(buf) >= LATENCY_BATCH:
            self.flush_latency()
        if self.trace is not None:
            self.trace_sent(number, 0, n, t, sess)
        self.store.status[number] = DONE       # (finish, inline: this is the hot path)
        if number < self.aged_ptr:
            self.aged_done += 1

    def flush_latency(self) -> None:
        """Moves buffered latencies into the bounded histogram."""
        self.latency.add_many(self.lat_buf)
        self.lat_buf.clear()

    def _delivered_some(self, number: int, n: int, inv: int, t: float, sess: Outcome) -> None:
        """Known recipients delivered, unknown ones (the first time they are seen) NDR'd."""
        if n > inv:
            self.counters.delivered += n - inv
            self.latency.add(t - self.store.arrival[number])
            self.counters.times.add_delivered(t - self.store.arrival[number], n - inv)
            if self.trace is not None:
                self.trace_sent(number, inv, n, t, sess)
        if inv and self.store.status[number] == QUEUED:
            self.ndr_invalid(number, inv, t, sess)
        self.finish(number)

    def trace_sent(self, number: int, first: int, n: int, t: float, sess: Outcome) -> None:
        assert self.trace is not None
        for i in range(first, n):
            self.trace.emit(t, "SEND", self.index, number, i,
                            f"250 2.6.0 Queued mail for delivery [{sess.server_name}]", "Delivered", sess.destination)

    def trace_deferred(self, number: int, first: int, t: float, detail: str,
                       dest: tuple[str, str] | None = None) -> None:
        """A DEFER event for each recipient of the message still pending (`dest`: the server attempted)."""
        if self.trace is not None:
            for i in range(first, self.rcpts[self.store.stream[number]]):
                self.trace.emit(t, "DEFER", self.index, number, i, detail, "Pending", dest)

    def remaining(self, number: int) -> tuple[int, int]:
        """(first still-pending recipient index, recipient count) of a message."""
        n = self.rcpts[self.store.stream[number]]
        first = self.store.invalid[number] if self.store.status[number] == INVALID_GONE else 0
        return first, n

    def expire(self, number: int, t: float) -> None:
        """The message's lifetime ran out: NDR with the last deferral's reason (SPEC 1.2)."""
        if self.store.status[number] == DONE:
            return
        first, n = self.remaining(number)
        last = self.retry.last if self.retry.failing() else None
        seen = self.retry.last   # the last reply on record, for an expiry with no connection-level reason
        last_reply = None if seen is None else seen.last_error if seen.code in codes.CATALOGUE else seen.detail
        reply = codes.expiry_reply(last.code if last else None, last.detail if last else None, last_reply,
                                   self.retry.policy.name)
        status = codes.status_of(reply, "5.4.300")
        self.expired += n - first
        if not self.first_expiry_noted:
            self.first_expiry_noted = True
            self.recorder.note(t, "first_expiry", self.name,
                               f"First message on '{self.name}' expired after "
                               f"{self.expiration / 3600:g} h in the queue: {reply}", last.code if last else None)
        self.bounce(number, first, n, t, status, reply, last, self.retry.attempts_since(self.store.arrival[number]))
        self.tries.pop(number, None)

    def fail(self, number: int, t: float, reply: str, outcome: Outcome | None) -> None:
        """A permanent reply: NDR at once with the destination's own reply."""
        first, n = self.remaining(number)
        self.bounce(number, first, n, t, codes.status_of(reply, "5.0.0"), reply, outcome)
        self.tries.pop(number, None)

    def ndr_invalid(self, number: int, inv: int, t: float, outcome: Outcome | None) -> None:
        """Recipients the destination does not know: 550 5.1.10, NDR at once."""
        self._ndr_recipients(number, 0, inv, t, codes.RECIPIENT_NOT_FOUND,
                             outcome.server_name if outcome else None)

    def _ndr_recipients(self, number: int, first: int, end: int, t: float, reply: str, remote: str | None) -> None:
        """Recipients first..end-1 NDR'd at `t` with 5.1.10."""
        c = self.counters
        c.ndr += end - first
        c.ndr_by_status[NOT_FOUND] = c.ndr_by_status.get(NOT_FOUND, 0) + end - first
        c.times.add_ndr(t - self.store.arrival[number], end - first)
        if self.trace is not None:
            for i in range(first, end):
                self.trace.emit(t, "FAIL", self.index, number, i, reply, "Failed")
        if self.on_ndr is not None:
            self.on_ndr(NdrRecord(t, self.index, number, tuple((i, NOT_FOUND, reply) for i in range(first, end)),
                                  remote, t))

    def bounce(self, number: int, first: int, n: int, t: float, status: str, reply: str,
               outcome: Outcome | None, attempts: tuple[tuple[float, str, str], ...] = ()) -> None:
        c = self.counters
        count = n - first
        self.finish(number)
        if count <= 0:
            return
        c.ndr += count
        c.ndr_by_status[status] = c.ndr_by_status.get(status, 0) + count
        c.times.add_ndr(t - self.store.arrival[number], count)
        if self.trace is not None:
            for i in range(first, n):
                self.trace.emit(t, "FAIL", self.index, number, i, reply, "Failed")
        if self.on_ndr is not None:
            self.on_ndr(NdrRecord(t, self.index, number, tuple((i, status, reply) for i in range(first, n)),
                                  outcome.server_name if outcome else None, self.retry.last_error_time,
                                  attempts=attempts))

    def next_notice(self) -> float:
        """When the next delay notice could fall due (for the oldest message not looked at yet), or infinity."""
        wait, p = self.delay_notification, self.delay_ptr
        if wait is None or p >= len(self.store.arrival):
            return INF
        return self.store.arrival[p] + wait

    def delay_notifications(self, t: float) -> None:
        """Messages still queued `delay_notification` after arrival: a delay DSN to the sender (Action: delayed)."""
        wait = self.delay_notification
        if wait is None:
            return
        arrival, status = self.store.arrival, self.store.status
        p, n = self.delay_ptr, len(arrival)
        while p < n and arrival[p] + wait <= t:
            if status[p] != DONE:
                self._delay_notification(p, arrival[p] + wait)
            p += 1
        self.delay_ptr = p

    def _delay_notification(self, number: int, at: float) -> None:
        first, count = self.remaining(number)
        self.counters.delay_notifications += 1
        last = self.retry.last
        reason = last.last_error if last and last.last_error else "Delivery has been delayed"
        if self.trace is not None:
            self.trace.emit(at, "DSN", self.index, number, first, f"Delay notification sent to the sender: "
                            f"{reason}", "Pending")
        if self.on_ndr is not None:
            status_code = codes.enhanced_of(last.code) if last and last.code else "4.4.7"
            self.on_ndr(NdrRecord(at, self.index, number,
                                  tuple((i, status_code or "4.4.7", reason) for i in range(first, count)),
                                  last.server_name if last else None, self.retry.last_error_time, delayed=True,
                                  retry_until=self.store.arrival[number] + self.expiration))

    def refuse(self, number: int, t: float, at_arrival: bool) -> None:
        """Mail for recipients with no cloud mailbox (Fix now in effect, or an Authoritative domain): new mail is
        rejected at once (counted `rejected`), queued mail gets an NDR 550 5.1.10 for every pending recipient."""
        first, n = self.remaining(number)
        if at_arrival:
            self._reject(number, first, n, t)
        elif n > first:
            self._ndr_recipients(number, first, n, t, codes.RECIPIENT_NOT_FOUND, None)
        self.finish(number)
        self.tries.pop(number, None)

    def loop(self, number: int, t: float, reply: str) -> None:
        """The message went round between the service and itself until its hop count ran out: an NDR."""
        first, n = self.remaining(number)
        self.bounce(number, first, n, t, codes.status_of(reply, "5.4.14"), reply, None)
        self.tries.pop(number, None)

    def take(self, keep: Callable[[int], bool]) -> None:
        """Removes from the queue every waiting, ready or deferred message for which `keep` is False."""
        kept = [n for n in self.waiting if keep(n)]
        self.waiting.clear()
        self.waiting.extend(kept)
        self.ready[:] = [n for n in self.ready if keep(n)]
        heapify(self.ready)
        self.deferred[:] = [(d, n) for d, n in self.deferred if keep(n)]
        heapify(self.deferred)

    def _reject(self, number: int, first: int, end: int, t: float) -> None:
        """Recipients first..end-1 of new mail rejected at once (counted `rejected`, with an NDR)."""
        self.counters.rejected += end - first
        reply = codes.RECIPIENT_REJECTED
        if self.trace is not None:
            for i in range(first, end):
                self.trace.emit(t, "FAIL", self.index, number, i, reply, "Failed")
        if self.on_ndr is not None:
            self.on_ndr(NdrRecord(t, self.index, number, tuple((i, NOT_FOUND, reply) for i in range(first, end)),
                                  None, t))
