"""Results that concern one message, after the connection opened: a 4xx at MAIL/RCPT/DATA defers that
message on its own retry schedule, a 5xx bounces it, a connection dropped during DATA is a connection-level
failure (the queue goes into Retry). The slow path of the queue's loop, taken only while a message-stage fault
or reply can fire.
"""
from __future__ import annotations

from collections.abc import Callable

from . import codes
from .attempt import DELIVERED, DROPPED, FAILED, MessageResult, Outcome, message_stage_faults, send_message
from .connections import ConnectionPool
from .ledger import MessageLedger
from .messages import INVALID_GONE, QUEUED
from .retry_state import RetryState
from .transcripts import TranscriptRecorder
from .world.state import WorldState

__all__ = ["MessageReplies"]


class MessageReplies:
    """Plays one message on an open session when a message-stage fault or reply can fire."""

    def __init__(self, world: WorldState, ledger: MessageLedger, retry: RetryState, pool: ConnectionPool,
                 recovered: Callable[[float], None], transcript: TranscriptRecorder | None) -> None:
        self.world = world
        self.ledger = ledger
        self.retry = retry
        self.pool = pool
        self.recovered = recovered
        self.transcript = transcript

    def possible(self, now: float) -> bool:
        """Whether a message-stage fault or reply can still fire on any server (else the loop's fast path)."""
        pending = [sf.fault for sf in self.world.faults.faults if sf.end > now]
        return any(message_stage_faults(server, [f for f in pending if f.target == server.address])
                   for server in self.world.servers.values())

    def attempt(self, number: int, sess: Outcome, slot: int, s: float, done_at: float, n: int, inv: int,
                now: float) -> bool:
        """Sends the message; True if the slot was already handled (the connection dropped)."""
        server = sess.server
        assert server is not None
        firing = self.world.firing(server.address, s)
        result = send_message(server, firing, "", [f"r{i}" for i in range(n)], inv)
        ledger = self.ledger
        if self.transcript is not None and result.kind != DELIVERED:
            self.transcript.message_failed(s, ledger.counters.attempts, number, sess, firing, now)
        if result.kind != DROPPED and self.retry.failures:
            self.recovered(s)
        if result.kind == DELIVERED:
            ledger.delivered(number, n, inv, done_at, sess)
            return False
        ledger.counters.count_failure(result.code or "other", now)
        if result.kind == DROPPED:
            self._dropped(number, sess, slot, done_at, result)
            return True
        # The destination's own reply to this message: the queue's last error, as Get-Queue shows it.
        self.retry.error(Outcome(False, result.code or "other", result.reply, sess.server_name, sess.ip, sess.port,
                                 0.0), done_at)
        if inv and result.rejected_invalid and ledger.store.status[number] == QUEUED:
            ledger.ndr_invalid(number, inv, done_at, sess)
            ledger.store.status[number] = INVALID_GONE
        if result.kind == FAILED:
            ledger.fail(number, done_at, result.reply, sess)
        else:
            ledger.defer(number, done_at, self.retry.policy)
            first = inv if ledger.store.status[number] == INVALID_GONE else 0
            ledger.trace_deferred(number, first, done_at, f"{result.reply} [{sess.server_name}]", sess.destination)
        return False

    def _dropped(self, number: int, sess: Outcome, slot: int, done_at: float, result: MessageResult) -> None:
        """The connection died mid-transfer: connection-level, so the queue goes into Retry (450 4.4.318)."""
        outcome = Outcome(False, codes.CLOSED_ABRUPTLY, result.reply, sess.server_name, sess.ip, sess.port, 0.0)
        self.ledger.back_at(number, done_at)    # in flight until the drop: never sent twice at once
        self.pool.lost(slot, done_at)
        self.retry.connection_failed(outcome, done_at)
