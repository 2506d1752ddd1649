"""`--events`: message-trace events as JSON Lines (SPEC 2.4), streamed to disk in time order.

The queues emit an event as soon as they know it, which can be ahead of the clock (a delivery that will
complete in 200 ms); events wait in a small heap until the engine's clock passes them, then are written.
"""
from __future__ import annotations

import heapq
import json
from datetime import datetime
from pathlib import Path

from ..messages import MessageStore, message_id, recipient
from ..queue import ConnectorQueue
from ..scenario.schema import Scenario
from ..units import iso_at
from .atomic import AtomicFile

__all__ = ["EventWriter"]


class EventWriter:
    """A TraceSink that writes JSON Lines to a temporary file and renames it into place on `close()`."""

    def __init__(self, path: str | Path, scenario: Scenario) -> None:
        self._file = AtomicFile(path)
        self._heap: list[tuple[float, int, str, int, int, int, str, str]] = []
        self._seq = 0
        self._start: datetime = scenario.start
        self._names = [c.name for c in scenario.connectors]
        self._tenant = scenario.tenant.domain
        self._stores: list[MessageStore] = []
        self._domains: list[list[str]] = []
        self.count = 0

    def bind(self, queues: list[ConnectorQueue]) -> None:
        """Gives access to the queues' message stores, for recipient domains and unknown recipients."""
        self._stores = [q.store for q in queues]
        self._domains = [[t.to for t in q.streams] for q in queues]

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str, status: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, event, connector, number, rcpt, detail, status))

    def flush(self, watermark: float) -> None:
        heap = self._heap
        write = self._file.file.write
        dumps = json.dumps
        while heap and heap[0][0] <= watermark:
            t, _, event, ci, number, rcpt, detail, status = heapq.heappop(heap)
            store = self._stores[ci]
            invalid = rcpt < store.invalid[number]
            domain = self._domains[ci][store.stream[number]]
            write(dumps({"t": round(t, 6), "at": iso_at(self._start, t), "event": event,
                         "message_id": message_id(ci, number, self._tenant),
                         "recipient": recipient(ci, number, rcpt, invalid, domain),
                         "connector": self._names[ci], "detail": detail, "status": status},
                        ensure_ascii=False) + "\n")
            self.count += 1

    def close(self) -> None:
        """Writes what is left and puts the file in place."""
        self.flush(float("inf"))
        self._file.commit()

    def discard(self) -> None:
        self._file.discard()
