"""The fault schedule: which injected faults are in force at an instant, and which fire for an attempt."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .scenario.schema import Fault

if TYPE_CHECKING:
    from .world.servers import ServerState

__all__ = ["FaultSchedule", "ScheduledFault", "firing_by_kind", "reply_at"]


@dataclass(slots=True)
class ScheduledFault:
    """A fault with its window; `end` moves earlier when an admin clears it."""

    index: int
    fault: Fault
    start: float
    end: float

    def active(self, now: float) -> bool:
        return self.start <= now < self.end


class FaultSchedule:
    """Faults by target; `firing` draws each active fault's per-attempt probability from one seeded stream."""

    def __init__(self, faults: tuple[Fault, ...], rng: random.Random) -> None:
        self.faults = [ScheduledFault(i, f, f.start, f.end if f.end is not None else math.inf)
                       for i, f in enumerate(faults)]
        self._by_target: dict[str, list[ScheduledFault]] = {}
        for sf in self.faults:
            self._by_target.setdefault(sf.fault.target, []).append(sf)
        self._rng = rng

    def active(self, target: str, now: float) -> list[Fault]:
        """Faults on `target` whose window contains `now`, in scenario order."""
        return [sf.fault for sf in self._by_target.get(target, ()) if sf.start <= now < sf.end]

    def firing(self, target: str, now: float) -> list[Fault]:
        """Active faults on `target` that fire for this attempt (probability drawn; 1.0 draws nothing)."""
        out = []
        for sf in self._by_target.get(target, ()):
            if sf.start <= now < sf.end:
                p = sf.fault.probability
                if p >= 1.0 or (p > 0.0 and self._rng.random() < p):
                    out.append(sf.fault)
        return out

    def clear(self, index: int, now: float) -> bool:
        """Ends fault `index` at `now`; False if it was not in force."""
        sf = self.faults[index]
        if sf.end <= now:
            return False
        sf.end = max(now, sf.start)
        return True


def firing_by_kind(firing: Sequence[Fault]) -> dict[str, Fault]:
    """The faults firing for one attempt, by kind (the last of a kind wins, as scenario order goes)."""
    return {f.kind: f for f in firing}


def reply_at(server: ServerState, firing: Mapping[str, Fault], stage: str) -> str | None:
    """The error reply the destination gives at `stage`: an injected `smtp_reply` there, else the reply the
    server is configured to give there, else None."""
    fault = firing.get("smtp_reply")
    if fault is not None and fault.stage == stage:
        return fault.reply
    return server.reply_for(stage)
