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

    __slots__ = ("feed", "ledger", "rng", "fractions", "next_arrival", "times", "streams", "pos", "handle_at_once")

    def __init__(self, feed: MergedFeed, ledger: MessageLedger, fractions: list[float],
                 rng: random.Random) -> None:
        self.feed = feed
        self.ledger = ledger
        self.rng = rng
        self.fractions = fractions
        self.next_arrival = feed.next_time
        self.times: list[float] = []             # arrivals drawn ahead, not yet taken in
        self.streams: list[int] = []
        self.pos = 0
        #: When set, each new message is offered to it first (number, arrival time); it returns True when it
        #: ended the message at once, False to let it wait in the queue.
        self.handle_at_once: Callable[[int, float], bool] | None = None

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
            if self.pos >= len(self.times):
                self.times, self.streams = self.feed.take(max(t, self.next_arrival) + ARRIVAL_CHUNK)
                self.pos = 0
                if not self.times:
                    self.next_arrival = self.feed.next_time
                    continue
            at, streams = self.times, self.streams
            i, end = self.pos, len(at)
            while i < end and at[i] <= t:
                when = at[i]
                st = streams[i]
                i += 1
                n = rcpts[st]
                inv = self.unknown(n, fractions[st]) if fractions[st] > 0.0 else 0
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
                    if not at_once(number, when):
                        q_append(number)
                else:
                    q_append(number)
                number += 1
            self.pos = i
            self.next_arrival = at[i] if i < end else self.feed.next_time
        return received

    def unknown(self, n: int, fraction: float) -> int:
        """How many of a message's `n` recipients the destination does not know (each with `fraction`)."""
        rnd = self.rng.random
        return sum(1 for _ in range(n) if rnd() < fraction)
