"""`--metrics` and `--promtool-series`: the queue and alert time series, for Prometheus tools.

Both are pure functions of a Result and carry the same series, one point per evaluation snapshot:
- `openmetrics_text`: the OpenMetrics text exposition format, every sample with its timestamp (Unix seconds:
  the scenario's start plus simulated seconds), ending in `# EOF`; it can be backfilled into a Prometheus
  (`promtool tsdb create-blocks-from openmetrics`) or read by any OpenMetrics parser;
- `promtool_series_yaml`: a `promtool test rules` file whose one test group holds the series as
  `input_series` (interval = the scenario's evaluation period, time 0 = the scenario's start), to which an
  engineer adds their own rule files and `alert_rule_test` cases.

Counts are per recipient, as in message trace and `--json`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..result import Result
from ..queue import ACTIVE, READY, RETRY, SUSPENDED
from ..records import QueueSnapshot
from ..units import format_duration, iso_at

__all__ = ["Family", "Series", "metric_families", "openmetrics_text", "promtool_series_yaml", "promtool_duration",
           "compress_values"]

STATUSES = (READY, ACTIVE, RETRY, SUSPENDED)
Value = float | int | None


@dataclass(frozen=True)
class Series:
    """One labelled series: a value per instant of the run's snapshot times (None where it has none)."""

    name: str                                   # the sample name, e.g. mfi_messages_received_total
    labels: tuple[tuple[str, str], ...]
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Family:
    """A metric family: name, OpenMetrics type, help text, unit (or ""), and its series."""

    name: str
    type: str
    help: str
    unit: str
    series: tuple[Series, ...]


# (family name, type, unit, help, value of a snapshot). Counters' samples are named <family>_total.
_QueueMetric = tuple[str, str, str, str, Callable[[QueueSnapshot], Value]]


def _queue_metrics(queued_for: str) -> tuple[_QueueMetric, ...]:
    return (
        ("mfi_queue_messages", "gauge", "", "Messages waiting in the connector's queue (Get-Queue MessageCount).",
         lambda s: s.queued_messages),
        ("mfi_queue_recipients", "gauge", "", "Recipients waiting in the connector's queue.",
         lambda s: s.queued_recipients),
        ("mfi_queue_aged_messages", "gauge", "",
         f"Messages queued on the connector for longer than {queued_for} (what the alerts count).",
         lambda s: s.aged_messages),
        ("mfi_queue_oldest_message_age_seconds", "gauge", "seconds",
         "Time the oldest waiting message has spent in the queue (0 when the queue is empty).",
         lambda s: round(s.t - s.oldest_arrival, 3) if s.oldest_arrival is not None else 0),
        ("mfi_queue_retries", "gauge", "",
         "Consecutive failed connection attempts of the queue (Get-Queue RetryCount).", lambda s: s.retry_count),
        ("mfi_messages_received", "counter", "", "Recipients received by the service for the connector.",
         lambda s: s.received),
        ("mfi_messages_delivered", "counter", "", "Recipients delivered.", lambda s: s.delivered),
        ("mfi_messages_ndr", "counter", "", "Recipients returned to the sender with an NDR.", lambda s: s.ndr),
        ("mfi_messages_rejected", "counter", "", "Recipients rejected at once, without queueing.",
         lambda s: s.rejected),
        ("mfi_messages_expired", "counter", "", "Recipients whose message expired in the queue.",
         lambda s: s.expired),
        ("mfi_attempts", "counter", "", "Delivery attempts made on the connector.", lambda s: s.attempts),
    )


def metric_families(result: Result) -> tuple[tuple[float, ...], tuple[Family, ...]]:
    """The snapshot instants (simulated seconds) and the metric families with a value at each."""
    times = tuple(sorted({s.t for s in result.snapshots}))
    index = {t: i for i, t in enumerate(times)}
    connectors = [c.name for c in result.connectors]
    at: dict[str, list[QueueSnapshot | None]] = {c: [None] * len(times) for c in connectors}
    for s in result.snapshots:
        at.setdefault(s.connector, [None] * len(times))[index[s.t]] = s
    families = []
    for name, kind, unit, help_text, value in _queue_metrics(format_duration(result.scenario.alerts.queued_for)):
        sample = f"{name}_total" if kind == "counter" else name
        families.append(Family(name, kind, help_text, unit, tuple(
            Series(sample, (("connector", c),), tuple(value(s) if s is not None else None for s in at[c]))
            for c in connectors)))
    status_series = []
    for c in connectors:
        for status in STATUSES:
            status_series.append(Series("mfi_queue_status", (("connector", c), ("status", status)), tuple(
                (1 if s.status == status else 0) if s is not None else None for s in at[c])))
    families.insert(5, Family("mfi_queue_status", "gauge",
                              "1 for the queue's current Get-Queue status (Ready, Active, Retry, Suspended), "
                              "0 for the others.", "", tuple(status_series)))
    # An alert fires at the evaluations where its rule held: each of them appended to its history.
    firing: dict[tuple[str, str, str, str], set[float]] = {}
    for alert in result.alerts:
        for t, fields in alert.history:
            key = (alert.policy, fields.get("connector") or alert.connector, fields.get("code") or "", alert.kind)
            firing.setdefault(key, set()).add(t)
    families.append(Family(
        "mfi_alert_firing", "gauge",
        "1 at the evaluations where the alert's condition (insight or alert policy) holds on the connector with that "
        "error code, 0 otherwise (a policy alert can stay Active after its condition clears).", "",
        tuple(Series("mfi_alert_firing", (("alertname", key[0]), ("connector", key[1]), ("code", key[2]),
                                           ("kind", key[3])),
                     tuple(1 if t in firing[key] else 0 for t in times))
              for key in sorted(firing))))
    return times, tuple(families)


# ------------------------------------------------------------------------------------------------ OpenMetrics
def _escape(text: str) -> str:
    """A label value or help text escaped as OpenMetrics requires: backslash, double quote, line feed."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float | int) -> str:
    """A sample value or timestamp: integers without a fraction, others in their shortest exact form."""
    if isinstance(v, int):
        return str(v)
    if math.isfinite(v) and v == int(v):
        return str(int(v))
    return repr(float(v))


def _selector(s: Series) -> str:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
    return f"{s.name}{{{labels}}}" if labels else s.name


def openmetrics_text(result: Result) -> str:
    """The queue and alert series in the OpenMetrics text format, with timestamps, ending in `# EOF`."""
    times, families = metric_families(result)
    epoch = result.scenario.start.timestamp()
    stamps = [_number(round(epoch + t, 3)) for t in times]
    out = []
    for f in families:
        out.append(f"# TYPE {f.name} {f.type}\n")
        if f.unit:
            out.append(f"# UNIT {f.name} {f.unit}\n")
        out.append(f"# HELP {f.name} {_escape(f.help)}\n")
        for s in f.series:
            head = _selector(s)
            for v, stamp in zip(s.values, stamps):
                if v is not None:
                    out.append(f"{head} {_number(v)} {stamp}\n")
    out.append("# EOF\n")
    return "".join(out)


# ------------------------------------------------------------------------------------------------ promtool
def promtool_duration(seconds: float) -> str:
    """A Prometheus duration: 5m, 1h30m, 90s, or milliseconds when it is not a whole number of seconds."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    rest = ms // 1000
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def compress_values(values: list[Value]) -> str:
    """Values in promtool's expanding notation: a run of whole numbers a, a+b, ..., a+n*b becomes `a+bxn`
    (n + 1 values; b may be 0 or negative: `a-bxn`), a missing value is `_`, others are written as they are."""
    out = []
    i, n = 0, len(values)
    while i < n:
        v = values[i]
        if v is None:
            out.append("_")
            i += 1
            continue
        if v == int(v) and i + 2 < n:
            a = int(v)
            nxt = values[i + 1]
            if nxt is not None and nxt == int(nxt):
                step = int(nxt) - a
                j = i + 1
                while j + 1 < n and values[j + 1] is not None and values[j + 1] == a + (j + 1 - i) * step:
                    j += 1
                if j - i >= 2:
                    out.append(f"{a}{'+' if step >= 0 else '-'}{abs(step)}x{j - i}")
                    i = j + 1
                    continue
        out.append(_number(v))
        i += 1
    return " ".join(out)


def _yaml_single(text: str) -> str:
    """A YAML single-quoted scalar (the only escape is a doubled quote)."""
    return "'" + text.replace("'", "''") + "'"


def _comment(text: str) -> str:
    return " ".join(text.split())


def promtool_series_yaml(result: Result) -> str:
    """The series as a `promtool test rules` file: one test group whose `input_series` holds every series at
    the evaluation interval (snapshots off that cadence, such as the one at an uneven end, are left out)."""
    sc = result.scenario
    every = sc.alerts.evaluate_every
    interval = promtool_duration(every)
    times, families = metric_families(result)
    slots: dict[int, int] = {}                  # position in the promtool series -> index in `times`
    for i, t in enumerate(times):
        k = round(t / every)
        if abs(t - k * every) < 1e-6:
            slots[k] = i
    count = max(slots) + 1 if slots else 0
    end = iso_at(sc.start, (count - 1) * every) if count else iso_at(sc.start, 0)
    lines = [
        f"# mfi-sim series for `promtool test rules`: {_comment(sc.name)} (seed {result.seed})",
        f"# interval: {interval} (the scenario's alert evaluation period); time 0 is {iso_at(sc.start, 0)}, "
        f"the last value is at {promtool_duration((count - 1) * every) if count > 1 else '0s'} ({end})",
        "# To test alert rules against this run, add (appending to the end of this file works):",
        "#       alert_rule_test: [...]      <- indented 4 spaces: part of the test below, beside input_series",
        "#   rule_files: [your-rules.yml]    <- at the top level (paths are relative to this file)",
        "# then run: promtool test rules THIS_FILE",
        f"evaluation_interval: {interval}",
        "tests:",
        f"  - name: {_yaml_single(_comment(sc.name))}",
        f"    interval: {interval}",
        "    input_series:",
    ]
    for f in families:
        for s in f.series:
            values = [s.values[slots[k]] if k in slots else None for k in range(count)]
            lines.append(f"      - series: {_yaml_single(_selector(s))}")
            lines.append(f"        values: {_yaml_single(compress_values(values))}")
    return "\n".join(lines) + "\n"
