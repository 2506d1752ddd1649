"""Everything a run produced, as frozen records: per-connector summaries, queue snapshots, the timeline, alerts,
notifications and actions. Outputs (JSON, terminal, HTML, metrics, figures) are pure functions of a Result.

A Result holds no live object of the engine: the engine copies what it needs when it hands a Result over
(`Engine.finish`, `Engine.view`), so the Result stays the same whatever the engine does afterwards.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .records import LatencyHistogram

if TYPE_CHECKING:
    from .actions import ActionRecord
    from .alerts import AlertRecord, Notification
    from .records import QueueSnapshot, Tally, TimelineEntry
    from .scenario.schema import Fault, Scenario
    from .summary import ConnectorSummary

__all__ = ["Result", "FaultWindow"]

#: (index in [[faults]], fault, start, end as it really was: clear_fault moves the end earlier).
FaultWindow = tuple[int, "Fault", float, float]


def _empty() -> Mapping[float, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Result:
    """A run up to `duration`: what its outputs are made of (all frozen: tuples, read-only mappings, records)."""

    scenario: Scenario
    seed: int
    duration: float
    version: str
    connectors: tuple[ConnectorSummary, ...]
    """One summary per connector, in [[connectors]] order."""
    snapshots: tuple[QueueSnapshot, ...] = ()
    """Every connector's queue at every evaluation, in time order (one per connector per instant)."""
    timeline: tuple[TimelineEntry, ...] = ()
    """The story, in time order."""
    alerts: tuple[AlertRecord, ...] = ()
    """Every alert raised, in the order raised, as it stood at the end."""
    notifications: tuple[Notification, ...] = ()
    observations: Mapping[float, tuple[QueueSnapshot, ...]] = field(default_factory=_empty)
    """Extra instants where [[tests]] look at the queues: the snapshots there."""
    fault_windows: tuple[FaultWindow, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    """Every admin action taken, accepted or refused, in the order taken."""
    tallies: Mapping[float, tuple[Tally, ...]] = field(default_factory=_empty)
    """Per connector at each observed instant: NDRs by status and latency so far (for metric tests)."""

    @property
    def latency(self) -> LatencyHistogram:
        """Latency of delivered mail over every connector (a new histogram at each call)."""
        total = LatencyHistogram()
        for c in self.connectors:
            total.merge(c.latency)
        return total

    def connector(self, name: str) -> ConnectorSummary:
        """The summary of the connector called `name`; KeyError if there is none."""
        for c in self.connectors:
            if c.name == name:
                return c
        raise KeyError(name)

    def firing_at(self, t: float) -> list[AlertRecord]:
        """Alerts Active at `t`."""
        return [a for a in self.alerts if a.firing_at(t)]

    def figures(self) -> dict[str, Any]:
        """The run's figures as one flat record (the keys of a sweep row; see mfi_sim.figures)."""
        from .notebook import result_record

        return result_record(self)

    def records(self) -> list[dict[str, Any]]:
        """Every connector's queue at every evaluation, as plain records (pandas.DataFrame takes them)."""
        from .notebook import snapshot_records

        return snapshot_records(self)

    def to_pandas(self) -> Any:
        """`records()` as a pandas DataFrame (needs pandas: pip install 'mfi-sim[notebook]')."""
        from .notebook import _pandas

        return _pandas().DataFrame(self.records())
