"""Mail-flow-intelligence alerts as observers of queue snapshots (SPEC 1.5).

Two rules, evaluated at every snapshot (the engine takes one every `evaluate_every`):
- the queued-messages insight, per connector: raised once the oldest waiting message has been queued for
  `queued_for`, updated while that holds (the code follows the latest error), resolved when it no longer does;
- the alert policy "Messages have been delayed" (severity High, category Mail flow), per connector: raised
  when `threshold` or more messages have been queued longer than `queued_for`; a match within `aggregation`
  of the previous one updates the open alert (reopening it if it had just resolved) instead of raising a new
  one; resolved when the count falls below the threshold. Each raise notifies the tenant admins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from . import codes
from .records import QueueSnapshot, Recorder
from .scenario.schema import AlertSettings
from .units import format_duration

__all__ = ["Alert", "AlertRule", "InsightRule", "DelayedMessagesPolicy", "AlertBook", "POLICY_NAME",
           "INSIGHT_NAME"]

POLICY_NAME = "Messages have been delayed"
INSIGHT_NAME = "Messages queued on a connector"
#: Fields a [[tests]] table may match on with match = "exact" (the alert's identity, as labels).
LABELS = ("kind", "policy", "connector", "code", "title", "severity", "destination", "fix_now")


@dataclass
class Alert:
    """One alert as the admin sees it; `history` keeps its fields at each evaluation while it fired."""

    id: str
    kind: str                       # "insight" or "policy"
    policy: str
    connector: str
    severity: str
    category: str
    raised_s: float
    code: str | None = None
    title: str = ""
    resolved_s: float | None = None
    queued_messages: int = 0
    aged_messages: int = 0
    last_error: str | None = None
    destination: str | None = None
    last_ip: str | None = None
    queue_started_s: float | None = None
    oldest_expires_s: float | None = None
    causes: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    fix_now: bool = False
    updates: int = 0
    history: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The matchable fields now (what `mfi-sim test` compares)."""
        return {"id": self.id, "kind": self.kind, "policy": self.policy, "connector": self.connector,
                "code": self.code, "title": self.title, "severity": self.severity, "category": self.category,
                "queued_messages": self.queued_messages, "aged_messages": self.aged_messages,
                "last_error": self.last_error, "destination": self.destination, "last_ip": self.last_ip,
                "fix_now": self.fix_now}

    def firing_at(self, t: float) -> bool:
        return self.raised_s <= t and (self.resolved_s is None or t < self.resolved_s)

    def fields_at(self, t: float) -> dict[str, Any]:
        """Fields as of the last evaluation at or before `t`."""
        current: dict[str, Any] = self.fields()
        for when, snap in self.history:
            if when > t:
                break
            current = snap
        return current

    def apply(self, snap: QueueSnapshot, expiration: float) -> None:
        """Takes the connector's latest error, counts and times from a snapshot."""
        self.code = snap.last_error_code
        entry = codes.CATALOGUE.get(snap.last_error_code or "", codes.CATALOGUE[codes.OTHER]) \
            if snap.last_error_code else None
        self.title = entry.title if entry else "Messages are waiting in the queue"
        self.causes = entry.causes if entry else ("The connector is turned off or its queue is suspended.",)
        self.fixes = entry.fixes if entry else ("Turn the connector back on, or route the mail another way.",)
        self.fix_now = snap.last_error_code == codes.CONNECTION_REFUSED
        self.queued_messages = snap.queued_messages
        self.aged_messages = snap.aged_messages
        self.last_error = snap.last_error
        self.destination = snap.last_server
        self.last_ip = snap.last_ip
        self.queue_started_s = snap.first_retry if snap.first_retry is not None else snap.oldest_arrival
        self.oldest_expires_s = snap.oldest_arrival + expiration if snap.oldest_arrival is not None else None
        self.history.append((snap.t, self.fields()))


class AlertRule(Protocol):
    """A rule looks at one connector's snapshot and raises, updates or resolves its alert."""

    def evaluate(self, snap: QueueSnapshot, book: AlertBook) -> None: ...


class InsightRule:
    """The queued-messages insight: oldest message on the connector queued for `queued_for` or longer."""

    def __init__(self, settings: AlertSettings) -> None:
        self.queued_for = settings.queued_for

    def evaluate(self, snap: QueueSnapshot, book: AlertBook) -> None:
        holds = snap.oldest_arrival is not None and snap.t - snap.oldest_arrival >= self.queued_for
        key = ("insight", snap.connector)
        open_alert = book.open.get(key)
        if holds:
            if open_alert is None:
                alert = book.new(key, "insight", INSIGHT_NAME, snap, "Medium")
                book.recorder.note(snap.t, "insight_raised", snap.connector,
                                   f"Insight: messages have waited over {format_duration(self.queued_for)} on "
                                   f"'{snap.connector}' ({alert.code or 'no error'}"
                                   f"{' ' + alert.title if alert.code else ''}; {alert.queued_messages} queued"
                                   f"{'; Fix now available' if alert.fix_now else ''})", alert.code)
            else:
                book.update(open_alert, snap)
        elif open_alert is not None:
            book.resolve(key, snap.t)
            book.recorder.note(snap.t, "insight_resolved", snap.connector,
                               f"Insight resolved: nothing on '{snap.connector}' has waited "
                               f"{format_duration(self.queued_for)} any more")


class DelayedMessagesPolicy:
    """The alert policy "Messages have been delayed": `threshold` or more messages queued for `queued_for`."""

    def __init__(self, settings: AlertSettings) -> None:
        self.threshold = settings.threshold
        self.aggregation = settings.aggregation
        self.queued_for = settings.queued_for
        self._last_match: dict[str, float] = {}

    def evaluate(self, snap: QueueSnapshot, book: AlertBook) -> None:
        key = ("policy", snap.connector)
        open_alert = book.open.get(key)
        if snap.aged_messages >= self.threshold:
            last = self._last_match.get(snap.connector)
            self._last_match[snap.connector] = snap.t
            if open_alert is not None:
                book.update(open_alert, snap)
                return
            recent = book.latest.get(key)
            if recent is not None and last is not None and snap.t - last <= self.aggregation:
                book.reopen(key, recent, snap)
                return
            alert = book.new(key, "policy", POLICY_NAME, snap, "High")
            book.notify(alert, snap.t)
            book.recorder.note(snap.t, "alert_raised", snap.connector,
                               f"Alert '{POLICY_NAME}' (High): {snap.aged_messages} messages on "
                               f"'{snap.connector}' queued over {format_duration(self.queued_for)}; "
                               f"tenant admins notified", alert.code)
        elif open_alert is not None:
            book.resolve(key, snap.t)
            book.recorder.note(snap.t, "alert_resolved", snap.connector,
                               f"Alert '{POLICY_NAME}' resolved: fewer than {self.threshold} messages on "
                               f"'{snap.connector}' have waited {format_duration(self.queued_for)}")


class AlertBook:
    """All alerts of a run, the open ones by (kind, connector), and the notifications sent."""

    def __init__(self, settings: AlertSettings, recorder: Recorder, expiration: float, tenant: str) -> None:
        self.settings = settings
        self.recorder = recorder
        self.expiration = expiration
        self.tenant = tenant
        self.alerts: list[Alert] = []
        self.open: dict[tuple[str, str], Alert] = {}
        self.latest: dict[tuple[str, str], Alert] = {}
        self.notifications: list[dict[str, Any]] = []
        self.rules: list[AlertRule] = [InsightRule(settings), DelayedMessagesPolicy(settings)]
        self._counts: dict[str, int] = {}

    def observe(self, snaps: list[QueueSnapshot]) -> None:
        """Evaluates every rule on every connector's snapshot (the Recorder subscription)."""
        for snap in snaps:
            for rule in self.rules:
                rule.evaluate(snap, self)

    def new(self, key: tuple[str, str], kind: str, policy: str, snap: QueueSnapshot, severity: str) -> Alert:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        alert = Alert(id=f"{kind}-{n}", kind=kind, policy=policy, connector=snap.connector, severity=severity,
                      category="Mail flow", raised_s=snap.t)
        alert.apply(snap, self.expiration)
        self.alerts.append(alert)
        self.open[key] = alert
        self.latest[key] = alert
        return alert

    def update(self, alert: Alert, snap: QueueSnapshot) -> None:
        alert.updates += 1
        alert.apply(snap, self.expiration)

    def reopen(self, key: tuple[str, str], alert: Alert, snap: QueueSnapshot) -> None:
        alert.resolved_s = None
        self.open[key] = alert
        self.update(alert, snap)

    def resolve(self, key: tuple[str, str], t: float) -> None:
        alert = self.open.pop(key)
        alert.resolved_s = t

    def notify(self, alert: Alert, t: float) -> None:
        self.notifications.append({"t": t, "alert": alert.id, "to": f"TenantAdmins@{self.tenant}",
                                   "subject": f"{alert.severity}-severity alert: {alert.policy}"})

    def firing_at(self, t: float) -> list[Alert]:
        """Alerts firing at `t` (as of the last evaluation at or before it)."""
        return [a for a in self.alerts if a.firing_at(t)]
