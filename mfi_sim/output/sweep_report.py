"""Sweep outputs: the terminal table (mean and 95% CI per figure and point, durations in human units), and
the CSV rows, per-connector counts and summary (full precision, seconds)."""
from __future__ import annotations

import csv
import io
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from ..escaping import csv_cell
from ..figures import COUNTS, FIGURES, Figure
from ..replications import Stat
from ..units import format_duration

__all__ = ["table_text", "rows_csv", "connectors_csv", "summary_csv", "human_duration", "stat_text",
           "value_text", "TABLE_NOTE"]

#: Points per block of the terminal table (wider grids wrap into several blocks).
_BLOCK = 6

TABLE_NOTE = ("± is the 95% confidence interval (Student t) over the replications. '±\u00a0<5m' or '±\u00a0<1%': the "
              "interval is narrower than the figure's resolution (alerts and drains are seen at each alert "
              "evaluation; percentiles are kept to within 1%), not zero variance. '–': it never happened (no "
              "failure, no alert, no recovery, no drain in the run). '>': a lower bound, because recipients still "
              "queued at the end are censored (Kaplan–Meier over all recipients).")


def human_duration(seconds: float) -> str:
    """A duration for people: 490ms, 4.2s, 42s, 12m30s, 2h05m, 1d02h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        m = int(round(seconds / 60))
        return f"{m // 60}h{m % 60:02d}m"
    h = int(round(seconds / 3600))
    return f"{h // 24}d{h % 24:02d}h"


def value_text(figure: Figure, value: float) -> str:
    """A figure's value in its unit, for people."""
    if figure.unit == "s":
        return human_duration(value)
    if figure.unit == "share":
        return f"{100 * value:#.2g}%" if 0 < abs(value) < 0.01 else f"{100 * value:.1f}%"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _resolution_text(figure: Figure, resolution: float) -> str:
    if figure.resolution == "bucket":
        return "1%"
    return format_duration(resolution) if figure.unit == "s" else value_text(figure, resolution)


def stat_text(figure: Figure, stat: Stat | None, replications: int) -> str:
    """`mean ± half-width`, `± <resolution` when narrower than the resolution, `–` when it never happened."""
    if stat is None:
        return "–"
    cell = ("> " if stat.more_than else "") + value_text(figure, stat.mean)
    if stat.n > 1 and not math.isnan(stat.ci95):
        if stat.resolution > 0 and stat.ci95 < stat.resolution:
            cell += f" ± <{_resolution_text(figure, stat.resolution)}"
        else:
            cell += f" ± {value_text(figure, stat.ci95)}"
    return cell if stat.n == replications else f"{cell} (n={stat.n})"


def _heading(figure: Figure) -> str:
    return f"{figure.title} ({figure.unit})" if figure.unit in ("recipients", "messages") else figure.title


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def table_text(labels: Sequence[dict[str, str]], summary: Sequence[dict[str, Stat | None]],
               replications: Sequence[int]) -> str:
    """One column per point (its settings on top), one line per figure; wide grids wrap into blocks."""
    keys = list(labels[0]) if labels else []
    out: list[str] = []
    for start in range(0, len(labels), _BLOCK):
        block = range(start, min(start + _BLOCK, len(labels)))
        rows = [[key, *(labels[i][key] for i in block)] for key in keys] or [["point", *(str(i) for i in block)]]
        rows.append(["-" * 8, *("-" * 8 for _ in block)])
        for f in FIGURES:
            rows.append([_heading(f), *(stat_text(f, summary[i][f.key], replications[i]) for i in block)])
        out.extend(_grid(rows))
        out.append("")
    reps = sorted(set(replications))
    count = f"{reps[0]}" if len(reps) == 1 else f"{reps[0]} to {reps[-1]}"
    if reps[-1] > 1:
        note = f"{count} replications per point. {TABLE_NOTE}"
    else:
        note = ("1 replication per point (use --replications N for confidence intervals). '–': it never "
                "happened; '>': a lower bound (recipients still queued at the end are censored).")
    out.append(textwrap.fill(note, 110))
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def rows_csv(labels: Sequence[dict[str, str]], rows: Sequence[dict[str, Any]]) -> str:
    """One row per (point, replication): the settings, the seed and every figure (seconds, shares 0..1)."""
    keys = list(labels[0]) if labels else []
    extra = ["p50_time_in_system_more_than", "p95_time_in_system_more_than"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["point", "replication", "seed", *keys, *(f.key for f in FIGURES), *extra])
    for row in rows:
        lab = labels[row["point"]]
        w.writerow([row["point"], row["replication"], row["seed"], *(csv_cell(lab[k]) for k in keys),
                    *(_cell(row[f.key]) for f in FIGURES), *(_cell(row[k]) for k in extra)])
    return out.getvalue()


def connectors_csv(labels: Sequence[dict[str, str]], rows: Sequence[dict[str, Any]]) -> str:
    """One row per (point, replication, connector): the outcome counts of that connector."""
    keys = list(labels[0]) if labels else []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["point", "replication", "seed", *keys, "connector", *COUNTS])
    for row in rows:
        lab = labels[row["point"]]
        for c in row["connectors"]:
            w.writerow([row["point"], row["replication"], row["seed"], *(csv_cell(lab[k]) for k in keys), csv_cell(c["connector"]),
                        *(c[k] for k in COUNTS)])
    return out.getvalue()


def summary_csv(labels: Sequence[dict[str, str]], summary: Sequence[dict[str, Stat | None]]) -> str:
    """One row per point: `<figure>_mean`, `<figure>_ci95` and `<figure>_n` for every figure."""
    keys = list(labels[0]) if labels else []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["point", *keys, *(f"{f.key}_{part}" for f in FIGURES for part in ("mean", "ci95", "n"))])
    for i, (lab, summ) in enumerate(zip(labels, summary)):
        cells: list[Any] = [i, *(csv_cell(lab[k]) for k in keys)]
        for f in FIGURES:
            stat = summ[f.key]
            cells.extend(["", "", 0] if stat is None else
                         [repr(stat.mean), "" if math.isnan(stat.ci95) else repr(stat.ci95), stat.n])
        w.writerow(cells)
    return out.getvalue()
