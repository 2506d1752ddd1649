"""The sweep as one self-contained HTML page: a chart per figure against each swept setting (mean and 95%
confidence band, one line per value of the other settings), the table of every figure, and the manifest.

Like the run report, the page fetches nothing and runs no script (a Content-Security-Policy forbids both);
charts are inline SVG drawn with output/svg.py, and every string from the scenario or the grid is escaped.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

from ..figures import FIGURES, Figure
from ..units import format_duration, parse_duration
from . import svg
from .sweep_report import TABLE_NOTE, stat_text

if TYPE_CHECKING:
    from ..replications import Stat
    from ..whatif import SweepRun

__all__ = ["sweep_html", "PALETTE"]

#: Line colours (colour-blind safe, Okabe–Ito), one per value of the other settings.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")

_W, _H = 520.0, 300.0

#: The figures a planner asks about first come first on the page (the table keeps the CSV order).
_CHART_ORDER = ("drain_after_fault_end_s", "drain_after_recovery_s", "expired", "ndr", "queued_at_end",
                "p95_time_in_system_s", "p50_time_in_system_s", "delivered_within_1h", "delivered_within_4h",
                "delivered_within_24h", "p95_delivered_latency_s", "peak_queue", "first_insight_after_failure_s",
                "first_policy_after_failure_s", "utilisation", "received", "delivered", "rejected")


def _positions(texts: Sequence[str]) -> tuple[list[float], float]:
    """Where each value sits on the x axis: in proportion when every value is a number or a duration, else
    evenly spaced in the order given; and the axis end."""
    for read in (float, parse_duration):
        try:
            xs = [float(read(t)) for t in texts]
        except (ValueError, TypeError):
            continue
        if len(set(xs)) == len(xs) and min(xs) >= 0:
            return xs, max(xs) * 1.08 or 1.0
    return [float(i + 1) for i in range(len(texts))], float(len(texts) + 1)


def _y_scale(figure: Figure, top: float) -> tuple[float, float, Callable[[float], str], str]:
    """(axis top, step, tick formatter, axis title) for a figure whose values reach `top`."""
    if figure.unit == "share":
        top = min(max(top, 0.05) * 1.05, 1.0) if top <= 1 else top * 1.05
        step = svg.nice_step(top)
        return step * math.ceil(top / step - 1e-9), step, lambda v: f"{100 * v:.0f}%", "share"
    if figure.unit == "s":
        for size, name in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes"), (1.0, "seconds")):
            if top >= 2 * size or size == 1.0:
                scaled = max(top / size, 1e-3) * 1.05
                step = svg.nice_step(scaled)
                return (step * math.ceil(scaled / step - 1e-9) * size, step * size,
                        lambda v, s=size: f"{v / s:g}", name)
    top_, step = svg.y_range(top)
    return top_, step, lambda v: f"{v:,.0f}", figure.unit


def _resolution_note(figure: Figure, stats: Sequence[Stat]) -> str:
    """How finely the figure is measured, when it is not exact (so a flat band is read right)."""
    if figure.resolution == "bucket":
        return "to within 1%"
    if figure.resolution == "evaluation" and stats:
        return f"seen at each {format_duration(stats[0].resolution)} evaluation"
    return ""


def _chart(run: SweepRun, figure: Figure, key: str) -> str:
    """One figure against setting `key`, one line (and band) per combination of the other settings."""
    keys = list(run.labels[0])
    texts = list(dict.fromkeys(lab[key] for lab in run.labels))
    xs, x_max = _positions(texts)
    where = dict(zip(texts, xs))
    others = [k for k in keys if k != key]
    series: dict[tuple[str, ...], list[tuple[float, Stat]]] = {}
    for lab, summ in zip(run.labels, run.summary):
        stat = summ[figure.key]
        group = series.setdefault(tuple(lab[k] for k in others), [])
        if stat is not None:
            group.append((where[lab[key]], stat))
    tops = [s.mean + (0 if math.isnan(s.ci95) else s.ci95) for g in series.values() for _, s in g]
    y_max, step, fmt, unit = _y_scale(figure, max(tops, default=0.0))
    plot = svg.Plot(64, 34, _W - 84, _H - 34 - 84, x_max, y_max)
    body = [svg.text(12, 20, figure.title, weight="600", size=14)]
    note = _resolution_note(figure, [s for g in series.values() for _, s in g])
    if note:
        body.append(svg.text(_W - 12, 20, note, anchor="end", fill=svg.MUTED, size=11))
    body += svg.y_axis(plot, step, unit, fmt)
    body += svg.x_axis_values(plot, list(zip(xs, texts)), key)
    items = []
    for i, (combo, points) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points.sort(key=lambda p: p[0])
        with_ci = [(x, s) for x, s in points if not math.isnan(s.ci95)]
        if len(with_ci) > 1:
            body.append(svg.band([(plot.x(x), plot.y(s.mean + s.ci95)) for x, s in with_ci],
                                 [(plot.x(x), plot.y(max(s.mean - s.ci95, 0.0))) for x, s in with_ci], color))
        if len(points) > 1:   # later lines thinner, so a line hidden under an equal one still shows
            body.append(svg.polyline([(plot.x(x), plot.y(s.mean)) for x, s in points], color,
                                     max(4.5 - 1.2 * i, 1.5)))
        for x, s in points:
            body.append(svg.dot(plot.x(x), plot.y(s.mean), 3.5, color, stat_text(figure, s, s.n)))
        label = ", ".join(f"{k} = {v}" for k, v in zip(others, combo)) or "mean"
        items.append(svg.LegendItem("line", color, label))
    if not tops:
        body.append(svg.text(plot.left + plot.width / 2, plot.top + plot.height / 2,
                             "never happened at any point", anchor="middle", fill=svg.MUTED))
    items.append(svg.LegendItem("band", svg.MUTED, "95% confidence interval"))
    legend, height = svg.legend(items, plot.left, plot.bottom + 44, plot.width)
    body += legend
    return svg.svg_root(_W, plot.bottom + 48 + height, f"{figure.title} against {key}", body)


def _table(run: SweepRun) -> str:
    keys = list(run.labels[0])
    head = "".join(f"<tr><th>{escape(k)}</th>" + "".join(f"<th class=\"n\">{escape(lab[k])}</th>"
                                                          for lab in run.labels) + "</tr>" for k in keys)
    body = []
    for f in FIGURES:
        cells = "".join(f"<td class=\"n\">{escape(stat_text(f, summ[f.key], run.replications[i]))}</td>"
                        for i, summ in enumerate(run.summary))
        body.append(f"<tr><td>{escape(f.title)} <code>{escape(f.key)}</code></td>{cells}</tr>")
    reps = "".join(f"<td class=\"n\">{n}</td>" for n in run.replications)
    body.append(f"<tr class=\"reps\"><td>replications</td>{reps}</tr>")
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 16px 24px 32px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 24px; margin: 16px 0; }
h1 { font-size: 26px; margin: 4px 0 2px; } h2 { font-size: 20px; margin: 0 0 8px; }
.meta, .note { color: var(--muted); font-size: 14px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 12px 24px; }
figure { margin: 0; } svg { display: block; width: 100%; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; white-space: nowrap; }
th { background: #f0f4f8; } .n { text-align: right; font-variant-numeric: tabular-nums; }
tr.reps td { color: var(--muted); }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
td code { color: var(--muted); font-size: 12px; }
pre { background: #f0f4f8; padding: 12px; border-radius: 6px; overflow-x: auto; }
"""


def _scoped(css: str, scope: str) -> str:
    """The style sheet with every rule limited to `scope` (a notebook cell must not restyle the notebook)."""
    def rule(match: re.Match[str]) -> str:
        selectors = [sel.strip() for sel in match.group(1).split(",")]
        scoped = [scope if sel in (":root", "body") else f"{scope} {sel}" for sel in selectors]
        return f"{', '.join(scoped)} {{{match.group(2)}}}"
    return re.sub(r"([^{}]+?)\s*\{([^}]*)\}", rule, css)


def sweep_html(run: SweepRun, fragment: bool = False) -> str:
    """The whole page (or, with `fragment`, the body alone, for a notebook cell)."""
    keys = list(run.labels[0]) if run.labels else []
    reps = sorted(set(run.replications))
    count = str(reps[0]) if len(reps) == 1 else f"{reps[0]} to {reps[-1]}"
    grid = "; ".join(f"{s.key} = {', '.join(s.texts)}" for s in run.settings) or "no settings"
    order = {key: i for i, key in enumerate(_CHART_ORDER)}
    figures = sorted(FIGURES, key=lambda f: order.get(f.key, len(order)))
    charts = "".join(f"<figure>{_chart(run, f, k)}</figure>\n" for f in figures for k in keys)
    body = (
        f"<main>\n<section><h1>{escape(run.name)}</h1>\n"
        f"<p class=\"meta\">What-if sweep of <code>{escape(run.source)}</code>: {escape(grid)}. "
        f"{len(run.labels)} point(s), {escape(count)} replication(s) each, common random numbers.</p>\n"
        f"<p class=\"note\">{escape(TABLE_NOTE)}</p></section>\n"
        f"<section id=\"charts\"><h2>Figures</h2>\n<div class=\"charts\">\n{charts}</div></section>\n"
        f"<section id=\"table\"><h2>Table</h2>\n<div class=\"scroll\">{_table(run)}</div></section>\n"
        f"<section id=\"manifest\"><h2>Manifest</h2>\n<pre>{escape(run.manifest())}</pre></section>\n</main>\n")
    if fragment:
        return f"<div class=\"mfi-sweep\"><style>{_scoped(_CSS, '.mfi-sweep')}</style>{body}</div>"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(run.name)}: what-if sweep</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"{body}</body>\n</html>\n")
