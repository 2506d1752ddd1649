"""Sweep outputs: the terminal table (mean and 95% CI per metric), and CSV rows and summary."""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from ..sweep import METRICS

__all__ = ["table_text", "rows_csv", "summary_csv"]


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table_text(labels: Sequence[dict[str, str]], summary: Sequence[dict[str, Any]], replications: int) -> str:
    """One line per point: its settings, then mean ± 95% CI half-width of each metric."""
    keys = list(labels[0]) if labels else []
    head = keys + [f"{title} ({unit})" for _, title, unit in METRICS]
    body = []
    for lab, summ in zip(labels, summary):
        cells = [lab[k] for k in keys]
        for key, _, _ in METRICS:
            stat = summ[key]
            if stat is None:
                cells.append("n/a")
            else:
                mean, half, n = stat
                cell = _fmt(mean) if replications == 1 or math.isnan(half) else f"{_fmt(mean)} ± {_fmt(half)}"
                cells.append(cell if n == replications else f"{cell} (n={n})")
        body.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (f"{replications} replications per point; ± is the 95% confidence interval (Student t)."
            if replications > 1 else "1 replication per point (use --replications N for confidence intervals).")
    return "\n".join(lines) + "\n" + note + "\n"


def rows_csv(labels: Sequence[dict[str, str]], rows: Sequence[dict[str, Any]]) -> str:
    """One row per (point, replication): the settings, the seed and every figure."""
    keys = list(labels[0]) if labels else []
    figures = ["received", "delivered", "ndr", "queued_at_end", "peak_queue", "drain_s", "first_alert_s",
               "p95_latency_s"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["point", "replication", "seed", *keys, *figures])
    for row in rows:
        lab = labels[row["point"]]
        w.writerow([row["point"], row["replication"], row["seed"], *(lab[k] for k in keys),
                    *("" if row[f] is None else repr(float(row[f])) for f in figures)])
    return out.getvalue()


def summary_csv(labels: Sequence[dict[str, str]], summary: Sequence[dict[str, Any]]) -> str:
    """One row per point: mean, CI half-width and n of each metric."""
    keys = list(labels[0]) if labels else []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["point", *keys, *(f"{k}_{part}" for k, _, _ in METRICS for part in ("mean", "ci95", "n"))])
    for i, (lab, summ) in enumerate(zip(labels, summary)):
        cells: list[Any] = [i, *(lab[k] for k in keys)]
        for key, _, _ in METRICS:
            stat = summ[key]
            cells.extend(["", "", 0] if stat is None else [repr(stat[0]), "" if math.isnan(stat[1]) else
                                                          repr(stat[1]), stat[2]])
        w.writerow(cells)
    return out.getvalue()
