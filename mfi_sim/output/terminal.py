"""The terminal summary of a run: the story, counts, latency, queues, NDRs by code, and the timeline."""
from __future__ import annotations

import textwrap

from ..result import Result
from ..scenario.schema import Scenario
from ..units import format_duration, format_latency, iso_at
from .json_result import result_dict

__all__ = ["summary_text", "story_text"]


def story_text(sc: Scenario) -> str:
    """The scenario's name and description, wrapped for a terminal (printed at the top of `run`)."""
    lines = [sc.name, "=" * len(sc.name)]
    if sc.description:
        for para in sc.description.split("\n\n"):
            lines.append(textwrap.fill(" ".join(para.split()), 100))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def summary_text(result: Result, width: int = 0) -> str:
    """Counts, latency percentiles, queue peak, per-connector status and NDRs by status, then the timeline,
    its entries wrapped to `width` columns under their text (0: no wrapping)."""
    d = result_dict(result)
    s = d["summary"]
    lat = s["latency_s"]
    sc = result.scenario
    out = [f"Simulated {format_duration(result.duration)} from {d['start']} (seed {result.seed}).", ""]
    out.append(f"  received {s['received']:>9}   delivered {s['delivered']:>9}   NDR {s['ndr']:>7}   "
               f"rejected {s['rejected']:>7}   still queued {s['queued_at_end']:>7}")
    out.append(f"  attempts {s['attempts']:>9}   peak queue {s['max_queue_depth']:>8} messages")
    out.append(f"  latency of delivered mail: p50 {format_latency(lat['p50'])}, p95 {format_latency(lat['p95'])}, "
               f"p99 {format_latency(lat['p99'])}, max {format_latency(lat['max'])}")
    out.append("")
    out.append("Connectors")
    for c in d["connectors"]:
        out.append(f"  {c['name']}: {c['status_at_end']}, {c['delivered']} delivered, {c['ndr']} NDR, "
                   f"{c['rejected']} rejected, {c['queued_at_end']} queued (peak {c['max_queue_depth']})")
        if c["last_error"]:
            out.append(f"    last error: {c['last_error']}")
        for code, n in c["codes_seen"].items():
            out.append(f"    {code}: {n} failed attempt{'s' if n != 1 else ''}")
    if d["ndrs"]["by_status"]:
        out.append("")
        out.append("NDRs by status")
        for status, n in d["ndrs"]["by_status"].items():
            out.append(f"  {status}: {n}")
    if result.timeline:
        out.append("")
        out.append("Timeline")
        for e in result.timeline:
            out.append(_wrapped(f"  {format_duration(e.t):>8}  {iso_at(sc.start, e.t)[11:19]}  ", e.text, width))
    return "\n".join(out) + "\n"


def _wrapped(head: str, text: str, width: int) -> str:
    """`head` then `text`, continued on lines indented under the text when longer than `width` (if given)."""
    if width <= len(head) + 20:
        return head + text
    return textwrap.fill(text, width, initial_indent=head, subsequent_indent=" " * len(head),
                         break_long_words=False, break_on_hyphens=False)
