"""What the console's pages show, as JSON-ready dicts computed from a session (pure reads: nothing here changes
the simulation, so looking never changes what happens next)."""
from __future__ import annotations

import copy
from typing import Any

from ..attempt import open_session, send_message
from ..messages import DONE, message_id, recipient, sender
from ..output.json_result import result_dict
from ..queue import ConnectorQueue
from ..units import iso_at, parse_duration
from .session import Session, SessionError

__all__ = ["state", "queue_page", "trace_search", "transcript", "SPOILERS"]

SPOILERS = ("fault_start", "fault_end", "certificate_expired")
"""Timeline entries an admin would not see (the cause itself); hidden in exercise mode."""
PAGE_LIMIT = 200
TRACE_LIMIT = 100


def state(s: Session) -> dict[str, Any]:
    """`{"t", "at", "summary", "connectors", "alerts", "timeline"}` as of now (summary, connectors and alerts
    with the keys of `run --json`), plus what the page draws: settings, series, DNS, servers, actions."""
    e = s.engine
    sc = s.scenario
    doc = result_dict(e.view())
    now = s.now
    alerts = [{**a, "status": a.get("status") or ("Active" if a["resolved_s"] is None else "Resolved")}
              for a in doc["alerts"]]
    connectors = [{**c, **_connector_now(q)} for q, c in zip(e.queues, doc["connectors"])]
    timeline = [{"t": round(n.t, 3), "at": iso_at(sc.start, n.t), "kind": n.kind, "connector": n.connector,
                 "text": n.text} for n in e.recorder.timeline if not (s.exercise and n.kind in SPOILERS)]
    return {
        "t": now, "at": iso_at(sc.start, now), "summary": doc["summary"], "connectors": connectors,
        "alerts": alerts, "timeline": timeline, "version": s.version,
        "scenario": {"name": "" if s.exercise else sc.name, "description": "" if s.exercise else sc.description,
                     "start": iso_at(sc.start, 0.0), "duration_s": e.duration, "seed": e.seed,
                     "exercise": s.exercise, "ended": e.ended, "next_event_s": e.next_event_time(),
                     "threshold": sc.alerts.threshold, "queued_for_s": sc.alerts.queued_for},
        "series": _series(s),
        "fault_windows": [] if s.exercise else [
            {"index": sf.index, "start_s": sf.start, "end_s": min(sf.end, now), "kind": sf.fault.kind,
             "target": sf.fault.target} for sf in e.faults.faults if sf.start <= now],
        "actions": [{"t": parse_duration(t["at"]), **t} for t, ok in zip(s.tables, s.accepted) if ok],
        "refusals": [{"t": t, "do": do, "reason": why} for t, do, why in s.refusals],
        "dns": [{"name": n, "type": ty, "ttl": ttl, "value": v} for n, ty, ttl, v in e.world.resolver.zones.records()],
        "servers": _servers(s),
        "problems": _problems(s),
    }


def _connector_now(q: ConnectorQueue) -> dict[str, Any]:
    return {"status": q.status(), "queued_messages": q.queued_messages(), "enabled": q.enabled,
            "fixed": q.fixed, "smart_hosts": list(q.spec.hosts), "use_mx": q.config.use_mx,
            "recipient_domains": list(q.config.recipient_domains), "tls": q.spec.tls,
            "tls_domain": q.spec.tls_domain, "retry_count": q.retry.failures}


def _series(s: Session) -> list[list[float]]:
    """[t, queued messages, messages queued over `queued_for`] at every evaluation, summed over connectors."""
    out: dict[float, list[float]] = {}
    for snap in s.engine.recorder.snapshots:
        row = out.setdefault(snap.t, [snap.t, 0, 0])
        row[1] += snap.queued_messages
        row[2] += snap.aged_messages
    return list(out.values())


def _servers(s: Session) -> list[dict[str, Any]]:
    start, now = s.scenario.start, s.now
    out = []
    for server in s.engine.world.servers.values():
        cert = server.certificate
        out.append({"address": server.address, "hostname": server.config.hostname, "port": server.config.port,
                    "certificate": None if cert is None else {
                        "names": list(cert.names), "not_after": iso_at(start, cert.not_after)
                        if cert.not_after < 1e12 else None, "expired": cert.not_after <= now,
                        "trusted": cert.trusted}})
    return out


def _problems(s: Session) -> list[dict[str, Any]]:
    """Faults the trainee can have fixed on the destination side (clear_fault): those in force now. Exercise
    mode names only the server, not what is wrong with it."""
    now = s.now
    return [{"fault": sf.index, "target": sf.fault.target,
             "kind": None if s.exercise else sf.fault.kind} for sf in s.engine.faults.faults if sf.active(now)]


def _queue_of(s: Session, name: str | None) -> list[ConnectorQueue]:
    queues = s.engine.queues
    if not name:
        return queues
    chosen = [q for q in queues if q.name == name]
    if not chosen:
        raise SessionError(f"connector: no connector is called {name!r}")
    return chosen


def _int(value: str | None, name: str, default: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 9:
        raise SessionError(f"{name}: expected a whole number, got {value[:40]!r}")
    return min(int(value), high)


def queue_page(s: Session, connector: str | None, offset: str | None, limit: str | None) -> dict[str, Any]:
    """View queue: the waiting (or in-flight) messages, oldest first, paged."""
    first = _int(offset, "offset", 0, 10 ** 9)
    count = _int(limit, "limit", 50, PAGE_LIMIT)
    defers: dict[tuple[int, int], tuple[int, float, str]] = {}
    for t, event, ci, number, rcpt, detail, _ in s.log.rows:
        if event == "DEFER":
            n, last_t, _d = defers.get((ci, number), (0, -1.0, ""))
            defers[(ci, number)] = (n + (t != last_t), t, detail)
    rows: list[dict[str, Any]] = []
    total = 0
    sc, tenant = s.scenario, s.scenario.tenant
    for q in _queue_of(s, connector):
        store = q.store
        for number, status in enumerate(store.status):
            if status == DONE:
                continue
            total += 1
            if not first < total <= first + count:
                continue
            stream = q.streams[store.stream[number]]
            arrived = store.arrival[number]
            tries, _, last = defers.get((q.index, number), (0, 0.0, ""))
            rows.append({"connector": q.name, "message_id": message_id(q.index, number, tenant.domain),
                         "sender": sender(number, tenant.domain),
                         "recipient": recipient(q.index, number, 0, store.invalid[number] > 0, stream.to),
                         "recipients": stream.recipients_per_message, "arrived_s": arrived,
                         "arrived_at": iso_at(sc.start, arrived), "attempts": tries, "last_error": last or None,
                         "expires_at": iso_at(sc.start, arrived + tenant.message_expiration)})
    return {"total": total, "offset": first, "limit": count, "messages": rows}


def trace_search(s: Session, who: str | None, status: str | None, since: str | None,
                 until: str | None) -> dict[str, Any]:
    """Message trace: recipients whose address contains `who`, whose status now is `status`, received between
    `since` and `until` (durations); each with its events. Newest first."""
    if status not in (None, "", "Pending", "Delivered", "Failed"):
        raise SessionError("status: one of Pending, Delivered, Failed")
    try:
        low = parse_duration(since) if since else 0.0
        high = parse_duration(until) if until else float("inf")
    except ValueError as exc:
        raise SessionError(f"since/until: {exc}") from None
    needle = (who or "").strip().lower()[:200]
    queues = s.engine.queues
    sc = s.scenario
    found: dict[tuple[int, int, int], list[tuple[float, str, str, str]]] = {}
    for t, event, ci, number, rcpt, detail, st in s.log.rows:
        found.setdefault((ci, number, rcpt), []).append((t, event, detail, st))
    out = []
    for (ci, number, rcpt), events in reversed(found.items()):
        received = events[0][0]
        if not low <= received <= high or (status and events[-1][3] != status):
            continue
        q = queues[ci]
        store = q.store
        address = recipient(ci, number, rcpt, rcpt < store.invalid[number], q.streams[store.stream[number]].to)
        if needle and needle not in address:
            continue
        out.append({"recipient": address, "message_id": message_id(ci, number, sc.tenant.domain),
                    "connector": q.name, "received_at": iso_at(sc.start, received), "status": events[-1][3],
                    "events": [{"t": round(t, 3), "at": iso_at(sc.start, t), "event": ev, "detail": d,
                                "status": st} for t, ev, d, st in events[-50:]]})
        if len(out) >= TRACE_LIMIT:
            break
    return {"count": len(out), "recipients": out}


def transcript(s: Session, connector: str | None) -> dict[str, Any]:
    """The SMTP dialogue of a delivery attempt made now, swaks-style, from the engine's attempt logic run on a
    copy of the world (so the real run's DNS cache and fault draws are untouched)."""
    q = _queue_of(s, connector)[0]
    world = copy.deepcopy(s.engine.world)
    now = s.now
    lines: list[str] = [f"=== {iso_at(s.scenario.start, now)} a delivery attempt on '{q.name}' now"]
    outcome = open_session(q.spec, world, now, lines.append)
    if not outcome.ok:
        lines.append(f"=== Outcome: {outcome.last_error}")
    elif outcome.server is not None:
        stream = q.streams[0] if q.streams else None
        rcpt = recipient(q.index, 0, 0, False, stream.to if stream else "example.com")
        result = send_message(outcome.server, world.firing(outcome.server.address, now),
                              sender(0, s.scenario.tenant.domain), [rcpt], 0, lines.append)
        lines.append(f"=== Outcome: {result.reply}")
    last = q.last
    return {"connector": q.name, "lines": lines, "last_error": last.last_error if last else None}
