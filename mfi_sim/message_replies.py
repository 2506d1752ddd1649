"""Results that concern one message, after the connection opened: a 4xx at MAIL/RCPT/DATA defers that
message on its own retry schedule, a 5xx bounces it, a connection dropped during DATA puts the queue into
Retry; plus the swaks-style transcripts of attempts. A mixin of ConnectorQueue: the slow path its loop takes
only while a message-stage fault or reply can fire.
"""
from __future__ import annotations

from collections.abc import Sequence
from heapq import heappush, heapreplace

from . import codes
from .attempt import DELIVERED, DROPPED, FAILED, Outcome, message_stage_faults, send_message
from .endings import Endings
from .messages import INVALID_GONE, QUEUED, recipient, sender
from .retry import RetryPolicy
from .scenario.schema import Fault, Traffic
from .world.state import WorldState

__all__ = ["MessageReplies"]


class MessageReplies(Endings):
    """Per-message results and transcripts for ConnectorQueue (which sets every attribute below)."""

    world: WorldState
    streams: tuple[Traffic, ...]
    tenant: str
    policy: RetryPolicy
    free: list[tuple[float, int]]
    session: list[Outcome | None]
    deferred: list[tuple[float, int]]
    pending_outcome: Outcome | None
    capture: int | None
    transcript: list[str] | None

    # provided by ConnectorQueue
    def _recovered(self, t: float) -> None: ...
    def _requeue(self, number: int) -> None: ...

    def _message_faults_possible(self) -> bool:
        """Whether a message-stage fault or reply can still fire on any server (else the loop's fast path)."""
        pending = [sf.fault for sf in self.world.faults.faults if sf.end > self.now]
        return any(message_stage_faults(server, [f for f in pending if f.target == server.address])
                   for server in self.world.servers.values())

    def _message_attempt(self, number: int, sess: Outcome, slot: int, s: float, done_at: float, n: int,
                         inv: int) -> bool:
        """The slow path, when a fault or reply can hit MAIL/RCPT/DATA; True if the slot was already handled."""
        server = sess.server
        assert server is not None
        firing = self.world.firing(server.address, s)
        recipients = [f"r{i}" for i in range(n)]
        result = send_message(server, firing, "", recipients, inv)
        if self.capture == 0 and self.transcript is None and result.kind != DELIVERED:
            self._capture_message([f"=== {self._clock(s)} attempt {self.counters.attempts} for message {number}",
                                   f"=== On the open connection to {sess.server_name} [{sess.ip}]"],
                                  number, sess, firing)
        c = self.counters
        if result.kind != DROPPED and self.failures:
            self._recovered(s)
        if result.kind == DELIVERED:
            self._delivered(number, n, inv, done_at, sess)
            return False
        code = result.code or "other"
        c.count_failure(code, self.now)
        if result.kind != DROPPED:
            # The destination's own reply to this message: the queue's last error, as Get-Queue shows it.
            self.last = Outcome(False, code, result.reply, sess.server_name, sess.ip, sess.port, 0.0)
            self.last_error_time = done_at
        if result.kind == DROPPED:
            # The connection died mid-transfer: connection-level, so the queue goes into Retry (450 4.4.318).
            outcome = Outcome(False, codes.CLOSED_ABRUPTLY, result.reply, sess.server_name, sess.ip, sess.port, 0.0)
            self._requeue(number)
            self.last = outcome
            self.last_error_time = done_at
            heapreplace(self.free, (done_at, slot))
            self.session[slot] = None
            if self.trace is not None:
                for i in range(n):
                    self.trace.emit(done_at, "DEFER", self.index, number, i, outcome.last_error or "", "Pending")
            if done_at < self.pending_fail:
                self.pending_fail = done_at
                self.pending_outcome = outcome
            return True
        if inv and result.rejected_invalid and self.store.status[number] == QUEUED:
            self._ndr_invalid(number, inv, done_at, sess)
            self.store.status[number] = INVALID_GONE
        if result.kind == FAILED:
            self._fail(number, done_at, result.reply, sess, bounce_code=code)
        else:
            tries = self.tries.get(number, 0) + 1
            self.tries[number] = tries
            age = done_at - self.store.arrival[number]
            due = done_at + self.policy.next_delay(tries, age)
            deadline = self.store.arrival[number] + self.expiration
            heappush(self.deferred, (min(due, deadline), number))
            if self.trace is not None:
                for i in range(inv if self.store.status[number] == INVALID_GONE else 0, n):
                    self.trace.emit(done_at, "DEFER", self.index, number, i,
                                    f"{result.reply} [{sess.server_name}]", "Pending")
        return False

    def _clock(self, t: float) -> str:
        return f"t={t:.3f}s"

    def _capture_message(self, lines: list[str], number: int, sess: Outcome,
                         firing: Sequence[Fault] | None = None) -> None:
        """Completes a transcript with the message stages (a pure function: it changes nothing)."""
        server = sess.server
        assert server is not None
        n = self.rcpts[self.store.stream[number]]
        domain = self.streams[self.store.stream[number]].to
        inv = self.store.invalid[number]
        rcpts = [recipient(self.index, number, i, i < inv, domain) for i in range(n)]
        if firing is None:
            firing = self.world.faults.active(server.address, self.now)
        result = send_message(server, firing, sender(number, self.tenant), rcpts, inv, lines.append)
        lines.append(f"=== Outcome: {result.reply}")
        self.transcript = lines
