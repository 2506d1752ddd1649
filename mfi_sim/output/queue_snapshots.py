"""`--queue-snapshots`: the connector queues as Get-Queue shows them, every evaluation period, as JSON Lines.

One object per connector per snapshot (the engine takes one every `[alerts] evaluate_every`, and one at the
end), in time order, with "t" (simulated seconds) and "at" (ISO-8601) first, then Get-Queue's own field names:
Identity, DeliveryType, NextHopDomain, Status, MessageCount, LastError, RetryCount, FirstRetryTime,
LastRetryTime, NextRetryTime, IncomingRate, OutgoingRate, Velocity.

The rates are taken over the period since the connector's previous snapshot (Exchange averages over the last
minute), in recipients per second, as every count of this simulator (a message to three recipients counts
three): IncomingRate from recipients received, OutgoingRate from recipients that left the queue (delivered,
NDR'd or rejected). Velocity is the queue's drain rate, OutgoingRate - IncomingRate, as Exchange defines it:
negative while the queue grows.
"""
from __future__ import annotations

import json
from typing import Any

from ..result import Result
from ..records import QueueSnapshot
from ..scenario.schema import Scenario
from ..units import iso_at

__all__ = ["queue_snapshots_jsonl", "queue_snapshot_rows", "IDENTITY_SERVER", "SMART_HOST", "DNS"]

#: The server part of a queue's Identity (`Server\Queue`).
IDENTITY_SERVER = "EXO"
SMART_HOST, DNS = "SmartHostConnectorDelivery", "DnsConnectorDelivery"
_DIGITS = 6


class _Routing:
    """A connector's next hop over time: its configuration, then each `set_smart_hosts` action in turn."""

    def __init__(self, scenario: Scenario, connector: str) -> None:
        conn = next(c for c in scenario.connectors if c.name == connector)
        first = (DNS, ",".join(conn.recipient_domains)) if conn.use_mx else (SMART_HOST, ",".join(conn.smart_hosts))
        self.changes: list[tuple[float, tuple[str, str]]] = [(float("-inf"), first)]
        for a in sorted((a for a in scenario.actions if a.do == "set_smart_hosts" and a.connector == connector),
                        key=lambda a: a.at):
            self.changes.append((a.at, (SMART_HOST, ",".join(a.smart_hosts))))

    def at(self, t: float) -> tuple[str, str]:
        """(DeliveryType, NextHopDomain) at `t` (an action at `t` comes before the snapshot at `t`)."""
        current = self.changes[0][1]
        for when, route in self.changes:
            if when > t:
                break
            current = route
        return current


def queue_snapshot_rows(result: Result) -> list[dict[str, Any]]:
    """The Get-Queue objects of a run, per snapshot and connector, in time order."""
    sc = result.scenario
    start = sc.start
    routes: dict[str, _Routing] = {}
    previous: dict[str, QueueSnapshot] = {}
    rows = []

    def when(t: float | None) -> str | None:
        return iso_at(start, t) if t is not None else None

    for s in result.snapshots:
        route = routes.get(s.connector)
        if route is None:
            route = routes[s.connector] = _Routing(sc, s.connector)
        delivery, next_hop = route.at(s.t)
        before = previous.get(s.connector)
        previous[s.connector] = s
        incoming = outgoing = 0.0
        if before is not None and s.t > before.t:
            span = s.t - before.t
            incoming = round((s.received - before.received) / span, _DIGITS)
            left = (s.delivered + s.ndr + s.rejected) - (before.delivered + before.ndr + before.rejected)
            outgoing = round(left / span, _DIGITS)
        rows.append({
            "t": round(s.t, 6), "at": iso_at(start, s.t),
            "Identity": f"{IDENTITY_SERVER}\\{s.connector}", "DeliveryType": delivery, "NextHopDomain": next_hop,
            "Status": s.status, "MessageCount": s.queued_messages, "LastError": s.last_error,
            "RetryCount": s.retry_count, "FirstRetryTime": when(s.first_retry), "LastRetryTime": when(s.last_retry),
            "NextRetryTime": when(s.next_retry), "IncomingRate": incoming, "OutgoingRate": outgoing,
            "Velocity": round(outgoing - incoming, _DIGITS)})
    return rows


def queue_snapshots_jsonl(result: Result) -> str:
    """The Get-Queue objects of a run as JSON Lines (one object per connector per snapshot)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in queue_snapshot_rows(result))
