"""The fault schedule: which injected faults are in force at an instant, and which fire for an attempt."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .scenario.schema import Fault

__all__ = ["FaultSchedule", "ScheduledFault"]


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
