"""One trainee's simulation: a scenario played step by step on the engine, the actions taken, and the events
kept for the message trace. No HTTP here: the app calls these methods under the session's lock."""
from __future__ import annotations

import threading
from concurrent.futures import Future
import time
from dataclasses import replace
from typing import Any

from ..engine import Engine
from ..errors import ScenarioError
from ..scenario.loader import parse_toml, scenario_from_data
from ..scenario.schema import Scenario
from ..units import format_duration, parse_duration
from .replay import checked_action, replay_toml

__all__ = ["Session", "EventLog", "SessionError", "NEXT_EVENT_SPAN", "load_session"]

NEXT_EVENT_SPAN = 3600.0
"""`until: next-event` stops after this much simulated time even when nothing new has happened."""


class SessionError(Exception):
    """A request the session cannot take (bad time, unknown option): a one-line message, HTTP 400."""


class EventLog:
    """A TraceSink keeping every message-trace event of the session (for the message trace and queue views).
    Details are interned: thousands of DEFERs share a handful of error texts."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, int, int, int, str, str]] = []
        self._texts: dict[str, str] = {}

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str, status: str,
             dest: tuple[str, str] | None = None) -> None:
        detail = self._texts.setdefault(detail, detail)
        self.rows.append((t, event, connector, number, rcpt, detail, status))

    def flush(self, watermark: float) -> None:
        """Nothing to write: the rows stay in memory."""


class Session:
    """A scenario played step by step for one trainee. `exercise` hides the story and the scenario's own
    [[actions]] (they become the debrief's reference)."""

    def __init__(self, text: str, source: str, seed: int | None = None, exercise: bool = False) -> None:
        data = parse_toml(text, source)
        scenario = scenario_from_data(data, source, text)
        self.reference: Scenario = scenario      # the scenario as written, with its own [[actions]]
        if exercise:
            data = {k: v for k, v in data.items() if k not in ("actions", "tests")}
            scenario = replace(scenario, actions=())
        self.text = text
        self.data = data
        self.scenario = scenario
        self.exercise = exercise
        self.log = EventLog()
        self.engine = Engine(scenario, seed, trace=self.log)
        self.engine.start()
        self.engine.advance(0.0)
        self.tables: list[dict[str, Any]] = []        # every action taken, as [[actions]] tables (the replay's)
        self.accepted: list[bool] = []                # ... and whether the service accepted it
        self.refusals: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.touched = time.monotonic()
        self.version = 0          # bumped on every change, for the live stream
        self.comparisons: dict[str, Future[dict[str, Any]]] | None = None   # debrief runs (debrief.py)

    # ------------------------------------------------------------------------------------------ the clock
    @property
    def now(self) -> float:
        return float(self.engine.env.now)

    def advance(self, body: Any) -> None:
        """`{"to": "2h"}`, `{"by": "10m"}` or `{"until": "next-event"}` (the next instant at which the timeline
        gains an entry or an alert changes; at most NEXT_EVENT_SPAN later)."""
        if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in ("to", "by", "until"):
            raise SessionError('advance takes one of {"to": "2h"}, {"by": "10m"}, {"until": "next-event"}')
        (key, value), = body.items()
        if key == "until":
            if value != "next-event":
                raise SessionError('until: the only choice is "next-event"')
            self._to_next_event()
        else:
            try:
                amount = parse_duration(value)
            except ValueError as exc:
                raise SessionError(f"{key}: {exc}") from None
            if key == "to" and amount < self.now:
                raise SessionError(f"to: {value} has passed (the clock is at {format_duration(self.now)})")
            self.engine.advance(amount if key == "to" else self.now + amount)
        self.version += 1

    def _to_next_event(self) -> None:
        engine = self.engine
        seen = (len(engine.recorder.notes), self._alert_marks())
        limit = self.now + NEXT_EVENT_SPAN
        while True:
            nxt = engine.next_event_time()
            if nxt is None:
                return
            engine.advance(min(nxt, limit))
            if self.now >= limit:
                return
            if (len(engine.recorder.notes), self._alert_marks()) != seen:
                return

    def _alert_marks(self) -> tuple[tuple[str, float | None, int], ...]:
        return tuple((a.id, a.resolved_s, a.updates) for a in self.engine.alerts.alerts)

    # ------------------------------------------------------------------------------------------ actions
    def act(self, fields: Any) -> str | None:
        """Takes the action `fields` (an [[actions]] table without `at`) now; None when accepted, else the
        one-line reason it is refused (nothing then changes)."""
        checked = checked_action(self.data, fields, self.now)
        reason: str | None
        if isinstance(checked, str):
            reason = checked
        else:
            action, table = checked
            logged = len(self.engine.action_log)
            reason = self.engine.act(action)
            if len(self.engine.action_log) > logged:    # taken, accepted or refused by the service (Fix now not
                self.tables.append(table)               # offered): the replay takes it too, with the same verdict
                self.accepted.append(reason is None)
        if reason is not None:
            what = fields.get("do", "?") if isinstance(fields, dict) else "?"
            self.refusals.append((self.now, str(what), reason))
        self.version += 1
        return reason

    def scenario_toml(self) -> str:
        """The replayable scenario: its TOML with this session's seed and actions."""
        drop = ("actions", "tests") if self.exercise else ()
        return replay_toml(self.text, self.data, self.scenario, self.engine.seed, self.tables, drop)


def load_session(text: str, source: str, seed: Any = None, exercise: bool = False) -> Session:
    """A new session, or ScenarioError (the loader's one-line message) / SessionError for a bad seed."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
        raise SessionError("seed: expected a whole number from 0 to 2**63-1")
    try:
        return Session(text, source, seed, exercise)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError("the scenario is nested too deeply", file=source) from None
