"""The figures a capacity planner reads from one run: outcomes, time in system, times measured from what
happened, utilisation. A pure function of a Result; sweeps summarise them over replications.

Honesty rules (issue 11): every recipient counts in time in system (NDR'd ones at their NDR, ones still
queued at the end censored, Kaplan–Meier); times are measured from the event they follow (the first failed
attempt, the first success after a failure) and are None when that event never happened, never measured
from the run start; every figure says at what resolution it was measured.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .records import LatencyHistogram
from .survival import km_quantiles

if TYPE_CHECKING:
    from .result import Result
    from .summary import ConnectorSummary

__all__ = ["Figure", "FIGURES", "COUNTS", "figures_of", "connector_counts", "resolution_of"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its CSV key, its heading, its unit (`recipients`, `messages`, `s`, `share`) and how finely
    it is measured: `exact`, `evaluation` (at the alert evaluation cadence) or `bucket` (to within 1%)."""

    key: str
    title: str
    unit: str
    resolution: str = "exact"


#: Every figure, in CSV and table order. The keys are a contract (issue 11): scripts rely on them.
FIGURES = (
    Figure("received", "received", "recipients"),
    Figure("delivered", "delivered", "recipients"),
    Figure("ndr", "NDR'd", "recipients"),
    Figure("expired", "of which expired", "recipients"),
    Figure("rejected", "rejected", "recipients"),
    Figure("queued_at_end", "still queued at the end", "recipients"),
    Figure("peak_queue", "peak queue", "messages"),
    Figure("p50_time_in_system_s", "median time in system", "s", "bucket"),
    Figure("p95_time_in_system_s", "p95 time in system", "s", "bucket"),
    Figure("p95_delivered_latency_s", "p95 latency of delivered mail", "s", "bucket"),
    Figure("delivered_within_1h", "delivered within 1h", "share"),
    Figure("delivered_within_4h", "delivered within 4h", "share"),
    Figure("delivered_within_24h", "delivered within 24h", "share"),
    Figure("first_insight_after_failure_s", "first insight after first failure", "s", "evaluation"),
    Figure("first_policy_after_failure_s", "first policy alert after first failure", "s", "evaluation"),
    Figure("drain_after_recovery_s", "drained after recovery", "s", "evaluation"),
    Figure("drain_after_fault_end_s", "drained after the fault ended", "s", "evaluation"),
    Figure("utilisation", "connection utilisation", "share"),
)

#: The outcome counts also given per connector.
COUNTS = ("received", "delivered", "ndr", "expired", "rejected", "queued_at_end")

def resolution_of(figure: Figure, evaluate_every: float, mean: float) -> float:
    """The figure's measuring step in its own unit (0 when exact): an interval narrower than it means nothing."""
    if figure.resolution == "evaluation":
        return evaluate_every
    if figure.resolution == "bucket":
        return 0.01 * abs(mean)
    return 0.0


def connector_counts(summary: ConnectorSummary) -> dict[str, int]:
    """A connector's outcomes, in recipients: received = delivered + ndr + rejected + queued_at_end."""
    return {"received": summary.received, "delivered": summary.delivered, "ndr": summary.ndr,
            "expired": summary.expired, "rejected": summary.rejected, "queued_at_end": summary.queued}


def _delivered_times(summaries: Sequence[ConnectorSummary]) -> LatencyHistogram:
    """Delivered recipients' latencies (the message histogram plus the extra recipients of each message)."""
    hist = LatencyHistogram()
    for c in summaries:
        hist.merge(c.latency)
        hist.merge(c.extra_delivered)
    return hist


def _time_in_system(summaries: Sequence[ConnectorSummary], delivered: LatencyHistogram) -> dict[str, Any]:
    ndr = LatencyHistogram()
    censored = LatencyHistogram()
    for c in summaries:
        ndr.merge(c.ndr_latency)
        censored.merge(c.queued_ages)
    quantiles = km_quantiles(delivered.bins() + ndr.bins(), censored.bins(), (0.5, 0.95))
    out: dict[str, Any] = {}
    for share, name in ((0.5, "p50"), (0.95, "p95")):
        est = quantiles[share]
        out[f"{name}_time_in_system_s"] = None if est is None else est.value
        out[f"{name}_time_in_system_more_than"] = bool(est is not None and est.more_than)
    return out


def _after(start: float | None, times: Sequence[float]) -> float | None:
    """Time from `start` to the first of `times` at or after it; None when either never happened."""
    if start is None:
        return None
    later = [t for t in times if t >= start]
    return min(later) - start if later else None


def _drain_after_recovery(result: Result, first_failure: float | None) -> float | None:
    """Per connector, the first success after a failure (or Fix now taking effect) to the first drained
    evaluation after it; the longest over the connectors that recovered (None if one has not drained)."""
    if first_failure is None:
        return None
    recovered: dict[str, float] = {}
    drained: dict[str, float] = {}
    for note in result.timeline:
        name = note.connector or ""
        if note.kind in ("queue_recovered", "fix_effective") and note.t >= first_failure:
            recovered.setdefault(name, note.t)
        elif note.kind == "queue_drained" and name in recovered:
            drained.setdefault(name, note.t)
    if not recovered or any(name not in drained for name in recovered):
        return None
    return max(drained[name] - recovered[name] for name in recovered)


def _drain_after_fault_end(result: Result) -> float | None:
    if not result.fault_windows:
        return None
    end = max(w[3] for w in result.fault_windows)
    return _after(end, [n.t for n in result.timeline if n.kind == "queue_drained"])


def figures_of(result: Result) -> dict[str, Any]:
    """Every figure of FIGURES for one run (None where it does not apply), and `*_more_than` flags for the
    time-in-system quantiles that censoring leaves as lower bounds."""
    summaries = result.connectors
    counts = [connector_counts(c) for c in summaries]
    out: dict[str, Any] = {k: sum(c[k] for c in counts) for k in COUNTS}
    out["peak_queue"] = max((c.max_queue_depth for c in summaries), default=0)
    delivered = _delivered_times(summaries)
    out.update(_time_in_system(summaries, delivered))
    out["p95_delivered_latency_s"] = delivered.percentile(0.95) if delivered.count else None
    for hours in (1, 4, 24):
        out[f"delivered_within_{hours}h"] = (delivered.count_at_most(hours * 3600.0) / out["received"]
                                             if out["received"] else None)
    failures = [c.first_failure for c in summaries if c.first_failure is not None]
    first_failure = min(failures) if failures else None
    alerts = result.alerts
    out["first_insight_after_failure_s"] = _after(first_failure, [a.raised_s for a in alerts if a.kind == "insight"])
    out["first_policy_after_failure_s"] = _after(first_failure, [a.raised_s for a in alerts if a.kind == "policy"])
    out["drain_after_recovery_s"] = _drain_after_recovery(result, first_failure)
    out["drain_after_fault_end_s"] = _drain_after_fault_end(result)
    available = sum(c.connections for c in summaries) * result.duration
    out["utilisation"] = sum(c.busy_s for c in summaries) / available if available > 0 else None
    return out
