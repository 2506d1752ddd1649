"""A what-if sweep end to end: the grid, its replications on a backend, the summary. Shared by `mfi-sim sweep`
and the notebook API, so both give the same rows for the same scenario, grid and seed."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import __version__
from .backends import run_tasks
from .errors import OptionError
from .figures import FIGURES
from .grid import Setting, plan
from .replications import Stat, manifest, replicate_to_width, replication_seeds, summarize, tasks_for
from .scenario import scenario_from_data

__all__ = ["SweepRun", "Target", "run_sweep"]


@dataclass(frozen=True)
class Target:
    """Add replications until the 95% interval of `figure` is within ±`width` (a share, 0.05 = 5%) of its
    mean at every point, or `max_replications` is reached."""

    figure: str
    width: float
    max_replications: int


@dataclass
class SweepRun:
    """What a sweep ran and what it found: the grid, one row per (point, replication), the summary per point."""

    name: str
    source: str
    text: str
    base_seed: int
    settings: list[Setting]
    labels: list[dict[str, str]]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Stat | None]]
    replications: list[int]
    backend: str
    target: Target | None = None

    def manifest(self) -> str:
        """The JSON manifest: version, scenario hash, seeds, grid, replications used per point."""
        seeds = replication_seeds(self.base_seed, max(self.replications, default=0))
        target = None if self.target is None else {
            "figure": self.target.figure, "width": self.target.width,
            "max_replications": self.target.max_replications}
        return manifest(__version__, self.source, self.text, self.base_seed, seeds, self.settings, self.labels,
                        self.backend, self.replications, target)


def run_sweep(data: dict[str, Any], text: str, source: str, settings: Sequence[Setting], replications: int, *,
              seed: int | None = None, duration: float | None = None, workers: int = 1, dask: str | None = None,
              target: Target | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepRun:
    """Validates every point, runs `replications` of each (more with a target), and summarises."""
    base = scenario_from_data(dict(data), source, text)
    base_seed = base.seed if seed is None else seed
    points = plan(data, settings, source)
    labels = [lab for lab, _ in points]
    backend = f"dask:{dask}" if dask else f"processes:{workers}"

    def run(tasks: list[Any]) -> list[dict[str, Any]]:
        return run_tasks(tasks, workers=workers, dask=dask, progress=progress)

    if target is None:
        rows = run(tasks_for(points, replication_seeds(base_seed, replications), source, duration))
        used = [replications] * len(points)
    else:
        if target.figure not in {f.key for f in FIGURES}:
            names = ", ".join(f.key for f in FIGURES)
            raise OptionError(f"--target {target.figure!r}: not a figure; one of {names}")
        rows, used = replicate_to_width(points, base_seed, replications, target.figure, target.width,
                                        target.max_replications, run, source, duration)
    summary = summarize(rows, len(points))
    return SweepRun(base.name, source, text, base_seed, list(settings), labels, rows, summary, used, backend, target)
