"""Replications of a what-if grid: seeds (common random numbers), tasks, confidence intervals, and adding
replications until an interval is as narrow as asked.

Replication r of every point uses the same seed, derived from the scenario seed by hashing, so results are
stable across runs, machines and backends. A task is a pure function of (scenario data, seed): whichever
backend runs it, its row is bit-identical.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .figures import COUNTS, FIGURES, Figure, connector_counts, figures_of, resolution_of
from .grid import Point, Setting

__all__ = ["Task", "Stat", "replication_seeds", "tasks_for", "run_task", "summarize", "t_quantile",
           "replicate_to_width", "manifest"]


@dataclass(frozen=True)
class Task:
    """One simulation: a point of the grid, a replication, the seed and the scenario data to run."""

    point: int
    replication: int
    seed: int
    data: dict[str, Any]
    source: str
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Stat:
    """A figure over the replications of a point: mean, 95% CI half-width (NaN with one value), how many
    replications it applied to, whether any was only a lower bound ("more than"), and its resolution."""

    mean: float
    ci95: float
    n: int
    more_than: bool = False
    resolution: float = 0.0


def replication_seeds(base: int, count: int) -> list[int]:
    """Independent 63-bit seeds for replications 0..count-1, derived from the scenario seed by SHA-256."""
    return [int.from_bytes(hashlib.sha256(f"mfi-sim replication {base} {r}".encode()).digest()[:8], "big")
            & (2 ** 63 - 1) for r in range(count)]


def tasks_for(points: Sequence[Point], seeds: Sequence[int], source: str, duration: float | None = None,
              first: int = 0) -> list[Task]:
    """Tasks for replications first..len(seeds)-1 of every point."""
    return [Task(i, r, seeds[r], variant, source, duration) for i, (_, variant) in enumerate(points)
            for r in range(first, len(seeds))]


def run_task(task: Task) -> dict[str, Any]:
    """Runs one task (in whatever process or worker) and returns its row: figures, and counts per connector."""
    from .engine import simulate
    from .scenario import scenario_from_data

    scenario = scenario_from_data(copy.deepcopy(task.data), task.source)
    result = simulate(scenario, seed=task.seed, duration=task.duration)
    row = {"point": task.point, "replication": task.replication, "seed": task.seed, **figures_of(result)}
    row["evaluate_every_s"] = scenario.alerts.evaluate_every
    row["connectors"] = [{"connector": c.name, **connector_counts(c)} for c in result.connectors]
    return row


# 95% two-sided Student t quantiles by degrees of freedom (standard tables); beyond 30 interpolated
# towards the normal 1.960.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
        29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (95% two-sided interval)."""
    if df in _T95:
        return _T95[df]
    keys = sorted(_T95)
    if df > keys[-1]:
        return 1.960
    lo = max(k for k in keys if k < df)
    hi = min(k for k in keys if k > df)
    # interpolate in 1/df, which is how the tables are meant to be read
    w = (1 / lo - 1 / df) / (1 / lo - 1 / hi)
    return _T95[lo] + w * (_T95[hi] - _T95[lo])


def _stat(group: Sequence[dict[str, Any]], key: str, resolution_kind: str) -> Stat | None:
    values = [float(r[key]) for r in group if r.get(key) is not None]
    if not values:
        return None
    mean = statistics.fmean(values)
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)) \
        if len(values) > 1 else math.nan
    more = any(r.get(key.removesuffix("_s") + "_more_than") for r in group)
    every = float(group[0].get("evaluate_every_s", 300.0))
    res = resolution_of(Figure(key, key, "", resolution_kind), every, mean)
    return Stat(mean, half, len(values), bool(more), res)


def summarize(rows: Iterable[dict[str, Any]], points: int) -> list[dict[str, Stat | None]]:
    """Per point and figure: its Stat over the replications where it applies (None where it never did)."""
    by_point: list[list[dict[str, Any]]] = [[] for _ in range(points)]
    for row in rows:
        by_point[row["point"]].append(row)
    return [{f.key: _stat(group, f.key, f.resolution) for f in FIGURES} for group in by_point]


def _needed(stat: Stat | None, width: float, have: int, cap: int) -> int:
    """Replications a point needs so the figure's 95% half-width is within `width` (a share) of its mean."""
    if stat is None or have >= cap:
        return have
    if stat.n < 2 or math.isnan(stat.ci95):
        return min(max(have + 1, 2), cap)
    target = width * abs(stat.mean)
    if stat.ci95 <= max(target, stat.resolution):
        return have
    sd = stat.ci95 * math.sqrt(stat.n) / t_quantile(stat.n - 1)
    estimate = math.ceil((t_quantile(stat.n - 1) * sd / target) ** 2) if target > 0 else cap
    return min(max(estimate, have + 1), cap)


def replicate_to_width(points: Sequence[Point], base_seed: int, start: int, figure: str, width: float, cap: int,
                       run: Callable[[list[Task]], list[dict[str, Any]]], source: str,
                       duration: float | None = None) -> tuple[list[dict[str, Any]], list[int]]:
    """Runs `start` replications of every point, then more for each point whose 95% interval of `figure` is
    wider than ±`width` (a share of its mean) and above the figure's resolution, up to `cap`. Deterministic:
    the replications added depend only on the results. Returns the rows (by point, then replication) and the
    replications used per point."""
    if figure not in {f.key for f in FIGURES}:
        raise ValueError(f"unknown figure {figure!r}")
    used = [0] * len(points)
    rows: list[dict[str, Any]] = []
    want = [min(start, cap)] * len(points)
    while True:
        seeds = replication_seeds(base_seed, max(want))
        todo = [Task(i, r, seeds[r], points[i][1], source, duration) for i in range(len(points))
                for r in range(used[i], want[i])]
        if not todo:
            break
        rows.extend(run(todo))
        used = list(want)
        summary = summarize(rows, len(points))
        want = [_needed(s[figure], width, used[i], cap) for i, s in enumerate(summary)]
    rows.sort(key=lambda r: (r["point"], r["replication"]))
    return rows, used


def manifest(version: str, source: str, text: str, base_seed: int, seeds: Sequence[int],
             settings: Sequence[Setting], points: Sequence[dict[str, str]], backend: str,
             replications_used: Sequence[int] | None = None, target: dict[str, Any] | None = None) -> str:
    """What a sweep ran, so it can be run again: version, scenario hash, seeds, grid, replications used."""
    data: dict[str, Any] = {
        "version": version, "scenario": source,
        "scenario_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "base_seed": base_seed, "replication_seeds": list(seeds),
        "settings": [{"key": s.key, "values": list(s.texts)} for s in settings],
        "points": list(points), "backend": backend,
        "replications_used": list(replications_used) if replications_used is not None else
        [len(seeds)] * len(points),
        "figures": [f.key for f in FIGURES], "connector_counts": list(COUNTS),
    }
    if target is not None:
        data["target"] = target
    return json.dumps(data, indent=2) + "\n"
