"""What-if sweeps: a grid of scenario variants x replications, run on local processes or a Dask cluster.

`--set KEY=V1,V2` changes any scenario field by its dotted path (`traffic.rate`, `faults[0].duration`,
`connectors[0].max_connections`, `tenant.retry`); without an index, a path into an array of tables changes
every entry. Every point is validated before anything runs. Replication r of every point uses the same seed
(common random numbers), derived from the scenario seed by hashing, so results are stable across runs,
machines and backends. Each task is a pure function of (scenario data, seed): whichever backend runs it,
the numbers are bit-identical.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import statistics
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .engine import Result, simulate
from .errors import OptionError, ScenarioError
from .scenario import scenario_from_data

__all__ = ["Setting", "Task", "parse_set", "plan", "replication_seeds", "run_task", "run_tasks", "metrics_of",
           "summarize", "METRICS", "t_quantile"]

#: The figures each task reports, in table order: (key, heading, unit).
METRICS = (
    ("delivered", "delivered", "recipients"),
    ("ndr", "NDR", "recipients"),
    ("peak_queue", "peak queue", "messages"),
    ("drain_s", "drain after fault", "s"),
    ("first_alert_s", "first alert after fault", "s"),
    ("p95_latency_s", "p95 latency", "s"),
)


@dataclass(frozen=True)
class Setting:
    """One `--set KEY=V1,V2,...`: where in the scenario, and the values (as typed in TOML)."""

    key: str
    path: tuple[str | int, ...]
    values: tuple[Any, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    """One simulation: a point of the grid, a replication, the seed and the scenario data to run."""

    point: int
    replication: int
    seed: int
    data: dict[str, Any]
    source: str
    duration: float | None = None


def _typed(text: str) -> Any:
    """A value as TOML would read it (10 -> int, true -> bool, "6h" or 6h -> str)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_set(expr: str) -> Setting:
    """Parses `KEY=V1,V2`; OptionError when malformed."""
    key, sep, rest = expr.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise OptionError(f"--set {expr!r}: expected KEY=VALUE[,VALUE...], e.g. traffic.rate=100/s,300/s")
    path: list[str | int] = []
    for part in key.split("."):
        name, _, index = part.partition("[")
        if not name or (index and not index.endswith("]")):
            raise OptionError(f"--set {expr!r}: bad key {key!r}")
        path.append(name)
        if index:
            try:
                path.append(int(index[:-1]))
            except ValueError:
                raise OptionError(f"--set {expr!r}: bad index in {part!r}") from None
    texts = tuple(v.strip() for v in rest.split(","))
    if any(not v for v in texts):
        raise OptionError(f"--set {expr!r}: empty value")
    return Setting(key, tuple(path), tuple(_typed(v) for v in texts), texts)


def _apply(data: Any, path: Sequence[str | int], value: Any, key: str) -> None:
    """Sets `value` at `path` inside parsed TOML data (fanning out over arrays of tables)."""
    head, rest = path[0], path[1:]
    if isinstance(data, list):
        if isinstance(head, int):
            if not 0 <= head < len(data):
                raise OptionError(f"--set {key}: index {head} is out of range (there are {len(data)})")
            target = data[head]
            if not rest:
                data[head] = value
                return
            _apply(target, rest, value, key)
            return
        if not data:
            raise OptionError(f"--set {key}: the scenario has no entries to change there")
        for item in data:
            _apply(item, path, value, key)
        return
    if not isinstance(data, dict) or isinstance(head, int):
        raise OptionError(f"--set {key}: cannot index into this field")
    if not rest:
        data[head] = value
        return
    if head not in data:
        data[head] = {} if not isinstance(rest[0], int) else []
    _apply(data[head], rest, value, key)


def plan(data: dict[str, Any], settings: Sequence[Setting], source: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every point of the grid (the cartesian product of the settings): its labels and its validated data."""
    points = []
    for combo in itertools.product(*(range(len(s.values)) for s in settings)):
        variant = copy.deepcopy(data)
        labels = {}
        for setting, i in zip(settings, combo):
            _apply(variant, setting.path, copy.deepcopy(setting.values[i]), setting.key)
            labels[setting.key] = setting.texts[i]
        try:
            scenario_from_data(copy.deepcopy(variant), source)
        except ScenarioError as exc:
            where = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ScenarioError(f"with {where}: {exc.field + ': ' if exc.field else ''}{exc.message}",
                                file=source) from None
        points.append((labels, variant))
    return points


def replication_seeds(base: int, count: int) -> list[int]:
    """Independent 63-bit seeds for replications 0..count-1, derived from the scenario seed by SHA-256."""
    return [int.from_bytes(hashlib.sha256(f"mfi-sim replication {base} {r}".encode()).digest()[:8], "big")
            & (2 ** 63 - 1) for r in range(count)]


def metrics_of(result: Result) -> dict[str, float | None]:
    """The sweep's figures for one run (None where a figure does not apply, e.g. no fault)."""
    queues = result.queues
    c_delivered = sum(q.counters.delivered for q in queues)
    c_ndr = sum(q.counters.ndr for q in queues)
    windows = result.fault_windows
    fault_start = min((w[2] for w in windows), default=None)
    fault_end = max((w[3] for w in windows), default=None)
    drain = None
    if fault_end is not None:
        for note in result.recorder.timeline:
            if note.kind == "queue_drained" and note.t >= fault_end:
                drain = note.t - fault_end
                break
    first_alert = None
    raised = [a.raised_s for a in result.alerts.alerts]
    if raised:
        first_alert = min(raised) - (fault_start or 0.0)
    return {
        "received": float(sum(q.counters.received for q in queues)),
        "delivered": float(c_delivered), "ndr": float(c_ndr),
        "queued_at_end": float(sum(q.counters.queued for q in queues)),
        "peak_queue": float(max((q.counters.max_queue_depth for q in queues), default=0)),
        "drain_s": drain, "first_alert_s": first_alert,
        "p95_latency_s": result.latency.percentile(0.95),
    }


def run_task(task: Task) -> dict[str, Any]:
    """Runs one task (in whatever process or worker) and returns its row."""
    scenario = scenario_from_data(copy.deepcopy(task.data), task.source)
    result = simulate(scenario, seed=task.seed, duration=task.duration)
    return {"point": task.point, "replication": task.replication, "seed": task.seed, **metrics_of(result)}


def run_tasks(tasks: Sequence[Task], workers: int = 1, dask: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Runs the tasks inline (workers=1), on a local process pool, or on Dask; rows in task order."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(tasks))

    if dask is not None:
        return _run_dask(tasks, dask, workers, tick)
    if workers <= 1 or len(tasks) <= 1:
        rows = []
        for task in tasks:
            rows.append(run_task(task))
            tick()
        return rows
    from concurrent.futures import ProcessPoolExecutor, as_completed

    rows_by_index: dict[int, dict[str, Any]] = {}
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)))
    try:
        futures = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            rows_by_index[futures[future]] = future.result()
            tick()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [rows_by_index[i] for i in range(len(tasks))]


def _run_dask(tasks: Sequence[Task], address: str, workers: int, tick: Callable[[], None]) -> list[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise OptionError("--dask needs the dask extra: pip install 'mfi-sim[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise OptionError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
    try:
        futures = client.map(run_task, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        rows: dict[int, dict[str, Any]] = {}
        for future in as_completed(futures):
            rows[index[future.key]] = future.result()
            tick()
        return [rows[i] for i in range(len(tasks))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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


def summarize(rows: Iterable[dict[str, Any]], points: int) -> list[dict[str, tuple[float, float, int] | None]]:
    """Per point and metric: (mean, 95% CI half-width, n) over the replications where it applies."""
    by_point: list[list[dict[str, Any]]] = [[] for _ in range(points)]
    for row in rows:
        by_point[row["point"]].append(row)
    out = []
    for group in by_point:
        summary: dict[str, tuple[float, float, int] | None] = {}
        for key, _, _ in METRICS:
            values = [r[key] for r in group if r[key] is not None]
            if not values:
                summary[key] = None
                continue
            mean = statistics.fmean(values)
            half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)) \
                if len(values) > 1 else math.nan
            summary[key] = (mean, half, len(values))
        out.append(summary)
    return out


def manifest(version: str, source: str, text: str, base_seed: int, seeds: Sequence[int],
             settings: Sequence[Setting], points: Sequence[dict[str, str]], backend: str) -> str:
    """What a sweep ran, so it can be run again: version, scenario hash, seeds, grid."""
    return json.dumps({
        "version": version, "scenario": source,
        "scenario_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "base_seed": base_seed, "replication_seeds": list(seeds),
        "settings": [{"key": s.key, "values": list(s.texts)} for s in settings],
        "points": list(points), "backend": backend,
    }, indent=2) + "\n"
