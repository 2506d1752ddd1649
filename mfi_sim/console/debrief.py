"""The debrief of an exercise: the trainee's run set against the scenario's own reference [[actions]] and against
doing nothing (two batch runs of the engine, started in the background when the session is created)."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..engine import Engine
from ..records import QueueSnapshot
from ..result import Result
from ..scenario.schema import Action, Scenario
from ..units import format_duration, iso_at
from .session import Session

__all__ = ["debrief", "start_comparisons", "outcome"]

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mfi-debrief")
_MATCH_KEYS = ("connector", "target", "name", "fault")


def start_comparisons(session: Session) -> None:
    """Starts the reference run and the do-nothing run of the session's scenario (same seed) in the background."""
    seed = session.engine.seed
    ref = session.reference
    session.comparisons = {
        "reference": _POOL.submit(_summary, ref, seed, ref.actions),
        "nothing": _POOL.submit(_summary, ref, seed, ()),
    }


def _summary(scenario: Scenario, seed: int, actions: tuple[Action, ...]) -> dict[str, Any]:
    result = Engine(replace(scenario, actions=actions), seed).run()
    return outcome(result, actions, scenario)


def _problem_start(scenario: Scenario) -> float:
    """When the trouble began: the first fault's start (0 for a scenario broken from the start)."""
    return min((f.start for f in scenario.faults), default=0.0)


def _mitigated(snapshots: Sequence[QueueSnapshot], after: float | None) -> float | None:
    """The first evaluation at or after `after` where no connector is in Retry or Suspended (mail flows)."""
    if after is None:
        return None
    by_t: dict[float, list[QueueSnapshot]] = {}
    for s in snapshots:
        if s.t >= after:
            by_t.setdefault(s.t, []).append(s)
    for t, snaps in by_t.items():
        if all(s.status not in ("Retry", "Suspended") for s in snaps):
            return t
    return None


def _correct(action: Action, reference: tuple[Action, ...]) -> bool:
    """An action is correct when the reference has one of the same kind on the same object (resolving an alert
    is housekeeping, not a diagnosis)."""
    return action.do != "resolve_alert" and any(r.do == action.do and all(getattr(r, k) in (None, getattr(action, k)) for k in _MATCH_KEYS)
               for r in reference)


def outcome(result: Result, actions: tuple[Action, ...] | list[Action], reference: Scenario) -> dict[str, Any]:
    """Counts of a run, and how long its actions took to diagnose and mitigate the problem."""
    summaries = result.connectors
    start = _problem_start(reference)
    first = next((a.at for a in actions if _correct(a, reference.actions)), None)
    mitigated = _mitigated(result.snapshots, first)
    return {
        **{k: sum(getattr(c, k) for c in summaries) for k in ("received", "delivered", "ndr", "rejected")},
        "expired": sum(c.expired for c in summaries), "queued_at_end": sum(c.queued for c in summaries),
        "first_correct_action_s": first, "mitigated_s": mitigated,
        "time_to_diagnose_s": None if first is None else max(0.0, first - start),
        "time_to_mitigate_s": None if mitigated is None else max(0.0, mitigated - start),
        "actions": [{"t": a.at, "at": iso_at(reference.start, a.at), "do": a.do,
                     "text": _describe(a)} for a in actions],
    }


def _describe(a: Action) -> str:
    bits = [a.do.replace("_", " ")]
    for key in ("connector", "target", "name", "type", "value"):
        value = getattr(a, key)
        if value is not None:
            bits.append(f"{key} {value}")
    if a.smart_hosts:
        bits.append("smart hosts " + ", ".join(a.smart_hosts))
    if a.fault is not None:
        bits.append(f"fault {a.fault}")
    return "; ".join(bits)


def debrief(session: Session) -> dict[str, Any]:
    """The debrief: the three runs side by side, the trainee's actions on the whole timeline, the story."""
    engine = session.engine
    sc = session.reference
    if session.comparisons is None:
        start_comparisons(session)
    futures = session.comparisons
    assert futures is not None
    taken = {a.at for a in engine.taken}
    run = engine.view()
    trainee = outcome(run, engine.taken, sc)
    return {
        "ended": engine.ended, "t": session.now, "scenario": sc.name, "description": sc.description,
        "problem_started_s": _problem_start(sc), "problem_started": format_duration(_problem_start(sc)),
        "trainee": trainee,
        "reference": futures["reference"].result(),
        "nothing": futures["nothing"].result(),
        "refusals": [{"t": t, "do": do, "reason": why} for t, do, why in session.refusals],
        "timeline": [{"t": round(n.t, 3), "at": iso_at(sc.start, n.t), "kind": n.kind, "connector": n.connector,
                      "text": n.text, "trainee": n.kind == "action" and (session.exercise or n.t in taken)} for n in run.timeline],
    }
