"""swaks-style transcripts of one delivery attempt (`mfi-sim run --transcript N|first-failure`).

The queue asks at each attempt whether it is the one to record; recording replays the attempt's stages with
a `say` callback, so it changes nothing in the run.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from .attempt import Outcome, send_message
from .messages import MessageStore, recipient, sender
from .scenario.schema import Fault, Traffic
from .world.state import WorldState

__all__ = ["TranscriptRecorder", "FIRST_FAILURE"]

#: `capture` value meaning: record the first attempt that fails.
FIRST_FAILURE = 0


def clock(t: float) -> str:
    return f"t={t:.3f}s"


class TranscriptRecorder:
    """Records the transcript of attempt number `capture` (1-based), or of the first failing one (0)."""

    __slots__ = ("capture", "lines", "index", "tenant", "world", "streams", "store", "rcpts")

    def __init__(self, capture: int, index: int, tenant: str, world: WorldState, streams: tuple[Traffic, ...],
                 store: MessageStore, rcpts: list[int]) -> None:
        self.capture = capture
        self.lines: list[str] | None = None      # the transcript, once recorded
        self.index = index
        self.tenant = tenant
        self.world = world
        self.streams = streams
        self.store = store
        self.rcpts = rcpts

    def opening(self, s: float, attempt: int, number: int) -> tuple[list[str], Callable[[str], None] | None] | None:
        """Lines for a new connection's attempt, and the callback that records its stages (None: not this one)."""
        if self.lines is not None:
            return None
        lines = [f"=== {clock(s)} attempt {attempt} for message {number}"]
        say = lines.append if self.capture in (FIRST_FAILURE, attempt) else None
        return lines, say

    def opened(self, lines: list[str], say: Callable[[str], None] | None, number: int, sess: Outcome,
               now: float) -> None:
        """The connection opened; an attempt recorded by number goes on with the message's stages."""
        if say is not None and self.capture != FIRST_FAILURE:
            self.message(lines, number, sess, now)

    def failed_to_open(self, lines: list[str], say: Callable[[str], None] | None, sess: Outcome) -> None:
        if say is not None:
            lines.append(f"=== Outcome: {sess.last_error}")
            self.lines = lines

    def reused(self, s: float, attempt: int, number: int, sess: Outcome, now: float) -> None:
        """An attempt on an open connection: recorded if it is the one asked for by number."""
        if self.capture == attempt and self.lines is None:
            self.message([f"=== {clock(s)} attempt {attempt} for message {number}",
                          f"=== Reusing the open connection to {sess.server_name} [{sess.ip}]"], number, sess, now)

    def message_failed(self, s: float, attempt: int, number: int, sess: Outcome, firing: Sequence[Fault],
                       now: float) -> None:
        """A message failed on an open connection: recorded if the first failure is asked for."""
        if self.capture == FIRST_FAILURE and self.lines is None:
            self.message([f"=== {clock(s)} attempt {attempt} for message {number}",
                          f"=== On the open connection to {sess.server_name} [{sess.ip}]"], number, sess, now, firing)

    def message(self, lines: list[str], number: int, sess: Outcome, now: float,
                firing: Sequence[Fault] | None = None) -> None:
        """Completes a transcript with the message stages (replayed: it changes nothing)."""
        server = sess.server
        assert server is not None
        stream = self.store.stream[number]
        n = self.rcpts[stream]
        domain = self.streams[stream].to
        inv = self.store.invalid[number]
        rcpts = [recipient(self.index, number, i, i < inv, domain) for i in range(n)]
        if firing is None:
            firing = self.world.faults.active(server.address, now)
        result = send_message(server, firing, sender(number, self.tenant), rcpts, inv, lines.append)
        lines.append(f"=== Outcome: {result.reply}")
        self.lines = lines
