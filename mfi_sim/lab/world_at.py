"""The world a lab serves: the scenario's servers, certificates, zones, DNS cache and faults as they stand at T.

Nothing here re-implements the model: the engine runs the scenario up to T (traffic, admin actions,
cleared faults, DNS changes and the service's resolver cache all included) and the lab reads the world it
leaves behind. The instant is inclusive: an action scheduled exactly at T has happened.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..attempt import SessionSpec
from ..engine import Engine
from ..scenario.schema import Fault, Scenario
from ..world.servers import ServerState
from ..world.state import WorldState

__all__ = ["WorldAtT", "world_at", "default_instant"]


@dataclass(frozen=True, slots=True)
class WorldAtT:
    """The scenario's world frozen at simulated instant `at`, read from an engine stopped there."""

    scenario: Scenario
    at: float
    engine: Engine

    @property
    def world(self) -> WorldState:
        return self.engine.world

    @property
    def instant(self) -> datetime:
        """The wall-clock time T stands for in the scenario's story."""
        return self.scenario.start + timedelta(seconds=self.at)

    def servers(self) -> list[ServerState]:
        """The destination servers, in scenario order, with the certificates they hold at T."""
        by_key = self.world.servers
        return [by_key[(s.address, s.port)] for s in self.scenario.servers]

    def faults_on(self, target: str) -> tuple[Fault, ...]:
        """Faults on `target` (a server address or DNS name) whose window contains T, in scenario order."""
        return tuple(self.engine.faults.active(target, self.at))

    def fault_start(self, fault: Fault) -> float:
        """When a fault in force at T began (its scheduled start)."""
        return next(sf.start for sf in self.engine.faults.faults if sf.fault is fault)

    def dns_faults(self) -> dict[str, tuple[Fault, ...]]:
        """DNS names with a dns_failure in force at T."""
        out: dict[str, tuple[Fault, ...]] = {}
        for sf in self.engine.faults.faults:
            if sf.fault.kind == "dns_failure" and sf.active(self.at):
                name = sf.fault.target.lower().rstrip(".")
                out[name] = out.get(name, ()) + (sf.fault,)
        return out

    def connector_spec(self, name: str) -> SessionSpec:
        """The connector's session settings at T (its smart hosts may have been changed by an admin)."""
        for q in self.engine.queues:
            if q.name == name:
                spec: SessionSpec = q.spec
                return spec
        raise KeyError(name)

    def connector_hosts(self) -> Sequence[str]:
        """Every smart host or mail domain a connector routes to at T."""
        out: list[str] = []
        for q in self.engine.queues:
            out.extend(h for h in q.spec.hosts if h not in out)
        return out


def world_at(scenario: Scenario, at: float) -> WorldAtT:
    """Plays the scenario up to instant `at` and everything scheduled there (admin actions included, which the
    engine plays last at their instant) and returns the world it leaves."""
    if not at >= 0 or math.isinf(at):
        raise ValueError(f"the instant must be a finite time from the start, got {at!r}")
    engine = Engine(scenario, duration=max(scenario.duration, math.nextafter(at, math.inf)))
    engine.start()
    engine.advance(at)
    return WorldAtT(scenario, at, engine)


def default_instant(scenario: Scenario) -> tuple[float, str]:
    """The instant a lab serves when none is given, and why: when the scenario raises its first alert (the
    moment an admin would look), else its first fault's start, else the start. The engine plays step by step
    and stops at the first alert, so a long scenario is not played to its end."""
    engine = Engine(scenario)
    engine.start()
    while not engine.alerts.alerts:
        when = engine.next_event_time()
        if when is None:
            break
        engine.advance(when)
    if engine.alerts.alerts:
        first = min(engine.alerts.alerts, key=lambda a: a.raised_s)
        return first.raised_s, f"when the first alert is raised ({first.code})"
    if scenario.faults:
        return min(f.start for f in scenario.faults), "when the first fault starts"
    return 0.0, "the start of the scenario"
