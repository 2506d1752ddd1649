"""How a message leaves a connector queue: delivered, bounced (NDR), expired, or handled in the cloud after
Fix now; and the delay notices for messages still waiting. A mixin of ConnectorQueue, kept apart so the
queue's loop reads on its own; every ending updates the counters, the trace and the NDR sink the same way.
"""
from __future__ import annotations

from collections.abc import Callable

from . import codes
from .attempt import Outcome
from .messages import DONE, INVALID_GONE, QUEUED, MessageStore
from .records import ConnectorCounters, LatencyHistogram, NdrRecord, Recorder, TraceSink
from .retry import RetryPolicy

__all__ = ["Endings"]

INF = float("inf")
NOT_FOUND = codes.RECIPIENT_NOT_FOUND_STATUS


class Endings:
    """Message endings for ConnectorQueue (which sets every attribute below)."""

    index: int
    name: str
    store: MessageStore
    counters: ConnectorCounters
    latency: LatencyHistogram
    recorder: Recorder
    trace: TraceSink | None
    on_ndr: Callable[[NdrRecord], None] | None
    rcpts: list[int]
    expiration: float
    delay_notice: float | None
    policy: RetryPolicy
    last: Outcome | None
    last_error_time: float | None
    failures: int
    pending_fail: float
    retry_at: float | None
    now: float
    expired: int
    tries: dict[int, int]
    _aged_ptr: int
    _aged_done: int
    _delay_ptr: int
    _first_expiry_noted: bool

    def _finish(self, number: int) -> None:
        self.store.status[number] = DONE
        if number < self._aged_ptr:
            self._aged_done += 1

    def _delivered(self, number: int, n: int, inv: int, t: float, sess: Outcome) -> None:
        """The destination took the message: known recipients delivered, unknown ones (first time) NDR'd."""
        if n > inv:
            self.counters.delivered += n - inv
            self.latency.add(t - self.store.arrival[number])
            self.counters.times.add_delivered(t - self.store.arrival[number], n - inv)
            if self.trace is not None:
                self._trace_delivered(number, inv, n, t, sess)
        if inv and self.store.status[number] == QUEUED:
            self._ndr_invalid(number, inv, t, sess)
        self._finish(number)

    def _trace_delivered(self, number: int, first: int, n: int, t: float, sess: Outcome) -> None:
        assert self.trace is not None
        for i in range(first, n):
            self.trace.emit(t, "DELIVER", self.index, number, i,
                            f"250 2.6.0 Queued mail for delivery [{sess.server_name}]", "Delivered")

    def _remaining(self, number: int) -> tuple[int, int]:
        """(first still-pending recipient index, recipient count) of a message."""
        n = self.rcpts[self.store.stream[number]]
        first = self.store.invalid[number] if self.store.status[number] == INVALID_GONE else 0
        return first, n

    def _expire(self, number: int, t: float) -> None:
        """The message's lifetime ran out: NDR with the last deferral's reason (SPEC 1.2)."""
        if self.store.status[number] == DONE:
            return
        first, n = self._remaining(number)
        failing = self.failures > 0 or self.pending_fail < INF or self.retry_at is not None
        last = self.last if failing else None
        seen = self.last     # the last reply on record, for an expiry with no connection-level reason
        last_reply = None if seen is None else seen.last_error if seen.code in codes.CATALOGUE else seen.detail
        reply = codes.expiry_reply(last.code if last else None, last.detail if last else None, last_reply,
                                   self.policy.name)
        status = codes.status_of(reply, "5.4.300")
        self.expired += n - first
        if not self._first_expiry_noted:
            self._first_expiry_noted = True
            self.recorder.note(t, "first_expiry", self.name,
                               f"First message on '{self.name}' expired after "
                               f"{self.expiration / 3600:g} h in the queue: {reply}", last.code if last else None)
        self._bounce(number, first, n, t, status, reply, last)
        self.tries.pop(number, None)

    def _fail(self, number: int, t: float, reply: str, outcome: Outcome | None, bounce_code: str) -> None:
        """A permanent reply: NDR at once with the destination's own reply."""
        first, n = self._remaining(number)
        status = codes.status_of(reply, "5.0.0")
        self._bounce(number, first, n, t, status, reply, outcome)
        self.tries.pop(number, None)

    def _ndr_invalid(self, number: int, inv: int, t: float, outcome: Outcome | None) -> None:
        """Recipients the destination does not know: 550 5.1.10, NDR at once."""
        c = self.counters
        c.ndr += inv
        c.ndr_by_status[NOT_FOUND] = c.ndr_by_status.get(NOT_FOUND, 0) + inv
        c.times.add_ndr(t - self.store.arrival[number], inv)
        if self.trace is not None:
            for i in range(inv):
                self.trace.emit(t, "FAIL", self.index, number, i, codes.RECIPIENT_NOT_FOUND, "Failed")
        if self.on_ndr is not None:
            self.on_ndr(NdrRecord(t, self.index, number,
                                  tuple((i, NOT_FOUND, codes.RECIPIENT_NOT_FOUND) for i in range(inv)),
                                  outcome.server_name if outcome else None, t))

    def _bounce(self, number: int, first: int, n: int, t: float, status: str, reply: str,
                outcome: Outcome | None) -> None:
        c = self.counters
        count = n - first
        self._finish(number)
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
                                  outcome.server_name if outcome else None, self.last_error_time))

    def _delay_notices(self, t: float) -> None:
        """Messages still queued `delay_notice` after arrival: a delay DSN to the sender (Action: delayed)."""
        wait = self.delay_notice
        assert wait is not None
        arrival, status = self.store.arrival, self.store.status
        p, n = self._delay_ptr, len(arrival)
        while p < n and arrival[p] + wait <= t:
            if status[p] != DONE:
                at = arrival[p] + wait
                first, count = self._remaining(p)
                self.counters.delay_dsns += 1
                last = self.last
                reason = last.last_error if last and last.last_error else "Delivery has been delayed"
                if self.trace is not None:
                    self.trace.emit(at, "DSN", self.index, p, first, f"Delay notification sent to the sender: "
                                    f"{reason}", "Pending")
                if self.on_ndr is not None:
                    status_code = codes.enhanced_of(last.code) if last and last.code else "4.4.7"
                    self.on_ndr(NdrRecord(at, self.index, p,
                                          tuple((i, status_code or "4.4.7", reason) for i in range(first, count)),
                                          last.server_name if last else None, self.last_error_time, delayed=True,
                                          retry_until=arrival[p] + self.expiration))
            p += 1
        self._delay_ptr = p

    def _deliver_locally(self, number: int, t: float, at_arrival: bool) -> None:
        first, n = self._remaining(number)
        inv = self.store.invalid[number]
        c = self.counters
        bad = max(inv - first, 0)
        good = n - max(inv, first)
        if bad:
            if at_arrival:
                c.rejected += bad
                reply = codes.RECIPIENT_REJECTED
                if self.trace is not None:
                    for i in range(first, inv):
                        self.trace.emit(t, "FAIL", self.index, number, i, reply, "Failed")
                if self.on_ndr is not None:
                    self.on_ndr(NdrRecord(t, self.index, number,
                                          tuple((i, NOT_FOUND, reply) for i in range(first, inv)), None, t))
            else:
                c.ndr += bad
                c.ndr_by_status[NOT_FOUND] = c.ndr_by_status.get(NOT_FOUND, 0) + bad
                c.times.add_ndr(t - self.store.arrival[number], bad)
                if self.trace is not None:
                    for i in range(first, inv):
                        self.trace.emit(t, "FAIL", self.index, number, i, codes.RECIPIENT_NOT_FOUND, "Failed")
                if self.on_ndr is not None:
                    self.on_ndr(NdrRecord(t, self.index, number,
                                          tuple((i, NOT_FOUND, codes.RECIPIENT_NOT_FOUND) for i in range(first, inv)),
                                          None, t))
        if good > 0:
            c.delivered += good
            self.latency.add(t - self.store.arrival[number])
            c.times.add_delivered(t - self.store.arrival[number], good)
            if self.trace is not None:
                for i in range(max(inv, first), n):
                    self.trace.emit(t, "DELIVER", self.index, number, i,
                                    "Delivered to the mailbox in the cloud (domain is Authoritative)", "Delivered")
        self._finish(number)
        self.tries.pop(number, None)
