"""Mail-flow-intelligence alerts: rules in a registry keyed by policy name, evaluated on queue snapshots (SPEC 1.5).

Two rules are registered:
- the queued-messages insight (severity Medium: this project's assumption, no public source gives it), per
  connector: raised once the oldest waiting message has been queued for `queued_for`, updated while that holds
  (the code follows the latest error); it disappears (is resolved) at the first evaluation where it no longer
  holds;
- the alert policy "Messages have been delayed" (severity High, category Mail flow): raised when `threshold` or
  more messages have been queued longer than `queued_for`, counted across the tenant's connectors (`scope =
  "tenant"`, the default, as the policy's description reads) or per connector (`scope = "connector"`). Further
  matches update the open alert; when the count falls below the threshold the condition clears
  (`condition_cleared_s`) but the alert stays Active until an admin resolves it (`resolve_alert`), or at once
  with `auto_resolve = true`. With `auto_resolve`, a match within `aggregation` of the previous one reopens the
  alert just resolved instead of raising a new one. Each raise notifies the tenant admins.

Open alerts are keyed by (policy name, scope), so a second policy on the same connector has alerts of its own.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from types import MappingProxyType
from typing import Any, Protocol

from . import codes
from .records import QueueSnapshot, Recorder
from .scenario.schema import AlertSettings
from .units import format_duration

__all__ = ["Alert", "AlertReading", "AlertRecord", "Notification", "AlertRule", "RuleEntry", "InsightRule", "DelayedMessagesPolicy", "AlertBook", "RULES",
           "POLICY_NAME", "INSIGHT_NAME", "LABELS", "ACTIVE", "RESOLVED", "rule_entry", "select", "register"]

POLICY_NAME = "Messages have been delayed"
INSIGHT_NAME = "Messages queued on a connector"
ACTIVE, RESOLVED = "Active", "Resolved"
#: Fields a [[tests]] table may match on with match = "exact" (the alert's identity, as labels).
LABELS = ("kind", "policy", "connector", "code", "title", "severity", "destination", "fix_now")
#: How an alert came to be resolved (the `resolved_by` field).
CLEARED, AUTO, ADMIN = "condition cleared", "auto_resolve", "admin"


class AlertReading:
    """How an alert reads (its status, matchable fields, whether it fires at an instant): shared by the live
    Alert the rules update and the frozen AlertRecord a Result holds."""

    __slots__ = ()
    id: str
    kind: str
    policy: str
    connector: str
    severity: str
    category: str
    raised_s: float
    code: str | None
    title: str
    resolved_s: float | None
    queued_messages: int
    aged_messages: int
    last_error: str | None
    destination: str | None
    last_ip: str | None
    fix_now: bool
    history: Sequence[tuple[float, Mapping[str, Any]]]

    @property
    def status(self) -> str:
        """`Active` until resolved, then `Resolved` (SPEC 2.3)."""
        return ACTIVE if self.resolved_s is None else RESOLVED

    def fields(self) -> dict[str, Any]:
        """The matchable fields now (what `mfi-sim test` compares)."""
        return {"id": self.id, "kind": self.kind, "policy": self.policy, "connector": self.connector,
                "code": self.code, "title": self.title, "severity": self.severity, "category": self.category,
                "queued_messages": self.queued_messages, "aged_messages": self.aged_messages,
                "last_error": self.last_error, "destination": self.destination, "last_ip": self.last_ip,
                "fix_now": self.fix_now, "status": self.status}

    def firing_at(self, t: float) -> bool:
        """Active at `t`: raised at or before it and not yet resolved."""
        return self.raised_s <= t and (self.resolved_s is None or t < self.resolved_s)

    def fields_at(self, t: float) -> dict[str, Any]:
        """Fields as of the last evaluation at or before `t`, with the status at `t`."""
        current: Mapping[str, Any] = self.fields()
        for when, snap in self.history:
            if when > t:
                break
            current = snap
        return {**current, "status": ACTIVE if self.firing_at(t) else RESOLVED}


@dataclass
class Alert(AlertReading):
    """One alert as the admin sees it; `history` keeps its fields at each evaluation where its rule held."""

    id: str
    kind: str                       # "insight" or "policy": how the service presents the rule
    policy: str                     # the rule's name (the registry key)
    connector: str                  # the (main) connector; see `connectors` for a tenant-wide alert
    severity: str
    category: str
    raised_s: float
    code: str | None = None
    title: str = ""
    resolved_s: float | None = None
    resolved_by: str | None = None
    condition_cleared_s: float | None = None
    connectors: tuple[str, ...] = ()
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
    history: list[tuple[float, Mapping[str, Any]]] = field(default_factory=list)

    def apply(self, snap: QueueSnapshot, expiration: float, group: Sequence[QueueSnapshot] = ()) -> None:
        """Takes the latest error, counts and times from `snap` (the main contributor); counts are summed over
        `group` when the alert covers several connectors."""
        group = group or (snap,)
        self.code = snap.last_error_code
        entry = codes.CATALOGUE.get(snap.last_error_code or "", codes.CATALOGUE[codes.OTHER]) \
            if snap.last_error_code else None
        self.title = entry.title if entry else "Messages are waiting in the queue"
        self.causes = entry.causes if entry else ("The connector is turned off or its queue is suspended.",)
        self.fixes = entry.fixes if entry else ("Turn the connector back on, or route the mail another way.",)
        self.fix_now = snap.last_error_code == codes.CONNECTION_REFUSED
        self.connector = snap.connector
        self.connectors = tuple(s.connector for s in group if s.aged_messages > 0) or (snap.connector,)
        self.queued_messages = sum(s.queued_messages for s in group)
        self.aged_messages = sum(s.aged_messages for s in group)
        self.last_error = snap.last_error
        self.destination = snap.last_server
        self.last_ip = snap.last_ip
        self.queue_started_s = snap.first_retry if snap.first_retry is not None else snap.oldest_arrival
        self.oldest_expires_s = snap.oldest_arrival + expiration if snap.oldest_arrival is not None else None
        self.history.append((snap.t, MappingProxyType(self.fields())))

    def record(self) -> AlertRecord:
        """The alert as it stands now, frozen (what a Result keeps)."""
        values = {f.name: getattr(self, f.name) for f in dataclass_fields(AlertRecord) if f.name != "history"}
        return AlertRecord(**values, history=tuple(self.history))


@dataclass(frozen=True)
class AlertRecord(AlertReading):
    """An alert as it stood when the Result was made: the fields of Alert, frozen (its history a tuple of
    read-only field mappings, one per evaluation where its rule held)."""

    id: str
    kind: str
    policy: str
    connector: str
    severity: str
    category: str
    raised_s: float
    code: str | None
    title: str
    resolved_s: float | None
    resolved_by: str | None
    condition_cleared_s: float | None
    connectors: tuple[str, ...]
    queued_messages: int
    aged_messages: int
    last_error: str | None
    destination: str | None
    last_ip: str | None
    queue_started_s: float | None
    oldest_expires_s: float | None
    causes: tuple[str, ...]
    fixes: tuple[str, ...]
    fix_now: bool
    updates: int
    history: tuple[tuple[float, Mapping[str, Any]], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    """A mail to the tenant's admins when an alert policy raises an alert."""

    t: float
    alert: str
    to: str
    subject: str


class AlertRule(Protocol):
    """A rule looks at one evaluation's snapshots (one per connector) and raises, updates or clears its alerts."""

    name: str

    def evaluate(self, snaps: Sequence[QueueSnapshot], book: AlertBook) -> None: ...


@dataclass(frozen=True)
class RuleEntry:
    """A registered rule: its policy name, how the service presents it, and how to build it from the settings.

    `kind` is "insight" or "policy"; `label` is how a report names that kind; an insight `clears_itself` (it
    disappears with its condition and an admin cannot resolve it)."""

    name: str
    kind: str
    label: str
    severity: str
    clears_itself: bool
    make: Callable[[AlertSettings, str], AlertRule]


class InsightRule:
    """The queued-messages insight: oldest message on the connector queued for `queued_for` or longer."""

    def __init__(self, settings: AlertSettings, name: str = INSIGHT_NAME) -> None:
        self.name = name
        self.queued_for = settings.queued_for

    def evaluate(self, snaps: Sequence[QueueSnapshot], book: AlertBook) -> None:
        for snap in snaps:
            self._one(snap, book)

    def _one(self, snap: QueueSnapshot, book: AlertBook) -> None:
        holds = snap.oldest_arrival is not None and snap.t - snap.oldest_arrival >= self.queued_for
        key = (self.name, snap.connector)
        open_alert = book.open.get(key)
        if holds:
            if open_alert is not None:
                book.update(open_alert, snap)
                return
            alert = book.new(key, self.name, snap)
            book.recorder.note(snap.t, "insight_raised", snap.connector,
                               f"Insight: messages have waited over {format_duration(self.queued_for)} on "
                               f"'{snap.connector}' ({alert.code or 'no error'}"
                               f"{' ' + alert.title if alert.code else ''}; {alert.queued_messages} queued"
                               f"{'; Fix now available' if alert.fix_now else ''})", alert.code)
        elif open_alert is not None:
            book.clear_condition(open_alert, snap.t)
            book.resolve(open_alert, snap.t, CLEARED)
            book.recorder.note(snap.t, "insight_resolved", snap.connector,
                               f"Insight resolved: nothing on '{snap.connector}' has waited "
                               f"{format_duration(self.queued_for)} any more")


class DelayedMessagesPolicy:
    """An alert policy: `threshold` or more messages queued for `queued_for`, over the tenant or per connector."""

    def __init__(self, settings: AlertSettings, name: str = POLICY_NAME) -> None:
        self.name = name
        self.threshold = settings.threshold
        self.aggregation = settings.aggregation
        self.queued_for = settings.queued_for
        self.tenant_wide = settings.scope == "tenant"
        self.auto_resolve = settings.auto_resolve
        self._last_match: dict[str, float] = {}

    def evaluate(self, snaps: Sequence[QueueSnapshot], book: AlertBook) -> None:
        if self.tenant_wide:
            if snaps:
                self._group("", snaps, book)
            return
        for snap in snaps:
            self._group(snap.connector, (snap,), book)

    def _where(self, scope: str) -> str:
        return f"on '{scope}'" if scope else "across the tenant's connectors"

    def _group(self, scope: str, group: Sequence[QueueSnapshot], book: AlertBook) -> None:
        t = group[0].t
        aged = sum(s.aged_messages for s in group)
        key = (self.name, scope)
        open_alert = book.open.get(key)
        if aged < self.threshold:
            if open_alert is not None and open_alert.condition_cleared_s is None:
                self._cleared(open_alert, scope, t, book)
            return
        main = max(group, key=lambda s: s.aged_messages)   # first of the largest, in connector order
        last = self._last_match.get(scope)
        self._last_match[scope] = t
        if open_alert is not None:
            open_alert.condition_cleared_s = None
            book.update(open_alert, main, group)
            return
        recent = book.latest.get(key)
        if recent is not None and recent.resolved_by == AUTO and last is not None and t - last <= self.aggregation:
            book.reopen(key, recent, main, group)
            return
        alert = book.new(key, self.name, main, group)
        book.notify(alert, t)
        book.recorder.note(t, "alert_raised", alert.connector,
                           f"Alert '{self.name}' (High): {aged} messages {self._where(scope)} queued over "
                           f"{format_duration(self.queued_for)} ({', '.join(alert.connectors)}); "
                           f"tenant admins notified", alert.code)

    def _cleared(self, alert: Alert, scope: str, t: float, book: AlertBook) -> None:
        book.clear_condition(alert, t)
        what = (f"fewer than {self.threshold} messages {self._where(scope)} have waited "
                f"{format_duration(self.queued_for)}")
        if self.auto_resolve:
            book.resolve(alert, t, AUTO)
            book.recorder.note(t, "alert_resolved", alert.connector, f"Alert '{self.name}' resolved: {what}")
        else:
            book.recorder.note(t, "alert_condition_cleared", alert.connector,
                               f"Alert '{self.name}': {what}; it stays Active until an admin resolves it")


def _entries(*entries: RuleEntry) -> dict[str, RuleEntry]:
    return {e.name: e for e in entries}


#: The rules every run evaluates, in this order, keyed by policy name.
RULES: dict[str, RuleEntry] = _entries(
    RuleEntry(INSIGHT_NAME, "insight", "Insight", "Medium", True, InsightRule),
    RuleEntry(POLICY_NAME, "policy", "Alert policy", "High", False, DelayedMessagesPolicy),
)


def register(entry: RuleEntry) -> None:
    """Adds a rule to the registry (its name must be new)."""
    if entry.name in RULES:
        raise ValueError(f"an alert rule called {entry.name!r} is already registered")
    RULES[entry.name] = entry


def rule_entry(name: str) -> RuleEntry:
    """The registered rule called `name`; KeyError if there is none."""
    return RULES[name]


def select(selector: str) -> tuple[str, ...] | None:
    """The policy names a test selector names: a policy name, or a kind ("insight" / "policy") for every rule of
    that kind; None when it names no rule (it is then an error code)."""
    s = selector.strip()
    if s in RULES:
        return (s,)
    of_kind = tuple(e.name for e in RULES.values() if e.kind == s.lower())
    return of_kind or None


class AlertBook:
    """All alerts of a run, the open ones by (policy name, scope), and the notifications sent."""

    def __init__(self, settings: AlertSettings, recorder: Recorder, expiration: float, tenant: str,
                 entries: Sequence[RuleEntry] | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.expiration = expiration
        self.tenant = tenant
        self.entries = {e.name: e for e in (RULES.values() if entries is None else entries)}
        self.rules: list[AlertRule] = [e.make(settings, e.name) for e in self.entries.values()]
        self.alerts: list[Alert] = []
        self.open: dict[tuple[str, str], Alert] = {}
        self.latest: dict[tuple[str, str], Alert] = {}
        self.notifications: list[Notification] = []
        self._counts: dict[str, int] = {}

    def observe(self, snaps: list[QueueSnapshot]) -> None:
        """Evaluates every rule on one evaluation's snapshots (the Recorder subscription)."""
        for rule in self.rules:
            rule.evaluate(snaps, self)

    def new(self, key: tuple[str, str], policy: str, snap: QueueSnapshot,
            group: Sequence[QueueSnapshot] = ()) -> Alert:
        """Raises a new alert of rule `policy` under `key`; ids count per kind (insight-1, policy-1, ...)."""
        entry = self.entries[policy]
        n = self._counts.get(entry.kind, 0) + 1
        self._counts[entry.kind] = n
        alert = Alert(id=f"{entry.kind}-{n}", kind=entry.kind, policy=policy, connector=snap.connector,
                      severity=entry.severity, category="Mail flow", raised_s=snap.t)
        alert.apply(snap, self.expiration, group)
        self.alerts.append(alert)
        self.open[key] = alert
        self.latest[key] = alert
        return alert

    def update(self, alert: Alert, snap: QueueSnapshot, group: Sequence[QueueSnapshot] = ()) -> None:
        alert.updates += 1
        alert.apply(snap, self.expiration, group)

    def reopen(self, key: tuple[str, str], alert: Alert, snap: QueueSnapshot,
               group: Sequence[QueueSnapshot] = ()) -> None:
        """A match within the aggregation window after an automatic resolution: the same alert again."""
        alert.resolved_s = alert.resolved_by = alert.condition_cleared_s = None
        self.open[key] = alert
        self.update(alert, snap, group)

    def clear_condition(self, alert: Alert, t: float) -> None:
        alert.condition_cleared_s = t

    def resolve(self, alert: Alert, t: float, by: str) -> None:
        """Closes an open alert at `t` (`by`: condition cleared, auto_resolve or admin)."""
        for key, a in list(self.open.items()):
            if a is alert:
                del self.open[key]
        alert.resolved_s = t
        alert.resolved_by = by

    def resolvable(self, selector: str) -> tuple[list[Alert], str | None]:
        """The open alerts an admin's `resolve_alert` names (an alert id, or a policy name for all its open
        alerts), or the reason there are none to resolve."""
        named = [a for a in self.alerts if a.id == selector or a.policy == selector]
        if not named:
            return [], f"there is no alert {selector!r}"
        own = [a for a in named if not self.entries[a.policy].clears_itself]
        if not own:
            return [], f"{selector} is an insight: it disappears by itself once its condition clears"
        still = [a for a in own if a.resolved_s is None]
        if not still:
            return [], f"{selector} is already resolved"
        return still, None

    def current(self, policy: str, connector: str) -> Alert | None:
        """The open alert of rule `policy` on `connector` (per-connector rules), if any."""
        return self.open.get((policy, connector))

    def notify(self, alert: Alert, t: float) -> None:
        self.notifications.append(Notification(t, alert.id, f"TenantAdmins@{self.tenant}",
                                               f"{alert.severity}-severity alert: {alert.policy}"))

    def firing_at(self, t: float) -> list[Alert]:
        """Alerts Active at `t`."""
        return [a for a in self.alerts if a.firing_at(t)]
