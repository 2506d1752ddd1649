"""Kaplan–Meier quantiles of time in system, with recipients still queued at the end of a run as censored.

A recipient that was delivered or NDR'd has an observed time (arrival to delivery or NDR). One still queued
when the run ends is only known to have waited longer than its age then: right-censored. The Kaplan–Meier
product-limit estimator (Kaplan and Meier, 1958) uses both. Its q-quantile is the first time at which the
estimated share of recipients out of the system reaches q; where censoring leaves it short of q, the quantile
is only known to exceed the longest time seen, and is returned as that lower bound.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Quantile", "km_quantiles"]


@dataclass(frozen=True, slots=True)
class Quantile:
    """A quantile estimate; `more_than` means the value is a lower bound (censoring kept it from being reached)."""

    value: float
    more_than: bool


def km_quantiles(observed: Sequence[tuple[float, int]], censored: Sequence[tuple[float, int]],
                 qs: Sequence[float]) -> dict[float, Quantile | None]:
    """Quantiles `qs` (0..1) of the Kaplan–Meier estimate from (time, count) pairs; None without any data.

    At equal times, ends count before censoring (the usual convention: a censored recipient was still at risk)."""
    times: dict[float, list[int]] = {}
    for t, n in observed:
        times.setdefault(t, [0, 0])[0] += n
    for t, n in censored:
        times.setdefault(t, [0, 0])[1] += n
    at_risk = sum(n for _, n in observed) + sum(n for _, n in censored)
    if at_risk == 0:
        return {q: None for q in qs}
    survival = 1.0
    out: dict[float, Quantile | None] = {}
    pending = sorted(qs)
    for t in sorted(times):
        ended, lost = times[t]
        if ended and at_risk > 0:
            survival *= 1.0 - ended / at_risk
        at_risk -= ended + lost
        while pending and 1.0 - survival >= pending[0] - 1e-12:
            out[pending.pop(0)] = Quantile(t, False)
    last = max(times)
    for q in pending:
        out[q] = Quantile(last, True)
    return out
