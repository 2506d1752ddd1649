"""Small pieces of inline SVG for the HTML report: a plot frame with its scales, axes, shapes, text, legends.

Every function returns SVG text and does no I/O; every string that reaches the markup goes through
`html.escape`. Coordinates are written with at most one decimal so the same chart gives the same bytes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Plot", "num", "text_width", "nice_step", "hour_step", "y_range", "text", "label_within", "line",
           "rect", "polyline", "band", "triangle", "dot", "y_axis", "x_axis_values", "x_axis_hours", "legend", "LegendItem", "svg_root",
           "INK", "MUTED", "GRID"]

INK = "#1f2933"
MUTED = "#52606d"
GRID = "#e4e7eb"
FONT_PX = 12
_CHAR_EM = 0.58          # a generous average glyph width of a sans-serif font, in em, for layout guesses


def num(v: float) -> str:
    """A coordinate with at most one decimal and no trailing ".0" ("-0" is written "0")."""
    s = f"{v:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def text_width(s: str, size: float = FONT_PX) -> float:
    """A slight over-estimate of the width of `s` set at `size` px (no font metrics without a browser)."""
    return len(s) * size * _CHAR_EM


def nice_step(span: float, ticks: int = 5) -> float:
    """A tick step of 1, 2 or 5 times a power of ten that cuts `span` into about `ticks` parts."""
    raw = span / max(ticks, 1)
    if raw <= 0:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag


def hour_step(hours: float, max_ticks: int = 13) -> int:
    """Hours between labelled ticks on a time axis of `hours`: 1, 2, 3, 4, 6, 8, 12, then whole days."""
    for step in (1, 2, 3, 4, 6, 8, 12, 24):
        if hours / step <= max_ticks:
            return step
    return 24 * math.ceil(hours / max_ticks / 24)


@dataclass(frozen=True, slots=True)
class Plot:
    """The plot area of a chart (SVG units) and the data ranges it shows; both ranges start at zero."""

    left: float
    top: float
    width: float
    height: float
    x_max: float
    y_max: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, v: float) -> float:
        return self.left + self.width * min(max(v, 0.0), self.x_max) / self.x_max if self.x_max > 0 else self.left

    def y(self, v: float) -> float:
        return self.bottom - self.height * min(max(v, 0.0), self.y_max) / self.y_max if self.y_max > 0 else self.bottom


def y_range(top: float, ticks: int = 5) -> tuple[float, float]:
    """A rounded top for a count axis (at least 5, with 5% headroom) and its whole-number tick step."""
    top = max(top, 5.0) * 1.05
    step = max(nice_step(top, ticks), 1.0)
    return step * math.ceil(top / step), step


# ------------------------------------------------------------------------------------------------ shapes
def text(x: float, y: float, s: str, *, anchor: str = "start", size: float = FONT_PX, fill: str = INK,
         weight: str | None = None, halo: bool = False, rotate: float | None = None) -> str:
    """A line of text at (x, y) (baseline); `halo` draws a white outline so it stays legible over lines."""
    attrs = [f'x="{num(x)}"', f'y="{num(y)}"', f'font-size="{num(size)}"', f'fill="{fill}"']
    if anchor != "start":
        attrs.append(f'text-anchor="{anchor}"')
    if weight:
        attrs.append(f'font-weight="{weight}"')
    if halo:
        attrs.append('stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"')
    if rotate is not None:
        attrs.append(f'transform="rotate({num(rotate)} {num(x)} {num(y)})"')
    return f"<text {' '.join(attrs)}>{escape(s)}</text>"


def label_within(plot: Plot, x: float, right_edge: float, y: float, label: str, fill: str,
                 halo: bool = False) -> str:
    """`label` starting at x, or ending just left of `right_edge` when it would run off the plot."""
    if x + text_width(label) <= plot.right:
        return text(x, y, label, fill=fill, halo=halo)
    return text(max(right_edge - 4, plot.left + text_width(label)), y, label, anchor="end", fill=fill, halo=halo)


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0,
         dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{stroke}" '
            f'stroke-width="{num(width)}"{d}/>')


def rect(x: float, y: float, w: float, h: float, fill: str, opacity: float | None = None,
         title: str | None = None) -> str:
    o = f' fill-opacity="{opacity:g}"' if opacity is not None else ""
    body = f"<title>{escape(title)}</title>" if title else ""
    attrs = f'x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}" height="{num(max(h, 0.0))}" fill="{fill}"{o}'
    return f"<rect {attrs}>{body}</rect>" if body else f"<rect {attrs}/>"


def polyline(points: Sequence[tuple[float, float]], stroke: str, width: float = 2.0) -> str:
    pts = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return (f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="{num(width)}" '
            f'stroke-linejoin="round"/>')


def band(upper: Sequence[tuple[float, float]], lower: Sequence[tuple[float, float]], fill: str,
         opacity: float = 0.18) -> str:
    """A shaded area between two lines given left to right (e.g. a confidence band)."""
    pts = " ".join(f"{num(x)},{num(y)}" for x, y in [*upper, *reversed(lower)])
    return f'<polygon points="{pts}" fill="{fill}" fill-opacity="{opacity:g}" stroke="none"/>'


def triangle(x: float, y: float, size: float, fill: str, title: str | None = None) -> str:
    """An upward triangle centred on (x, y)."""
    h = size * 0.9
    pts = f"{num(x)},{num(y - h / 2)} {num(x - size / 2)},{num(y + h / 2)} {num(x + size / 2)},{num(y + h / 2)}"
    body = f"<title>{escape(title)}</title>" if title else ""
    return f'<polygon points="{pts}" fill="{fill}">{body}</polygon>'


def dot(x: float, y: float, r: float, fill: str, title: str | None = None) -> str:
    body = f"<title>{escape(title)}</title>" if title else ""
    return (f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" fill="{fill}" stroke="#fff" stroke-width="1">'
            f"{body}</circle>")


# ------------------------------------------------------------------------------------------------ axes
def y_axis(plot: Plot, step: float, title: str, fmt: Callable[[float], str] | None = None) -> list[str]:
    """Horizontal grid lines with value labels every `step` (as `fmt` writes them: whole numbers by default),
    and the axis title written upwards."""
    out = []
    n = int(round(plot.y_max / step)) if step > 0 else 0
    for i in range(n + 1):
        v = i * step
        y = plot.y(v)
        out.append(line(plot.left, y, plot.right, y, GRID))
        out.append(text(plot.left - 6, y + 4, fmt(v) if fmt else f"{v:,.0f}", anchor="end", fill=MUTED))
    out.append(line(plot.left, plot.top, plot.left, plot.bottom, MUTED))
    mid = plot.top + plot.height / 2
    out.append(text(14, mid, title, anchor="middle", fill=MUTED, rotate=-90))
    return out


def x_axis_hours(plot: Plot, title: str) -> list[str]:
    """The time axis in hours from the start: tick marks and labels, the baseline and the title below."""
    hours = plot.x_max
    step = hour_step(hours)
    out = [line(plot.left, plot.bottom, plot.right, plot.bottom, MUTED)]
    h = 0
    while h <= hours + 1e-9:
        x = plot.x(h)
        out.append(line(x, plot.bottom, x, plot.bottom + 5, MUTED))
        out.append(text(x, plot.bottom + 18, f"{h}", anchor="middle", fill=MUTED))
        h += step
    out.append(text(plot.left + plot.width / 2, plot.bottom + 36, title, anchor="middle", fill=MUTED))
    return out


def x_axis_values(plot: Plot, ticks: Sequence[tuple[float, str]], title: str) -> list[str]:
    """A value axis with a tick and label at each given (x in data units, label), and the title below."""
    out = [line(plot.left, plot.bottom, plot.right, plot.bottom, MUTED)]
    for v, label in ticks:
        x = plot.x(v)
        out.append(line(x, plot.bottom, x, plot.bottom + 5, MUTED))
        out.append(text(x, plot.bottom + 18, label, anchor="middle", fill=MUTED))
    out.append(text(plot.left + plot.width / 2, plot.bottom + 36, title, anchor="middle", fill=MUTED))
    return out


# ------------------------------------------------------------------------------------------------ legend
@dataclass(frozen=True, slots=True)
class LegendItem:
    """One legend entry: a swatch ("line", "dash", "band", "box", "up", "dot") in `color`, and its label."""

    swatch: str
    color: str
    label: str


def _swatch(item: LegendItem, x: float, y: float) -> str:
    c = item.color
    if item.swatch == "line":
        return line(x, y, x + 22, y, c, 2.5)
    if item.swatch == "dash":
        return line(x, y, x + 22, y, c, 2, "6 4")
    if item.swatch == "vline":
        return line(x + 11, y - 7, x + 11, y + 7, c, 2, "5 3")
    if item.swatch == "band":
        return rect(x, y - 7, 22, 14, c, 0.25)
    if item.swatch == "up":
        return triangle(x + 11, y, 11, c)
    if item.swatch == "dot":
        return dot(x + 11, y, 5, c)
    return rect(x + 4, y - 6, 14, 12, c)


def legend(items: Sequence[LegendItem], left: float, top: float, width: float) -> tuple[list[str], float]:
    """Legend entries laid out left to right, wrapping within `width`; returns the SVG and its height."""
    out: list[str] = []
    row_h = 20.0
    x, y = left, top + row_h / 2
    for item in items:
        w = 28 + text_width(item.label) + 18
        if x > left and x + w > left + width:
            x, y = left, y + row_h
        out.append(_swatch(item, x, y))
        out.append(text(x + 28, y + 4, item.label))
        x += w
    return out, (y + row_h / 2 - top) if items else 0.0


def svg_root(width: float, height: float, label: str, body: Sequence[str]) -> str:
    """The <svg> element (inline in HTML, so no namespace URL is needed), scaled to its container."""
    return (f'<svg viewBox="0 0 {num(width)} {num(height)}" width="100%" role="img" aria-label="{escape(label)}" '
            f'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, Arial, sans-serif">'
            f"<title>{escape(label)}</title>\n" + "\n".join(body) + "\n</svg>")
