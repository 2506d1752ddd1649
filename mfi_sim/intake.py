"""Taking a connector's arrivals into its ledger: each new message gets its number, its stream and its count
of unknown recipients (drawn from the connector's random stream), a RECEIVE event per recipient, and a place
in the waiting line, or an ending at once when the connector no longer queues mail (`handle_at_once`).

Arrival times are drawn ahead from the merged feed in chunks of ARRIVAL_CHUNK simulated seconds.
"""
from __future__ import annotations

import random
from collections.abc import Callable

from .ledger import MessageLedger
from .messages import QUEUED
from .traffic import MergedFeed

__all__ = ["Intake", "ARRIVAL_CHUNK"]

#: Arrivals are drawn this many simulated seconds ahead, in one batch.
ARRIVAL_CHUNK = 60.0


class Intake:
    """The arrivals of one connector, taken into its ledger up to a time."""

    __slots__ = ("feed", "ledger", "rng", "fractions", "next_arrival", "_at", "_as", "_ai", "handle_at_once")

    def __init__(self, feed: MergedFeed, ledger: MessageLedger, fractions: list[float],
                 rng: random.Random) -> None:
        self.feed = feed
        self.ledger = ledger
        self.rng = rng
        self.fractions = fractions
        self.next_arrival = feed.next_time
        self._at: list[float] = []             # arrivals drawn ahead, not yet taken in
        self._as: list[int] = []
        self._ai = 0
        #: When set, a new message is handed to it instead of waiting in the queue (number, arrival time).
        self.handle_at_once: Callable[[int, float], None] | None = None

    def pull(self, t: float) -> int:
        """Takes in every arrival up to `t`; returns the number of recipients received (those handled at once
        are counted here already)."""
        ledger = self.ledger
        store = ledger.store
        add_arrival, add_stream = store.arrival.append, store.stream.append
        add_invalid, add_status = store.invalid.append, store.status.append
        rcpts, fractions = ledger.rcpts, self.fractions
        q_append = ledger.waiting.append
        trace = ledger.trace
        at_once = self.handle_at_once
        number = len(store.arrival)
        received = 0
        while self.next_arrival <= t:
            if self._ai >= len(self._at):
                self._at, self._as = self.feed.take(max(t, self.next_arrival) + ARRIVAL_CHUNK)
                self._ai = 0
                if not self._at:
                    self.next_arrival = self.feed.next_time
                    continue
            at, streams = self._at, self._as
            i, end = self._ai, len(at)
            while i < end and at[i] <= t:
                when = at[i]
                st = streams[i]
                i += 1
                n = rcpts[st]
                inv = self._unknown(n, fractions[st]) if fractions[st] > 0.0 else 0
                add_arrival(when)
                add_stream(st)
                add_invalid(inv)
                add_status(QUEUED)
                received += n
                if trace is not None:
                    for k in range(n):
                        trace.emit(when, "RECEIVE", ledger.index, number, k, "Message received by the service",
                                   "Pending")
                if at_once is not None:
                    ledger.counters.received += received
                    received = 0
                    at_once(number, when)
                else:
                    q_append(number)
                number += 1
            self._ai = i
            self.next_arrival = at[i] if i < end else self.feed.next_time
        return received

    def _unknown(self, n: int, fraction: float) -> int:
        """How many of a message's `n` recipients the destination does not know (each with `fraction`)."""
        rnd = self.rng.random
        return sum(1 for _ in range(n) if rnd() < fraction)
