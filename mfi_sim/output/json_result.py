"""`--json`: the run's result with the keys of SPEC 2.3, as a pure function of the Result."""
from __future__ import annotations

import json
from typing import Any

from ..result import Result
from ..units import iso_at

__all__ = ["result_dict", "result_json"]


def _r(x: float) -> float:
    return round(x, 3)


def result_dict(result: Result) -> dict[str, Any]:
    """The JSON document of a run: summary, per-connector figures, alerts, NDR counts."""
    sc = result.scenario
    summaries = result.connectors
    total = {k: sum(getattr(c, k) for c in summaries) for k in
             ("received", "delivered", "ndr", "rejected", "attempts")}
    by_status: dict[str, int] = {}
    for c in summaries:
        for status, n in c.ndr_by_status.items():
            by_status[status] = by_status.get(status, 0) + n
    lat = result.latency
    connectors = [{
        "name": c.name, "status_at_end": c.status, "received": c.received, "delivered": c.delivered,
        "ndr": c.ndr, "rejected": c.rejected, "queued_at_end": c.queued, "max_queue_depth": c.max_queue_depth,
        "last_error": c.last_error, "last_error_code": c.last_error_code,
        "codes_seen": dict(sorted(c.codes_seen.items())), "attempts": c.attempts,
        "delay_notifications": c.delay_notifications, "expired": c.expired,
    } for c in summaries]
    start = sc.start
    alerts = [{
        "id": a.id, "kind": a.kind, "policy": a.policy, "connector": a.connector, "code": a.code, "title": a.title,
        "severity": a.severity, "category": a.category, "raised_s": _r(a.raised_s), "raised_at": iso_at(start, a.raised_s),
        "resolved_s": _r(a.resolved_s) if a.resolved_s is not None else None,
        "resolved_at": iso_at(start, a.resolved_s) if a.resolved_s is not None else None,
        "status": a.status, "resolved_by": a.resolved_by,
        "condition_cleared_s": _r(a.condition_cleared_s) if a.condition_cleared_s is not None else None,
        "condition_cleared_at": iso_at(start, a.condition_cleared_s) if a.condition_cleared_s is not None else None,
        "connectors": list(a.connectors),
        "queued_messages": a.queued_messages, "aged_messages": a.aged_messages, "last_error": a.last_error,
        "destination": a.destination, "last_ip": a.last_ip,
        "queue_started_at": iso_at(start, a.queue_started_s) if a.queue_started_s is not None else None,
        "oldest_expires_at": iso_at(start, a.oldest_expires_s) if a.oldest_expires_s is not None else None,
        "causes": list(a.causes), "fixes": list(a.fixes), "fix_now": a.fix_now, "updates": a.updates,
    } for a in result.alerts]
    return {
        "scenario": sc.name, "seed": result.seed, "start": iso_at(sc.start, 0.0), "duration_s": _r(result.duration),
        "version": result.version,
        "summary": {
            **{k: total[k] for k in ("received", "delivered", "ndr", "rejected")},
            "queued_at_end": sum(c.queued for c in summaries), "attempts": total["attempts"],
            "max_queue_depth": max((c.max_queue_depth for c in summaries), default=0),
            "latency_s": {"p50": _r(lat.percentile(0.50)), "p95": _r(lat.percentile(0.95)),
                          "p99": _r(lat.percentile(0.99)), "max": _r(lat.max)},
        },
        "connectors": connectors,
        "alerts": alerts,
        "ndrs": {"count": total["ndr"], "by_status": dict(sorted(by_status.items()))},
        "notifications": [{"t": _r(n.t), "alert": n.alert, "to": n.to, "subject": n.subject, "at": iso_at(start, n.t)}
                          for n in result.notifications],
        "actions": [{
            "at_s": _r(a.at_s), "at": iso_at(start, a.at_s), "do": a.do, "connector": a.connector,
            "target": a.target, "status": a.status, "reason": a.reason,
            "effective_s": _r(a.effective_s) if a.effective_s is not None else None,
            "effective_at": iso_at(start, a.effective_s) if a.effective_s is not None else None,
        } for a in result.actions],
    }


def result_json(result: Result) -> str:
    """The JSON text, stable byte for byte for the same run."""
    return json.dumps(result_dict(result), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
