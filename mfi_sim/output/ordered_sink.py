"""The base of trace sinks that stream message-trace events to a file in time order (`--events`, `--trace`).

The queues emit an event as soon as they know it, which can be ahead of the clock (a delivery that will
complete in 200 ms); events wait in a small heap until the engine's clock passes them (`flush(watermark)`),
then go to the subclass's `write`, a batch at a time, in time order (ties in the order they were emitted).
The file appears whole on `close()` or not at all (`discard()`).
"""
from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..messages import MessageStore
from ..scenario.schema import Scenario, Traffic
from .atomic import AtomicFile, OutputSet

__all__ = ["OrderedSink", "PendingEvent", "connector_streams"]

#: (t, emission number, event, connector index, message number, recipient index, detail, status,
#: destination (server host name, server IP) or None)
PendingEvent = tuple[float, int, str, int, int, int, str, str, "tuple[str, str] | None"]


def connector_streams(scenario: Scenario) -> list[tuple[Traffic, ...]]:
    """Per connector, the [[traffic]] tables routed to it, indexed by a message's stream number there."""
    return [tuple(scenario.traffic[i] for i in scenario.traffic_positions(c)) for c in scenario.connectors]


class OrderedSink:
    """A TraceSink that holds events until the clock passes them, then hands them to `write` in time order."""

    def __init__(self, path: str | Path, scenario: Scenario, mode: str = "w", outputs: OutputSet | None = None) -> None:
        self._file = outputs.file(path, mode) if outputs is not None else AtomicFile(path, mode)
        self._staged = outputs is not None
        self._heap: list[PendingEvent] = []
        self._seq = 0
        self.start: datetime = scenario.start
        self.names = [c.name for c in scenario.connectors]
        self.tenant = scenario.tenant.domain
        self.stores: Sequence[MessageStore] = ()
        self.streams = connector_streams(scenario)
        self.domains = [[t.to for t in streams] for streams in self.streams]
        self.count = 0

    def attach(self, stores: Sequence[MessageStore]) -> None:
        """The connectors' message stores (arrival, stream, unknown recipients), given by the engine."""
        self.stores = stores

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str, status: str,
             dest: tuple[str, str] | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, event, connector, number, rcpt, detail, status, dest))

    def flush(self, watermark: float) -> None:
        """Writes every held event at or before `watermark`."""
        heap = self._heap
        if not heap or heap[0][0] > watermark:
            return
        pop = heapq.heappop
        due = []
        while heap and heap[0][0] <= watermark:
            due.append(pop(heap))
        try:
            self.write(due)
        except OSError as exc:     # a full disk: say which file
            raise OSError(exc.errno, exc.strerror, str(self._file.path)) from None
        self.count += len(due)

    def write(self, events: list[PendingEvent]) -> None:
        """Writes a batch of events, already in time order, to `self.file`."""
        raise NotImplementedError

    @property
    def file(self) -> IO[Any]:
        """The open temporary file (text, UTF-8, no newline translation; or binary with mode "wb")."""
        return self._file.file

    def close(self) -> None:
        """Writes what is left and puts the file in place (or, staged in an OutputSet, leaves that to it)."""
        self.flush(float("inf"))
        if self._staged:
            self._file.close()
        else:
            self._file.commit()

    def discard(self) -> None:
        self._file.discard()
