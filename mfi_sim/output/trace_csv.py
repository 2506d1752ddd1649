"""`--trace`: message-trace events as rows of the extended message trace report (CSV), in time order.

Columns are those of the service's extended report, in its order (the order of the Exchange message tracking
log: date_time_utc ... custom_data); origin_timestamp and delivery_priority belong to the enhanced summary
report, not to this one, and are not written. `directionality` takes the report's values: 1 for mail sent into
the organisation, 2 for mail sent out of it, so 2 on every row here (an outbound connector's queue). Events:
RECEIVE, SEND (handed to the connector's destination over SMTP), DELIVER (delivered to a mailbox), DEFER, FAIL,
DSN, EXPAND. One row per event and recipient, as in the `--events` file of the same run. Two deliberate
differences from the real report:
- recipient_status holds the Get-MessageTrace status of the recipient after that event (Pending, Delivered,
  Failed), so the last row of a recipient gives its final state; the event's SMTP text is in source_context;
- server_hostname and server_ip are the destination the queue recorded with the event (the server it
  attempted or delivered to), empty when there is none; they are fields, never read back from the text.
Fields the simulation has no value for (client_ip, client_hostname, related_recipient_address, reference,
original_client_ip, original_server_ip, custom_data) are empty.
"""
from __future__ import annotations

import csv
import hashlib
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from .. import codes
from ..messages import message_id, recipient, sender
from ..scenario.schema import Scenario
from ..units import iso_at
from ..escaping import csv_cell
from .atomic import OutputSet
from .ordered_sink import OrderedSink, PendingEvent

__all__ = ["TraceCsvWriter", "COLUMNS", "OUTBOUND", "NAMESPACE", "network_message_id", "source_of"]

#: The extended report's columns, in its order.
COLUMNS = ("date_time_utc", "client_ip", "client_hostname", "server_ip", "server_hostname", "source_context",
           "connector_id", "source", "event_id", "internal_message_id", "message_id", "network_message_id",
           "recipient_address", "recipient_status", "total_bytes", "recipient_count", "related_recipient_address",
           "reference", "message_subject", "sender_address", "return_path", "message_info", "directionality",
           "tenant_id", "original_client_ip", "original_server_ip", "custom_data")
#: `directionality` of mail sent out of the organisation (the report writes 1 for inbound, 2 for outbound).
OUTBOUND = "2"
#: Events whose message_info column holds the time the message entered the service.
_ORIGIN_IN_INFO = frozenset(("SEND", "DELIVER"))

#: The namespace of the name-based (version 5, SHA-1) UUIDs this module makes: the same name, the same id.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "mfi-sim.example")


#: The transport component that logs each event (the report's `source` column).
_SOURCES = {"RECEIVE": "SMTP", "DEFER": "SMTP", "SEND": "SMTP", "DELIVER": "SMTP", "FAIL": "SMTP", "DSN": "DSN",
            "EXPAND": "ROUTING"}


#: Messages whose per-message columns are kept between batches (cleared when full).
_MESSAGE_CACHE = 65536


def network_message_id(mid: str) -> str:
    """A GUID for a message, derived from its Message-ID: `str(uuid.uuid5(namespace, mid))`, computed directly
    (RFC 9562 5.5: SHA-1 of namespace and name, version and variant bits set), as it is needed for every message."""
    h = bytearray(hashlib.sha1(NAMESPACE.bytes + mid.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class _IsoClock:
    """`iso_at(start, t)` for many instants: the text up to the second is kept per whole second."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._exact = start.microsecond == 0
        self._seconds: dict[int, str] = {}

    def __call__(self, t: float) -> str:
        if not self._exact:
            return iso_at(self.start, t)
        span = timedelta(seconds=t)              # the same rounding to microseconds as iso_at
        whole = span.days * 86400 + span.seconds
        head = self._seconds.get(whole)
        if head is None:
            if len(self._seconds) >= 100_000:
                self._seconds.clear()
            head = self._seconds[whole] = (self.start + timedelta(seconds=whole)).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{head}{span.microseconds // 1000:03d}Z"


@lru_cache(maxsize=1024)
def source_of(event: str, detail: str) -> str:
    """The component that logs an event: SMTP for the connection to the destination (SEND among others),
    STOREDRIVER for delivery to a mailbox, AGENT for a recipient the service rejects at once, DSN for
    notifications."""
    if event == "DELIVER":
        return "STOREDRIVER"
    if event == "FAIL" and detail == codes.RECIPIENT_REJECTED:
        return "AGENT"
    return _SOURCES.get(event, "SMTP")


class TraceCsvWriter(OrderedSink):
    """A TraceSink that writes extended-message-trace rows to a temporary file, renamed into place on close."""

    def __init__(self, path: str | Path, scenario: Scenario, outputs: OutputSet | None = None) -> None:
        super().__init__(path, scenario, outputs=outputs)
        self._csv = csv.writer(self.file, lineterminator="\r\n")
        self._csv.writerow(COLUMNS)
        self._tenant_id = str(uuid.uuid5(NAMESPACE, f"tenant:{self.tenant}"))
        self._iso = _IsoClock(self.start)
        self._messages: dict[tuple[int, int], tuple[int, str, str, int, int, str, str, str, str]] = {}
        self.names = [csv_cell(n) for n in self.names]     # no cell a spreadsheet runs as a formula (OWASP)

    def write(self, events: list[PendingEvent]) -> None:
        iso, names, messages = self._iso, self.names, self._messages
        stores = self.stores
        rows = []
        for t, _, event, ci, number, rcpt, detail, status, dest in events:
            m = messages.get((ci, number))
            if m is None:
                if len(messages) >= _MESSAGE_CACHE:
                    messages.clear()
                m = messages[(ci, number)] = self._message(ci, number)
            internal, mid, nmid, size, count, subject, who, origin, domain = m
            host, ip = dest if dest is not None else ("", "")
            rows.append((
                iso(t), "", "", ip, host, csv_cell(detail), names[ci], source_of(event, detail), event, internal,
                mid, nmid, recipient(ci, number, rcpt, rcpt < stores[ci].invalid[number], domain), status, size,
                count, "", "", subject, who, who, origin if event in _ORIGIN_IN_INFO else "", OUTBOUND,
                self._tenant_id, "", "", ""))
        self._csv.writerows(rows)

    def _message(self, ci: int, number: int) -> tuple[int, str, str, int, int, str, str, str, str]:
        """The columns that depend on the message only (most messages have two or more events)."""
        store = self.stores[ci]
        stream = self.streams[ci][store.stream[number]]
        mid = message_id(ci, number, self.tenant)
        return ((ci + 1) * 10_000_000_000 + number, mid, network_message_id(mid), stream.message_size,
                stream.recipients_per_message, f"Message {number} for {stream.to}", sender(number, self.tenant),
                self._iso(store.arrival[number]), stream.to)
