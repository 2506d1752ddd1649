"""`--events`: message-trace events as JSON Lines (SPEC 2.4), streamed to disk in time order."""
from __future__ import annotations

import json

from ..messages import message_id, recipient
from ..units import iso_at
from .ordered_sink import OrderedSink, PendingEvent

__all__ = ["EventWriter"]


class EventWriter(OrderedSink):
    """A TraceSink writing one JSON object per event and recipient; the file appears whole on `close()`."""

    def write(self, events: list[PendingEvent]) -> None:
        write = self.file.write
        dumps = json.dumps
        start, tenant, names = self.start, self.tenant, self.names
        for t, _, event, ci, number, rcpt, detail, status, _dest in events:
            store = self.stores[ci]
            invalid = rcpt < store.invalid[number]
            domain = self.domains[ci][store.stream[number]]
            write(dumps({"t": round(t, 6), "at": iso_at(start, t), "event": event,
                         "message_id": message_id(ci, number, tenant),
                         "recipient": recipient(ci, number, rcpt, invalid, domain),
                         "connector": names[ci], "detail": detail, "status": status},
                        ensure_ascii=False) + "\n")
