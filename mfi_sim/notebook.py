"""The Python API for notebooks: load a scenario (with overrides), simulate it, sweep a grid; every result turns
into plain records (lists of flat dicts) that `pandas.DataFrame` takes as they are.

    import mfi_sim
    sc = mfi_sim.load("outage-longer-than-expiration", **{"faults[0].end": "20h"})
    run = mfi_sim.simulate(sc, seed=7)
    sw = mfi_sim.sweep(sc, {"faults[0].duration": ["2h", "6h"], "connectors[0].max_connections": [10, 20]},
                       replications=5)
    sw.to_pandas()          # needs pandas: pip install 'mfi-sim[notebook]'

Overrides and grid keys are the dotted paths of `mfi-sim sweep --set` (`faults[0].end`, `traffic.rate`,
`connectors[0].max_connections`); values are what the TOML file would hold (10, "6h", "300/h", True).
Dotted keys are not Python names, so pass them as `**{"faults[0].end": "20h"}` or `overrides={...}`.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ScenarioError

if TYPE_CHECKING:
    from .result import Result
    from .scenario.schema import Scenario
    from .whatif import SweepRun

__all__ = ["Loaded", "SweepResult", "load", "simulate", "sweep", "result_record", "snapshot_records"]


@dataclass(frozen=True)
class Loaded:
    """A scenario loaded for a notebook: the validated Scenario the engine runs, and the data it was built from
    (so a sweep can vary it). Reads like the Scenario itself: `sc.name`, `sc.duration`, `sc.connectors`."""

    scenario: Scenario
    data: dict[str, Any]
    source: str
    text: str

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "scenario" not in self.__dict__:
            raise AttributeError(name)      # (copying or unpickling asks before the fields exist)
        return getattr(self.scenario, name)


def load(path_or_name: str | Path, overrides: Mapping[str, Any] | None = None, **more: Any) -> Loaded:
    """Reads a scenario file or a bundled scenario by name, applies dotted-path overrides (as `--set`) and
    validates it; ScenarioError or OptionError (both MfiSimError) naming the file and field when it is not valid."""
    from .grid import apply
    from .scenario import parse_toml, read_text, scenario_from_data

    ref = str(path_or_name)
    text = read_text(ref)
    data = parse_toml(text, ref)
    for key, value in {**(overrides or {}), **more}.items():
        apply(data, key, copy.deepcopy(value))
    scenario = scenario_from_data(copy.deepcopy(data), ref, text)
    return Loaded(scenario, data, ref, text)


def _scenario(scenario: Scenario | Loaded) -> Scenario:
    return scenario.scenario if isinstance(scenario, Loaded) else scenario


def simulate(scenario: Scenario | Loaded, seed: int | None = None, duration: float | None = None,
             **options: Any) -> Result:
    """Runs a scenario (from `load`, or a Scenario) and returns its Result; `result.figures()` and
    `result.records()` give plain records, `result.to_pandas()` a DataFrame of the queue over time. `options`
    go to the engine as they are (`trace`, `on_ndr`, `observe_at`)."""
    from .engine import simulate as run

    return run(_scenario(scenario), seed, duration, **options)


def result_record(result: Result) -> dict[str, Any]:
    """One run's figures as one flat record (the same keys as a sweep row), with the scenario name and seed."""
    from .figures import figures_of

    return {"scenario": result.scenario.name, "seed": result.seed, **figures_of(result)}


def snapshot_records(result: Result) -> list[dict[str, Any]]:
    """The queue of every connector at every evaluation (t in seconds, and hours for plotting), as records."""
    return [{"hours": s.t / 3600.0, **asdict(s)} for s in result.snapshots]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install 'mfi-sim[notebook]'") from None
    return pandas


@dataclass
class SweepResult:
    """A finished sweep: `rows` (one flat record per point and replication, the swept settings as columns),
    `summary` (per point: `<figure>_mean`, `_ci95`, `_n`), `connectors` (outcome counts per connector)."""

    run: SweepRun

    def _settings(self, point: int) -> dict[str, Any]:
        """The swept values of a point as given (10 stays a number, "6h" a string), for grouping and plotting."""
        labels = self.run.labels[point]
        return {s.key: s.values[s.texts.index(labels[s.key])] for s in self.run.settings}

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [{**self._settings(r["point"]), **{k: v for k, v in r.items() if k != "connectors"}}
                for r in self.run.rows]

    @property
    def summary(self) -> list[dict[str, Any]]:
        from .figures import FIGURES

        out = []
        for i, summ in enumerate(self.run.summary):
            record: dict[str, Any] = {"point": i, **self._settings(i), "replications": self.run.replications[i]}
            for f in FIGURES:
                stat = summ[f.key]
                record[f"{f.key}_mean"] = None if stat is None else stat.mean
                record[f"{f.key}_ci95"] = None if stat is None or stat.ci95 != stat.ci95 else stat.ci95
                record[f"{f.key}_n"] = 0 if stat is None else stat.n
            out.append(record)
        return out

    @property
    def connectors(self) -> list[dict[str, Any]]:
        return [{"point": r["point"], "replication": r["replication"], **self._settings(r["point"]), **c}
                for r in self.run.rows for c in r["connectors"]]

    def records(self) -> list[dict[str, Any]]:
        """The rows, as plain records (what `pandas.DataFrame(...)` takes)."""
        return self.rows

    def to_pandas(self, what: str = "rows") -> Any:
        """A DataFrame of `rows`, `summary` or `connectors` (needs pandas)."""
        if what not in ("rows", "summary", "connectors"):
            raise ValueError(f"what: expected rows, summary or connectors, got {what!r}")
        return _pandas().DataFrame(getattr(self, what))

    def table(self) -> str:
        """The terminal table: mean ± 95% CI per figure and point, durations in human units."""
        from .output.sweep_report import table_text

        return table_text(self.run.labels, self.run.summary, self.run.replications)

    def report(self, path: str | Path) -> None:
        """Writes the self-contained HTML page (charts with confidence bands, the table, the manifest)."""
        from .output.atomic import write_atomic
        from .output.sweep_html import sweep_html

        write_atomic(str(path), sweep_html(self.run))

    def _repr_html_(self) -> str:
        from .output.sweep_html import sweep_html

        return sweep_html(self.run, fragment=True)


def sweep(scenario: Loaded | str | Path, grid: Mapping[str, Sequence[Any]], replications: int = 3, *,
          seed: int | None = None, duration: float | None = None, workers: int = 1, dask: str | None = None,
          target: str | None = None, target_width: float | None = None, max_replications: int = 30) -> SweepResult:
    """Runs every combination of the grid's values (dotted path -> values to try) `replications` times with
    common random numbers; with `target` and `target_width` (percent), adds replications until the figure's
    95% interval is within ±target_width% of its mean. Same rows as `mfi-sim sweep` for the same inputs."""
    from .grid import setting
    from .whatif import Target, run_sweep

    loaded = scenario if isinstance(scenario, Loaded) else load(scenario)
    settings = [setting(key, list(values)) for key, values in grid.items()]
    goal = None
    if target is not None or target_width is not None:
        goal = Target(target or "p95_time_in_system_s", (target_width or 10.0) / 100.0, max_replications)
    return SweepResult(run_sweep(loaded.data, loaded.text, loaded.source, settings, replications, seed=seed,
                                 duration=duration, workers=workers, dask=dask, target=goal))
