"""`--report`: one self-contained HTML page about a run, as a pure function of the Result.

The page fetches nothing (a Content-Security-Policy forbids it and there are no scripts): charts are inline SVG
drawn here, styles are inline, fonts are the system's. Every string that came from the scenario or the run is
escaped. Same Result, same bytes.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from .. import codes
from .. import alerts as alert_rules
from ..alerts import AlertRecord
from ..faults import fault_label
from ..records import QueueSnapshot
from ..result import Result
from ..units import format_duration, format_latency, iso_at
from . import chart_marks, svg
from .json_result import result_dict

__all__ = ["report_html"]

WIDTH = 960.0
LEFT, RIGHT = 76.0, 24.0
ROW = 18.0
QUEUED, AGED, THRESHOLD, FAULT = "#2563eb", "#ea580c", "#b91c1c", "#ef4444"
#: Lane colour of an alert by its severity.
LANE = {"High": "#b91c1c", "Medium": "#d97706"}
LANE_OTHER = "#0891b2"
RESOLVED, EXPIRY, ACCEPTED = "#15803d", "#7c3aed", "#16a34a"
FAILURE_COLOURS = ("#dc2626", "#f59e0b", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#78716c", "#1d4ed8")
MAX_BARS = 48


def report_html(result: Result) -> str:
    """The whole report: story, summary, charts per connector, alert cards, timeline, NDRs by status."""
    d = result_dict(result)
    sc = result.scenario
    title = f"mfi-sim report: {sc.name}"
    sections = [_story(result, d), _summary(d), _charts(result), _alert_cards(result, d), _timeline(result),
                _ndrs(d)]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("summary", "Summary"), ("charts", "Charts"), ("alerts", "Alerts"), ("timeline", "Timeline"),
        ("ndrs", "NDRs")))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<nav>{nav}</nav>\n<main>\n" + "\n".join(sections) +
        f"\n</main>\n<footer>Made by mfi-sim {escape(result.version)} from scenario "
        f"&ldquo;{escape(sc.name)}&rdquo;, seed {result.seed}.</footer>\n</body>\n</html>\n")


# ------------------------------------------------------------------------------------------------ text sections
def _story(result: Result, d: dict[str, Any]) -> str:
    sc = result.scenario
    paras = [" ".join(p.split()) for p in sc.description.split("\n\n") if p.strip()]
    body = "".join(f"<p>{escape(p)}</p>" for p in paras)
    return (f'<header id="story"><h1>{escape(sc.name)}</h1>\n<p class="meta">Simulated '
            f"{escape(format_duration(result.duration))} from {escape(d['start'])}, seed {result.seed}, "
            f"{len(result.connectors)} connector{'s' if len(result.connectors) != 1 else ''}.</p>\n{body}</header>")


def _summary(d: dict[str, Any]) -> str:
    s = d["summary"]
    lat = s["latency_s"]
    counts = (("Received", s["received"]), ("Delivered", s["delivered"]), ("NDR", s["ndr"]),
              ("Rejected", s["rejected"]), ("Still queued", s["queued_at_end"]), ("Attempts", s["attempts"]),
              ("Peak queue (messages)", s["max_queue_depth"]))
    lats = (("p50", lat["p50"]), ("p95", lat["p95"]), ("p99", lat["p99"]), ("max", lat["max"]))
    head = "".join(f"<th>{k}</th>" for k, _ in counts)
    row = "".join(f'<td class="n">{v:,}</td>' for _, v in counts)
    lhead = "".join(f"<th>{k}</th>" for k, _ in lats)
    lrow = "".join(f'<td class="n">{format_latency(v)}</td>' for _, v in lats)
    conn_rows = []
    for c in d["connectors"]:
        failed = ", ".join(f"{escape(code)}: {n:,}" for code, n in c["codes_seen"].items()) or "none"
        err = f"<code>{escape(c['last_error'])}</code>" if c["last_error"] else "none"
        conn_rows.append(
            f"<tr><td>{escape(c['name'])}</td><td><span class=\"status s-{escape(c['status_at_end'].lower())}\">"
            f"{escape(c['status_at_end'])}</span></td>"
            + "".join(f'<td class="n">{c[k]:,}</td>' for k in ("received", "delivered", "ndr", "rejected",
                                                               "queued_at_end", "max_queue_depth"))
            + f"<td>{failed}</td></tr>\n<tr class=\"sub\"><td colspan=\"9\">Last error: {err}</td></tr>")
    return (
        '<section id="summary"><h2>Summary</h2>\n'
        "<p>Counts are per recipient, as in message trace; the queue peak counts messages.</p>\n"
        f'<table class="summary"><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>\n'
        f'<table class="summary"><caption>Latency of delivered mail</caption><thead><tr>{lhead}</tr></thead>'
        f"<tbody><tr>{lrow}</tr></tbody></table>\n"
        '<h3>Connectors</h3>\n<table class="connectors"><thead><tr><th>Connector</th><th>Status at end</th>'
        "<th>Received</th><th>Delivered</th><th>NDR</th><th>Rejected</th><th>Queued at end</th>"
        "<th>Peak queue</th><th>Failed attempts by code</th></tr></thead>\n<tbody>"
        + "\n".join(conn_rows) + "</tbody></table></section>")


# ------------------------------------------------------------------------------------------------ charts
def _charts(result: Result) -> str:
    by_connector: dict[str, list[QueueSnapshot]] = {c.name: [] for c in result.connectors}
    for snap in result.snapshots:
        by_connector.setdefault(snap.connector, []).append(snap)
    figures = []
    for c in result.connectors:
        snaps = by_connector[c.name]
        route = chart_marks.route_of(result.scenario, result.scenario.connector(c.name))
        figures.append(_figure(*_queue_chart(result, c.name, c.max_queue_depth, snaps, route)))
        figures.append(_figure(*_attempts_chart(result, c.name, c.failures_by_hour, snaps)))
    return '<section id="charts"><h2>Charts</h2>\n' + "\n".join(figures) + "</section>"


def _figure(heading: str, chart: str, caption: str) -> str:
    return f'<figure><h3>{escape(heading)}</h3>\n{chart}\n<figcaption>{escape(caption)}</figcaption></figure>'


def _time_title(result: Result) -> str:
    return f"hours since the start of the run (0 = {iso_at(result.scenario.start, 0.0)[:16].replace('T', ' ')} UTC)"


def _expiry_horizon(result: Result, snaps: list[QueueSnapshot]) -> float | None:
    """When the first messages on a queue expire: the first expiry in the run (the oldest queued message goes
    first, so it is the previous snapshot's oldest arrival plus the expiration); with none in the run, when the
    oldest message still waiting at the end would expire, if the queue was stuck then; None otherwise."""
    expiration = result.scenario.tenant.message_expiration
    for prev, snap in zip(snaps, snaps[1:]):
        if snap.expired > prev.expired:
            at = prev.oldest_arrival + expiration if prev.oldest_arrival is not None else snap.t
            return min(max(at, prev.t), snap.t)
    last = snaps[-1] if snaps else None
    if last is None or last.oldest_arrival is None:
        return None
    stuck = last.status in ("Retry", "Suspended") or last.t - last.oldest_arrival >= result.scenario.alerts.queued_for
    return last.oldest_arrival + expiration if stuck else None


def _queue_chart(result: Result, name: str, exact_peak: int, snaps: list[QueueSnapshot],
                 route: chart_marks.Route) -> tuple[str, str, str]:
    """Queue depth (all queued, and queued over `queued_for`) with the faults on the connector's route, the
    threshold, alerts, admin actions, certificate expiry and message expiry."""
    windows = chart_marks.faults_on(result, route)
    marks = chart_marks.marks_on(result, result.scenario.connector(name), route)
    settings = result.scenario.alerts
    over = format_duration(settings.queued_for)
    alerts = [a for a in result.alerts if name in a.connectors]
    lanes = [name for name in alert_rules.RULES if any(a.policy == name for a in alerts)]
    peak = max(snaps, key=lambda s: s.queued_messages, default=None)
    peak_n = peak.queued_messages if peak else 0
    show_threshold = settings.threshold <= 3 * max(peak_n, 1)
    y_max, step = svg.y_range(max(peak_n, settings.threshold if show_threshold else 0))
    lane_top = 8 + len(windows) * ROW
    plot = svg.Plot(LEFT, lane_top + len(lanes) * ROW + 8, WIDTH - LEFT - RIGHT, 260.0, result.duration / 3600, y_max)
    out = svg.y_axis(plot, step, "messages in the queue") + _fault_bands(plot, windows)
    out += _lanes(plot, lanes, alerts, lane_top, result.duration)
    out.append(svg.polyline([(plot.x(s.t / 3600), plot.y(s.aged_messages)) for s in snaps], AGED, 2))
    out.append(svg.polyline([(plot.x(s.t / 3600), plot.y(s.queued_messages)) for s in snaps], QUEUED, 2.5))
    note_y = plot.top + 14
    if show_threshold:
        y = plot.y(settings.threshold)
        out.append(svg.line(plot.left, y, plot.right, y, THRESHOLD, 2, "8 5"))
        out.append(svg.text(plot.right - 4, y - 6, f"alert threshold (messages queued over {over}): "
                            f"{settings.threshold:,}", anchor="end", fill=THRESHOLD, halo=True))
    else:
        out.append(svg.text(plot.right - 4, note_y, f"alert threshold ({settings.threshold:,} messages queued "
                            f"over {over}) is far above this chart", anchor="end", fill=THRESHOLD, halo=True))
        note_y += 18
    expires = _expiry_horizon(result, snaps)
    expiry_drawn = expires is not None and expires <= result.duration
    if expires is not None and expiry_drawn:
        x = plot.x(expires / 3600)
        out.append(svg.line(x, plot.top, x, plot.bottom, EXPIRY, 2, "8 3 2 3"))
        out.append(svg.label_within(plot, x + 4, x, note_y, "first messages expire", EXPIRY, halo=True))
    out += chart_marks.draw(plot, marks, note_y + (18 if expiry_drawn else 0))
    out += svg.x_axis_hours(plot, _time_title(result))
    items = [svg.LegendItem("line", QUEUED, "queued messages"),
             svg.LegendItem("line", AGED, f"queued over {over} (what the alerts count)")]
    items += [svg.LegendItem("dash", THRESHOLD, "alert threshold")] if show_threshold else []
    items += [svg.LegendItem("band", FAULT, "fault in force")] if windows else []
    items += [svg.LegendItem("up", _lane_colour(k), f"{alert_rules.rule_entry(k).label.lower()} raised: {k}")
              for k in lanes]
    items += [svg.LegendItem("dot", RESOLVED, "resolved")] if any(a.resolved_s is not None for a in alerts) else []
    items += [svg.LegendItem("vline", EXPIRY, "first messages expire")] if expiry_drawn else []
    items += chart_marks.legend_items(marks)
    legend, legend_h = svg.legend(items, plot.left, plot.bottom + 48, plot.width)
    chart = svg.svg_root(WIDTH, plot.bottom + 56 + legend_h, f"Queue depth over time on connector {name}",
                         out + legend)
    start = result.scenario.start
    caption = (f"Messages waiting on connector \u201c{name}\u201d, sampled every "
               f"{format_duration(settings.evaluate_every)} from {iso_at(start, 0.0)}; the highest sample is "
               f"{peak_n:,}" + (f" at +{format_duration(peak.t)}" if peak and peak_n else "")
               + (f" (the exact peak between samples was {exact_peak:,})" if exact_peak > peak_n else "")
               + f". The alert policy fires when {settings.threshold:,} or more messages have been queued over {over}.")
    if expires is not None:
        caption += (f" The first messages expire at +{format_duration(expires)} ({iso_at(start, expires)}) and go "
                    "back to their senders as NDRs." if expiry_drawn else
                    f" The first messages would expire at +{format_duration(expires)} ({iso_at(start, expires)}), "
                    "after the end of the run.")
    if marks:
        caption += " Marked: " + "; ".join(chart_marks.describe(m) for m in marks) + "."
    return f"Queue depth: {name}", chart, caption


def _fault_bands(plot: svg.Plot, windows: list[tuple[int, Any, float, float]]) -> list[str]:
    """A shaded band per fault on the connector's route while it was in force, each labelled in its own row."""
    out = []
    for i, (_, f, s0, s1) in enumerate(windows):
        label = f"fault: {fault_label(f)}"
        x0, x1 = plot.x(s0 / 3600), plot.x(s1 / 3600)
        row = 8 + i * ROW
        out.append(svg.rect(x0, row + 2, x1 - x0, plot.bottom - row - 2, FAULT, 0.13,
                            f"{label}, +{format_duration(s0)} to +{format_duration(s1)}"))
        out.append(svg.label_within(plot, x0 + 4, x1, row + 14, label, "#991b1b"))
    return out


def _lane_colour(policy: str) -> str:
    return LANE.get(alert_rules.rule_entry(policy).severity, LANE_OTHER)


def _lane_label(a: AlertRecord) -> str:
    label = alert_rules.rule_entry(a.policy).label.lower()
    if alert_rules.rule_entry(a.policy).clears_itself:
        return f"{label}: {a.code or 'no error'} {a.title}"
    return f"{label}: {a.policy} ({a.severity})"


def _lanes(plot: svg.Plot, lanes: list[str], alerts: list[AlertRecord], top: float, duration: float) -> list[str]:
    """One row per alert rule above the plot: a bar from raise to resolve, markers, guides into the plot, and
    each alert's label in the free space after its bar (or, for a lane with no room after any bar, in its widest
    free space)."""
    out: list[str] = []
    for li, policy in enumerate(lanes):
        yc = top + li * ROW + ROW / 2
        colour = _lane_colour(policy)
        mine = [a for a in alerts if a.policy == policy]
        spans = [(plot.x(a.raised_s / 3600),
                  plot.x((a.resolved_s if a.resolved_s is not None else duration) / 3600)) for a in mine]
        labels = [_lane_label(a) for a in mine]
        for a, (x0, x1), label in zip(mine, spans, labels):
            when = f"raised +{format_duration(a.raised_s)}" + (
                f", resolved +{format_duration(a.resolved_s)}" if a.resolved_s is not None else ", still active")
            out.append(svg.rect(x0, yc - 4, x1 - x0, 8, colour, 0.3, f"{label}; {when}"))
            out.append(svg.line(x0, yc + 6, x0, plot.bottom, colour, 1, "3 3"))
            out.append(svg.triangle(x0, yc, 11, colour, f"{label}: {when}"))
            if a.resolved_s is not None:
                out.append(svg.line(x1, yc + 6, x1, plot.bottom, RESOLVED, 1, "3 3"))
                out.append(svg.dot(x1, yc, 5, RESOLVED, f"{label}: {when}"))
        gaps = [(x1 + 10, (spans[i + 1][0] if i + 1 < len(spans) else plot.right) - 8, labels[i])
                for i, (_, x1) in enumerate(spans)]
        placed = [(g0, label) for g0, g1, label in gaps if g0 + svg.text_width(label) <= g1]
        if not placed:
            widest = max([(spans[0][0] - 8 - plot.left, plot.left, labels[0])]
                         + [(g1 - g0, g0, label) for g0, g1, label in gaps])
            if svg.text_width(widest[2]) <= widest[0]:
                placed = [(widest[1], widest[2])]
        out += [svg.text(x, yc + 4, label, fill=colour, halo=True) for x, label in placed]
    return out


@dataclass(frozen=True, slots=True)
class _Bin:
    """Attempts in one bar of the attempts chart: [h0, h1) hours, accepted ones, failed ones by code."""

    h0: float
    h1: float
    accepted: int
    failed: dict[str, int]


def _attempt_bins(hours: float, failures_by_hour: Mapping[int, Mapping[str, int]],
                  snaps: list[QueueSnapshot]) -> tuple[int, list[_Bin]]:
    """Hours per bar (1 unless that makes over MAX_BARS bars) and the bars: attempts are the change of the
    snapshots' cumulative count over the bar, failures come from the counters, accepted is the rest."""
    width_h = next((b for b in (1, 2, 3, 4, 6, 8, 12, 24) if math.ceil(hours / b) <= MAX_BARS),
                   24 * math.ceil(hours / MAX_BARS / 24))
    n_bins = max(1, math.ceil(hours / width_h - 1e-9))
    times = [s.t for s in snaps]

    def attempts_at(h: float) -> int:
        i = bisect_right(times, h * 3600 + 1e-6) - 1
        return snaps[i].attempts if i >= 0 else 0

    all_codes = sorted({code for by_code in failures_by_hour.values() for code in by_code})
    failed = [dict.fromkeys(all_codes, 0) for _ in range(n_bins)]
    for hour, by_code in failures_by_hour.items():
        for code, n in by_code.items():
            failed[min(hour // width_h, n_bins - 1)][code] += n
    bins = []
    for b in range(n_bins):
        h0, h1 = float(b * width_h), min(float((b + 1) * width_h), hours)
        total = attempts_at(h1) - attempts_at(h0)
        bins.append(_Bin(h0, h1, max(0, total - sum(failed[b].values())), failed[b]))
    return width_h, bins


def _attempts_chart(result: Result, name: str, failures_by_hour: Mapping[int, Mapping[str, int]],
                    snaps: list[QueueSnapshot]) -> tuple[str, str, str]:
    hours = result.duration / 3600.0
    width_h, bins = _attempt_bins(hours, failures_by_hour, snaps)
    all_codes = list(bins[0].failed)
    colour = {c: FAILURE_COLOURS[i % len(FAILURE_COLOURS)] for i, c in enumerate(all_codes)}
    y_max, step = svg.y_range(max(b.accepted + sum(b.failed.values()) for b in bins))
    per = "hour" if width_h == 1 else f"{width_h} hours"
    plot = svg.Plot(LEFT, 24, WIDTH - LEFT - RIGHT, 220.0, hours, y_max)
    out = svg.y_axis(plot, step, f"delivery attempts per {per}")
    for b in bins:
        slot = plot.x(b.h1) - plot.x(b.h0)
        gap = max(1.0, slot * 0.12)
        x, w = plot.x(b.h0) + gap, slot - 2 * gap
        base = 0
        span = f"+{format_duration(b.h0 * 3600)} to +{format_duration(b.h1 * 3600)}"
        for what, n, fill in [("accepted", b.accepted, ACCEPTED)] + [(c, b.failed[c], colour[c]) for c in all_codes]:
            if n <= 0:
                continue
            y0 = plot.y(base)
            h = max(y0 - plot.y(base + n), 1.5)
            out.append(svg.rect(x, y0 - h, w, h, fill, None, f"{span}: {n:,} {what}"))
            base += n
        n_failed = sum(b.failed.values())
        label = f"{n_failed:,} failed" if svg.text_width(f"{n_failed:,} failed") <= slot else f"{n_failed:,}"
        if n_failed and svg.text_width(label) <= slot + 4:
            out.append(svg.text(x + w / 2, plot.y(base) - 5, label, anchor="middle", fill=THRESHOLD, halo=True))
    out += svg.x_axis_hours(plot, _time_title(result))
    items = [svg.LegendItem("box", ACCEPTED, "accepted by the destination")]
    for c in all_codes:
        entry = codes.CATALOGUE.get(c)
        title = entry.title if entry and c != codes.OTHER else "reply from the destination"
        items.append(svg.LegendItem("box", colour[c], f"failed: {c} {title}"))
    legend, legend_h = svg.legend(items, plot.left, plot.bottom + 48, plot.width)
    out += legend
    height = plot.bottom + 48 + legend_h + 8
    chart = svg.svg_root(WIDTH, height, f"Delivery attempts per {per} by outcome on connector {name}", out)
    total_failed = sum(sum(b.failed.values()) for b in bins)
    caption = f"Attempts to deliver on connector \u201c{name}\u201d per {per}, stacked by outcome."
    caption += (f" The number above a bar counts its failed attempts ({total_failed:,} in all)." if total_failed
                else " No attempt failed.")
    if any(s.status == "Retry" for s in snaps):
        caption += (" While the queue is in Retry it makes one connection attempt per retry, so an outage shows "
                    "as low bars.")
    return f"Delivery attempts per {per} by outcome: {name}", chart, caption


def _alert_cards(result: Result, d: dict[str, Any]) -> str:
    if not d["alerts"]:
        return ('<section id="alerts"><h2>Alerts</h2><p class="empty">No insight or alert was raised: nothing '
                f"waited {escape(format_duration(result.scenario.alerts.queued_for))} on a connector.</p></section>")
    return ('<section id="alerts"><h2>Alerts</h2>\n<p>Each card shows the alert as the admin sees it, with its '
            "fields as of the last evaluation while it fired.</p>\n"
            + "\n".join(_card(a, alert, result.scenario.alerts.queued_for)
                        for a, alert in zip(d["alerts"], result.alerts))
            + "</section>")


def _card(a: dict[str, Any], alert: AlertRecord, queued_for: float) -> str:
    kind = alert_rules.rule_entry(alert.policy).label
    state = ('<span class="state resolved">Resolved</span>' if a["status"] == alert_rules.RESOLVED else
             '<span class="state active">Active at the end of the run</span>')
    cleared = (f"{escape(a['condition_cleared_at'])} <span class=\"off\">(+{format_duration(alert.condition_cleared_s)})"
               "</span>" if a["condition_cleared_at"] and alert.condition_cleared_s is not None else "not yet")
    fields = [("Connector", escape(a["connector"])),
              ("Category", escape(a["category"])),
              ("Raised", f"{escape(a['raised_at'])} <span class=\"off\">(+{format_duration(alert.raised_s)})</span>"),
              ("Resolved", f"{escape(a['resolved_at'])} <span class=\"off\">(+{format_duration(alert.resolved_s)})"
                           f"</span> ({escape(alert.resolved_by or '')})" if a["resolved_at"] and alert.resolved_s is not None
                           else "not yet"),
              ("Condition cleared", cleared),
              ("Connectors", escape(", ".join(a["connectors"]))),
              ("Queued messages", f"{a['queued_messages']:,} ({a['aged_messages']:,} queued over "
                                  f"{escape(format_duration(queued_for))})"),
              ("Destination", escape(a["destination"] or "unknown")),
              ("Last IP", escape(a["last_ip"] or "unknown")),
              ("Queue started", escape(a["queue_started_at"] or "unknown")),
              ("Oldest message expires", escape(a["oldest_expires_at"] or "unknown")),
              ("Last error", f"<code>{escape(a['last_error'])}</code>" if a["last_error"] else "none")]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in fields)
    causes = "".join(f"<li>{escape(c)}</li>" for c in a["causes"])
    fixes = "".join(f"<li>{escape(f)}</li>" for f in a["fixes"])
    fix_now = ('<p class="actions"><span class="fix-now" title="One-click fix offered by the service for this '
               'error">Fix now</span> The service can stop routing to the servers that refuse the connection '
               "and reject mail for recipients that do not exist.</p>") if a["fix_now"] else ""
    sev = escape(a["severity"])
    code = f"<code>{escape(a['code'])}</code> " if a["code"] else ""
    return (f'<article class="card sev-{sev.lower()}">\n<header><span class="sev">{sev}</span>'
            f'<span class="kind">{kind}</span><h3>{escape(a["policy"])}</h3>{state}</header>\n'
            f'<p class="code">{code}{escape(a["title"])}</p>\n<dl>{dl}</dl>\n'
            f'<div class="cols"><div><h4>Likely causes</h4><ul>{causes}</ul></div>'
            f"<div><h4>How to fix</h4><ol>{fixes}</ol></div></div>\n{fix_now}</article>")


def _timeline(result: Result) -> str:
    start = result.scenario.start
    rows = []
    for e in result.timeline:
        group = _TIMELINE_GROUPS.get(e.kind, "info")
        rows.append(f'<tr><td class="n">+{escape(format_duration(e.t))}</td>'
                    f'<td class="when">{escape(iso_at(start, e.t))}</td>'
                    f'<td><span class="tag t-{group}">{escape(e.kind.replace("_", " "))}</span></td>'
                    f"<td>{escape(e.connector or '')}</td><td>{escape(e.text)}</td></tr>")
    if not rows:
        return '<section id="timeline"><h2>Timeline</h2><p class="empty">Nothing happened worth noting.</p></section>'
    return ('<section id="timeline"><h2>Timeline</h2>\n<table class="timeline"><thead><tr><th>Offset</th>'
            "<th>Time (UTC)</th><th>What</th><th>Connector</th><th>Details</th></tr></thead>\n<tbody>"
            + "\n".join(rows) + "</tbody></table></section>")


_TIMELINE_GROUPS = {"fault_start": "fault", "fault_end": "ok", "queue_retry": "fault", "certificate_expired": "fault",
                    "insight_raised": "alert", "alert_raised": "alert", "insight_resolved": "ok",
                    "alert_resolved": "ok", "alert_condition_cleared": "ok", "queue_drained": "ok", "queue_recovered": "ok", "fix_effective": "ok",
                    "action": "action", "action_refused": "fault", "change_effective": "ok"}


def _ndrs(d: dict[str, Any]) -> str:
    by_status = d["ndrs"]["by_status"]
    if not by_status:
        return '<section id="ndrs"><h2>NDRs by status code</h2><p class="empty">No NDR was sent.</p></section>'
    rows = "".join(f'<tr><td><code>{escape(st)}</code></td><td>{escape(_ndr_meaning(st))}</td>'
                   f'<td class="n">{n:,}</td></tr>' for st, n in by_status.items())
    return ('<section id="ndrs"><h2>NDRs by status code</h2>\n<table class="ndrs"><thead><tr><th>Status</th>'
            f"<th>Meaning</th><th>Recipients</th></tr></thead><tbody>{rows}"
            f'<tr class="total"><td>Total</td><td></td><td class="n">{d["ndrs"]["count"]:,}</td></tr>'
            "</tbody></table></section>")


def _ndr_meaning(status: str) -> str:
    for entry in codes.CATALOGUE.values():
        if entry.expiry_code.split(" ")[-1] == status and entry.code != codes.OTHER:
            return f"Message expired after retrying: {entry.title.lower()}"
    if codes.RECIPIENT_NOT_FOUND_STATUS == status:
        return "Recipient not found at the destination"
    if codes.status_of(codes.EXPIRED_NO_REASON) == status:
        return "Message expired with no connection-level reason on record (the last reply follows the code)"
    if codes.status_of(codes.EXPIRED_EXCHANGE_SERVER) == status:
        return "Message expired (Exchange Server's wording, whatever the reason)"
    return "The destination server's own permanent reply"


_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
nav { position: sticky; top: 0; z-index: 1; background: #243b53; padding: 6px 24px; }
nav a { color: #f0f4f8; margin-right: 18px; text-decoration: none; font-weight: 600; font-size: 14px; }
main { max-width: 1040px; margin: 0 auto; padding: 16px 24px 32px; }
header#story, section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 24px;
  margin: 16px 0; }
h1 { font-size: 26px; margin: 4px 0 2px; } h2 { font-size: 20px; margin: 0 0 8px; }
h3 { font-size: 16px; margin: 12px 0 6px; } h4 { font-size: 14px; margin: 8px 0 4px; }
.meta, figcaption, .empty, .off { color: var(--muted); }
figure { margin: 8px 0 24px; } figcaption { font-size: 13px; margin-top: 4px; }
svg { display: block; max-width: 960px; height: auto; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code, dd code, p.code code { word-break: break-word; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #f0f4f8;
  padding: 1px 4px; border-radius: 3px; }
.status, .tag, .sev, .state, .kind { display: inline-block; padding: 0 8px; border-radius: 10px;
  font-size: 12px; font-weight: 600; }
.s-ready, .s-active, .t-ok, .state.resolved { background: #dcfce7; color: #166534; }
.s-retry, .t-fault, .s-suspended { background: #fee2e2; color: #991b1b; }
.t-alert { background: #fef3c7; color: #92400e; } .t-action { background: #dbeafe; color: #1e40af; }
.t-info, .kind { background: #e4e7eb; color: var(--ink); }
.state.active { background: #fee2e2; color: #991b1b; }
.card { border: 1px solid var(--line); border-left: 6px solid #d97706; border-radius: 6px; padding: 10px 16px;
  margin: 12px 0; }
.card.sev-high { border-left-color: #b91c1c; }
.card header { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.card header h3 { margin: 0; flex: 1 1 auto; }
.sev { background: #fef3c7; color: #92400e; } .sev-high .sev { background: #b91c1c; color: #fff; }
.card p.code { font-size: 16px; font-weight: 600; margin: 8px 0; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 14px; }
.card dt { color: var(--muted); } .card dd { margin: 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; font-size: 14px; }
.cols ul, .cols ol { margin: 0; padding-left: 20px; }
.actions { margin: 10px 0 4px; font-size: 14px; }
.fix-now { display: inline-block; background: #0f6cbd; color: #fff; font-weight: 600; padding: 4px 14px;
  border-radius: 4px; margin-right: 8px; }
tr.total td { font-weight: 600; }
table.timeline { width: 100%; } td.when, .tag { white-space: nowrap; }
table.connectors { width: 100%; } table.connectors tr:has(+ tr.sub) td { border-bottom: 0; }
tr.sub td { font-size: 13px; color: var(--muted); padding-top: 0; }
footer { text-align: center; color: var(--muted); font-size: 13px; padding: 0 0 24px; }
"""
