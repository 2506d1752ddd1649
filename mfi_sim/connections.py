"""A connector's connection pool: a fixed number of slots, each holding at most one open SMTP session.

A slot's session carries up to `messages_per_connection` messages back to back, and closes when it has been
idle longer than KEEPALIVE (the next message became ready too late) or when the queue enters Retry. The slots
form a heap by the time each becomes free, so the next free connection is at the top.
"""
from __future__ import annotations

from heapq import heapreplace

from .attempt import Outcome

__all__ = ["ConnectionPool", "KEEPALIVE"]

#: Seconds an idle connection stays open for the next message (Postfix's connection cache keeps 2 s).
KEEPALIVE = 2.0


class ConnectionPool:
    """Slots with the time each is free, its open session and the messages that session may still carry."""

    __slots__ = ("free", "session", "left", "per_connection")

    def __init__(self, slots: int, per_connection: int) -> None:
        self.free: list[tuple[float, int]] = [(0.0, i) for i in range(slots)]   # heap of (free at, slot)
        self.session: list[Outcome | None] = [None] * slots
        self.left = [0] * slots
        self.per_connection = per_connection

    def busy(self, t: float) -> int:
        """Connections still carrying a message at `t`."""
        return sum(1 for f, _ in self.free if f > t)

    def reusable(self, slot: int, ready: float, free_at: float) -> Outcome | None:
        """The slot's open session if it may carry a message ready at `ready` (else a new one is needed)."""
        sess = self.session[slot]
        if sess is None or self.left[slot] <= 0 or ready > free_at + KEEPALIVE:
            return None
        return sess

    def opened(self, slot: int, sess: Outcome) -> None:
        self.session[slot] = sess
        self.left[slot] = self.per_connection

    def carried(self, slot: int, done_at: float) -> None:
        """The slot's session carried one message, until `done_at`."""
        heapreplace(self.free, (done_at, slot))
        self.left[slot] -= 1

    def lost(self, slot: int, end: float) -> None:
        """The slot's connection failed or dropped; the slot is free again at `end`."""
        heapreplace(self.free, (end, slot))
        self.session[slot] = None

    def close_all(self) -> None:
        """Every open session closes (Retry, a connector turned off, new smart hosts)."""
        session = self.session
        for i in range(len(session)):
            session[i] = None
