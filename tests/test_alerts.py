"""Alerts as the admin sees them: when the insight and the policy fire, update, aggregate, clear and resolve.

These tests drive the rules in alerts.py directly with hand-made snapshots; test_alerts_in_runs.py runs scenarios.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from mfi_sim import alerts, codes
from mfi_sim.alerts import (ACTIVE, INSIGHT_NAME, POLICY_NAME, RESOLVED, AlertBook, DelayedMessagesPolicy,
                            RuleEntry)
from mfi_sim.records import QueueSnapshot, Recorder
from mfi_sim.scenario.schema import AlertSettings


ERROR = "450 4.4.316 Connection refused [LastAttemptedServerName=mail.contoso.com]"


def snap(t: float, connector: str = "A", aged: int = 0, oldest: float | None = None, queued: int | None = None,
         code: str | None = codes.CONNECTION_REFUSED) -> QueueSnapshot:
    """A connector's queue at `t`: `aged` messages queued over an hour, the oldest arrived at `oldest`."""
    return QueueSnapshot(t=t, connector=connector, status="Retry", queued_messages=aged if queued is None else queued,
                         queued_recipients=aged, aged_messages=aged, oldest_arrival=oldest,
                         last_error=ERROR if code else None, last_error_code=code,
                         last_server="mail.contoso.com" if code else None, last_ip="198.51.100.10" if code else None,
                         retry_count=1, first_retry=oldest, last_retry=t, next_retry=None, received=aged, delivered=0,
                         ndr=0, rejected=0, expired=0)


def book(**changes: object) -> AlertBook:
    """An alert book with the default settings, threshold 200, and `changes`."""
    return AlertBook(replace(AlertSettings(threshold=200), **changes), Recorder(), 86400.0,  # type: ignore[arg-type]
                     "contoso.onmicrosoft.com")


def policies(b: AlertBook) -> list[alerts.Alert]:
    return [a for a in b.alerts if a.policy == POLICY_NAME]


def insights(b: AlertBook) -> list[alerts.Alert]:
    return [a for a in b.alerts if a.policy == INSIGHT_NAME]


def test_unit_insight_raised_exactly_when_the_oldest_message_has_waited_queued_for() -> None:
    """The insight needs the oldest message queued for the full `queued_for`; one second short raises nothing."""
    b = book()
    b.observe([snap(3599.0, oldest=0.0, aged=0)])
    assert insights(b) == []
    b.observe([snap(3600.0, oldest=0.0, aged=1)])
    [insight] = insights(b)
    assert insight.raised_s == 3600.0 and insight.status == ACTIVE and insight.fix_now
    assert insight.severity == "Medium" and insight.kind == "insight"


def test_unit_insight_disappears_when_its_condition_clears() -> None:
    """The insight resolves at the first evaluation where nothing has waited `queued_for`: cleared and resolved
    together, Resolved from then on."""
    b = book()
    b.observe([snap(3600.0, oldest=0.0, aged=1)])
    b.observe([snap(3900.0, oldest=3800.0, aged=0)])
    [insight] = insights(b)
    assert insight.resolved_s == insight.condition_cleared_s == 3900.0
    assert insight.status == RESOLVED and not insight.firing_at(3900.0) and insight.firing_at(3899.0)
    assert insight.fields_at(3600.0)["status"] == ACTIVE and insight.fields_at(4000.0)["status"] == RESOLVED


def test_unit_policy_stays_active_after_its_condition_clears() -> None:
    """Without auto_resolve the policy alert records when its condition cleared but stays Active."""
    b = book()
    b.observe([snap(3600.0, oldest=0.0, aged=300)])
    b.observe([snap(3900.0, oldest=3700.0, aged=0)])
    b.observe([snap(4200.0, oldest=None, aged=0)])
    [policy] = policies(b)
    assert policy.condition_cleared_s == 3900.0
    assert policy.resolved_s is None and policy.status == ACTIVE and policy.firing_at(10 ** 6)
    kinds = [n.kind for n in b.recorder.notes]
    assert kinds.count("alert_condition_cleared") == 1 and "alert_resolved" not in kinds


def test_unit_auto_resolve_resolves_when_the_condition_clears() -> None:
    """With auto_resolve = true the policy alert resolves at the evaluation where its condition cleared."""
    b = book(auto_resolve=True)
    b.observe([snap(3600.0, oldest=0.0, aged=300)])
    b.observe([snap(3900.0, oldest=3700.0, aged=199)])
    [policy] = policies(b)
    assert policy.resolved_s == policy.condition_cleared_s == 3900.0 and policy.status == RESOLVED
    assert policy.resolved_by == alerts.AUTO


def test_unit_a_new_match_updates_the_active_alert() -> None:
    """While the alert is Active a new match updates it (no second alert, no second notice) and the condition
    is no longer cleared."""
    b = book()
    b.observe([snap(3600.0, oldest=0.0, aged=300)])
    b.observe([snap(3900.0, oldest=0.0, aged=10)])
    b.observe([snap(7200.0, oldest=0.0, aged=500)])
    [policy] = policies(b)
    assert policy.condition_cleared_s is None and policy.aged_messages == 500 and policy.updates == 1
    assert len(b.notifications) == 1


def test_unit_threshold_counts_across_the_tenant_by_default() -> None:
    """Two connectors each under the threshold but together over it raise one tenant-wide alert that names both
    and takes its error from the larger contributor; per connector, nothing fires."""
    both = [snap(3600.0, "A", aged=120, oldest=0.0), snap(3600.0, "B", aged=150, oldest=0.0,
                                                           code=codes.CONNECTION_TIMED_OUT)]
    tenant = book()
    tenant.observe(both)
    [policy] = policies(tenant)
    assert policy.connectors == ("A", "B") and policy.connector == "B"
    assert policy.aged_messages == 270 and policy.code == codes.CONNECTION_TIMED_OUT
    per_connector = book(scope="connector")
    per_connector.observe(both)
    assert policies(per_connector) == []


def test_unit_contributors_are_only_connectors_with_aged_mail() -> None:
    """A connector with nothing queued over the hour is not listed as contributing."""
    b = book()
    b.observe([snap(3600.0, "A", aged=300, oldest=0.0), snap(3600.0, "B", aged=0, oldest=3500.0)])
    assert policies(b)[0].connectors == ("A",)


def test_unit_connector_scope_keeps_one_alert_per_connector() -> None:
    """With scope = "connector" each connector over the threshold has its own alert."""
    b = book(scope="connector")
    b.observe([snap(3600.0, "A", aged=300, oldest=0.0), snap(3600.0, "B", aged=250, oldest=0.0)])
    assert [(a.id, a.connector, a.connectors) for a in policies(b)] == [
        ("policy-1", "A", ("A",)), ("policy-2", "B", ("B",))]


def test_unit_a_second_policy_on_the_same_connector_does_not_collide() -> None:
    """Two policies registered under different names keep separate alerts on one connector."""
    strict = RuleEntry("Messages have been delayed (strict)", "policy", "Alert policy", "High", False,
                       lambda settings, name: DelayedMessagesPolicy(replace(settings, threshold=100), name))
    entries = [alerts.RULES[INSIGHT_NAME], alerts.RULES[POLICY_NAME], strict]
    b = AlertBook(AlertSettings(threshold=200), Recorder(), 86400.0, "contoso.onmicrosoft.com", entries)
    b.observe([snap(3600.0, aged=150, oldest=0.0)])
    b.observe([snap(3900.0, aged=250, oldest=0.0)])
    assert [(a.id, a.policy, a.raised_s) for a in b.alerts if a.kind == "policy"] == [
        ("policy-1", strict.name, 3600.0), ("policy-2", POLICY_NAME, 3900.0)]
    assert b.resolvable(strict.name)[0] == [b.alerts[1]]


def test_unit_resolvable_by_id_or_policy_name_and_refusals() -> None:
    """resolve_alert names an alert id or a policy name; an insight, an unknown or a resolved alert is refused
    with a reason."""
    b = book(scope="connector")
    b.observe([snap(3600.0, "A", aged=300, oldest=0.0), snap(3600.0, "B", aged=300, oldest=0.0)])
    assert [a.id for a in b.resolvable("policy-2")[0]] == ["policy-2"]
    assert [a.id for a in b.resolvable(POLICY_NAME)[0]] == ["policy-1", "policy-2"]
    assert b.resolvable("insight-1") == ([], "insight-1 is an insight: it disappears by itself once its "
                                             "condition clears")
    assert b.resolvable("policy-9")[1] == "there is no alert 'policy-9'"
    b.resolve(b.alerts[-1], 4000.0, alerts.ADMIN)
    assert b.resolvable("policy-2")[1] == "policy-2 is already resolved"


def test_unit_after_an_admin_resolves_a_match_raises_a_new_alert() -> None:
    """An admin's resolution closes the alert for good: the next match raises (and notifies) a new one."""
    b = book()
    b.observe([snap(3600.0, aged=300, oldest=0.0)])
    b.resolve(policies(b)[0], 3700.0, alerts.ADMIN)
    b.observe([snap(3900.0, aged=300, oldest=0.0)])
    assert [(a.id, a.status) for a in policies(b)] == [("policy-1", RESOLVED), ("policy-2", ACTIVE)]
    assert len(b.notifications) == 2


def test_unit_auto_resolved_alert_reopens_within_the_aggregation_window() -> None:
    """With auto_resolve, a match within `aggregation` of the last one reopens the alert; later, a new one."""
    for window, expected in ((900.0, ["policy-1"]), (0.0, ["policy-1", "policy-2"])):
        b = book(auto_resolve=True, aggregation=window)
        b.observe([snap(3600.0, aged=300, oldest=0.0)])
        b.observe([snap(3900.0, aged=0, oldest=None)])
        b.observe([snap(4200.0, aged=300, oldest=0.0)])
        assert [a.id for a in policies(b)] == expected
        assert policies(b)[-1].status == ACTIVE


@pytest.mark.parametrize("selector, names", [
    ("insight", (INSIGHT_NAME,)), ("Policy", (POLICY_NAME,)), (POLICY_NAME, (POLICY_NAME,)),
    (INSIGHT_NAME, (INSIGHT_NAME,)), ("450 4.4.316", None)])
def test_unit_selectors_name_rules_from_the_registry(selector: str, names: tuple[str, ...] | None) -> None:
    """A test selector names rules by policy name or by kind; a code names no rule."""
    assert alerts.select(selector) == names


def test_unit_registering_a_name_twice_is_refused() -> None:
    """The registry is keyed by policy name: the same name cannot be registered twice."""
    with pytest.raises(ValueError, match="already registered"):
        alerts.register(alerts.RULES[POLICY_NAME])


def test_unit_a_registered_rule_is_found_by_name_and_evaluated() -> None:
    """register adds the entry itself under its name: rule_entry finds it and a new book evaluates it."""
    entry = RuleEntry("Messages have been delayed (test)", "policy", "Alert policy", "High", False,
                      DelayedMessagesPolicy)
    alerts.register(entry)
    try:
        assert alerts.rule_entry(entry.name) is entry and alerts.select(entry.name) == (entry.name,)
        b = book()
        b.observe([snap(3600.0, aged=300, oldest=0.0)])
        assert sorted(a.policy for a in policies(b) + [a for a in b.alerts if a.policy == entry.name]) == [
            POLICY_NAME, entry.name]
    finally:
        del alerts.RULES[entry.name]


def test_unit_fields_at_an_evaluation_take_that_evaluation() -> None:
    """fields_at(t) gives the fields of the last evaluation at or before t: at an evaluation's own instant,
    that evaluation's."""
    b = book()
    b.observe([snap(3600.0, aged=300, oldest=0.0)])
    b.observe([snap(3900.0, aged=500, oldest=0.0)])
    [policy] = policies(b)
    assert [policy.fields_at(t)["aged_messages"] for t in (3600.0, 3899.0, 3900.0, 5000.0)] == [300, 300, 500, 500]
    assert policy.fields_at(3899.0)["status"] == ACTIVE


def test_unit_the_notification_names_the_admins_and_the_policy() -> None:
    """A raise sends one notice to the tenant admins, with the severity and the policy in its subject."""
    b = book()
    b.observe([snap(3600.0, aged=300, oldest=0.0)])
    assert b.notifications == [alerts.Notification(3600.0, "policy-1", "TenantAdmins@contoso.onmicrosoft.com",
                                                   "High-severity alert: Messages have been delayed")]


def test_unit_a_reopened_tenant_alert_counts_every_connector() -> None:
    """An auto-resolved tenant-wide alert reopened within the aggregation window sums its counts over the
    connectors again, and lists those that contribute."""
    b = book(auto_resolve=True, aggregation=900.0)
    b.observe([snap(3600.0, "A", aged=300, oldest=0.0)])
    b.observe([snap(3900.0, "A", aged=0, oldest=None)])
    b.observe([snap(4200.0, "A", aged=150, oldest=0.0), snap(4200.0, "B", aged=100, oldest=0.0)])
    [policy] = policies(b)
    assert policy.status == ACTIVE and policy.aged_messages == 250 and policy.connectors == ("A", "B")
    b.observe([snap(4500.0, "A", aged=100, oldest=0.0), snap(4500.0, "B", aged=200, oldest=0.0)])
    assert policies(b) == [policy] and b.current(POLICY_NAME, "") is policy and len(b.notifications) == 1
    assert policy.aged_messages == 300 and policy.connector == "B"


def test_unit_an_alert_s_fields_are_what_a_test_table_matches() -> None:
    """fields() names every matchable field (the [[tests]] keys) with the alert's values."""
    b = book()
    b.observe([snap(3600.0, aged=300, oldest=0.0)])
    [policy] = policies(b)
    assert policy.fields() == {
        "id": "policy-1", "kind": "policy", "policy": POLICY_NAME, "connector": "A", "code": "450 4.4.316",
        "title": codes.CATALOGUE[codes.CONNECTION_REFUSED].title, "severity": "High", "category": "Mail flow",
        "queued_messages": 300, "aged_messages": 300, "last_error": ERROR, "destination": "mail.contoso.com",
        "last_ip": "198.51.100.10", "fix_now": True, "status": ACTIVE}
    assert set(alerts.LABELS) <= set(policy.fields())


@pytest.mark.parametrize("scope, where, connector", [("tenant", "across the tenant's connectors", "A"),
                                                     ("connector", "on 'A'", "A")])
def test_unit_the_timeline_says_where_the_condition_cleared(scope: str, where: str, connector: str) -> None:
    """The cleared and resolved notes name the connector, the threshold and where the messages were counted."""
    for auto, kind, tail in ((False, "alert_condition_cleared", "; it stays Active until an admin resolves it"),
                             (True, "alert_resolved", "")):
        b = book(scope=scope, auto_resolve=auto)
        b.observe([snap(3600.0, "A", aged=300, oldest=0.0)])
        b.observe([snap(3900.0, "A", aged=0, oldest=None)])
        said = [(n.t, n.connector, n.text) for n in b.recorder.notes if n.kind == kind]
        head = "Alert 'Messages have been delayed'" + ("" if not auto else " resolved")
        assert said == [(3900.0, connector, f"{head}: fewer than 200 messages {where} have waited 1h{tail}")]


def test_unit_an_alert_without_an_error_says_messages_are_waiting() -> None:
    """A queue with no error (its connector off, the queue suspended): the alert's own title, cause and fix,
    no code and no Fix now; an error the catalogue does not know takes the catalogue's catch-all entry."""
    b = book()
    b.observe([snap(3600.0, aged=300, oldest=0.0, code=None)])
    [quiet] = policies(b)
    assert (quiet.code, quiet.title, quiet.fix_now, quiet.last_error) == (
        None, "Messages are waiting in the queue", False, None)
    assert quiet.causes == ("The connector is turned off or its queue is suspended.",)
    assert quiet.fixes == ("Turn the connector back on, or route the mail another way.",)
    other = book()
    other.observe([snap(3600.0, aged=300, oldest=0.0, code="451 4.7.999 Something new")])
    [odd] = policies(other)
    entry = codes.CATALOGUE[codes.OTHER]
    assert (odd.code, odd.title, odd.causes, odd.fixes) == ("451 4.7.999 Something new", entry.title, entry.causes,
                                                            entry.fixes)


def test_unit_when_the_queue_started_and_when_its_oldest_message_expires() -> None:
    """queue_started_s is the first retry of the failure run, else the oldest arrival; oldest_expires_s is the
    oldest arrival plus the message lifetime."""
    b = book()
    b.observe([replace(snap(3600.0, aged=300, oldest=100.0), first_retry=200.0)])
    [policy] = policies(b)
    assert (policy.queue_started_s, policy.oldest_expires_s) == (200.0, 100.0 + 86400.0)
    b.observe([replace(snap(3900.0, aged=300, oldest=100.0), first_retry=None)])
    assert policy.queue_started_s == 100.0 and policy.queued_messages == 300
    b.observe([replace(snap(4200.0, aged=300, oldest=None), first_retry=None)])
    assert policy.queue_started_s is None and policy.oldest_expires_s is None


def test_unit_one_aged_message_makes_a_contributor() -> None:
    """A connector with a single message queued over the hour contributes to the tenant-wide count."""
    b = book()
    b.observe([snap(3600.0, "A", aged=299, oldest=0.0), snap(3600.0, "B", aged=1, oldest=0.0)])
    assert policies(b)[0].connectors == ("A", "B")


def test_unit_the_threshold_itself_raises_the_policy() -> None:
    """"threshold or more": exactly `threshold` aged messages raise the alert, one fewer clears it."""
    b = book()
    b.observe([snap(3600.0, aged=199, oldest=0.0)])
    assert policies(b) == []
    b.observe([snap(3900.0, aged=200, oldest=0.0)])
    [policy] = policies(b)
    b.observe([snap(4200.0, aged=200, oldest=0.0)])
    assert policy.condition_cleared_s is None and policy.updates == 1
    b.observe([snap(4500.0, aged=199, oldest=0.0)])
    assert policy.condition_cleared_s == 4500.0


def test_unit_the_timeline_tells_the_insight_s_story() -> None:
    """The insight's notes: raised with the connector, the code and title, the count and whether Fix now is
    offered (or "no error" when there is none); resolved when nothing has waited the hour any more."""
    b = book()
    b.observe([snap(3600.0, "A", aged=1, oldest=0.0, queued=40), snap(3600.0, "B", aged=1, oldest=0.0, code=None)])
    b.observe([snap(3900.0, "A", aged=0, oldest=3800.0), snap(3900.0, "B", aged=1, oldest=0.0, code=None)])
    title = codes.CATALOGUE[codes.CONNECTION_REFUSED].title
    assert [(n.t, n.kind, n.connector, n.text, n.code) for n in b.recorder.notes] == [
        (3600.0, "insight_raised", "A", f"Insight: messages have waited over 1h on 'A' (450 4.4.316 {title}; "
         "40 queued; Fix now available)", "450 4.4.316"),
        (3600.0, "insight_raised", "B", "Insight: messages have waited over 1h on 'B' (no error; 1 queued)", None),
        (3900.0, "insight_resolved", "A", "Insight resolved: nothing on 'A' has waited 1h any more", None)]


def test_unit_a_match_exactly_one_window_later_still_reopens() -> None:
    """"Within the aggregation window" includes its end: evaluations fall on a grid, so a match exactly
    `aggregation` after the last one is common, and reopens the auto-resolved alert."""
    b = book(auto_resolve=True, aggregation=600.0)
    b.observe([snap(3600.0, aged=300, oldest=0.0)])
    b.observe([snap(3900.0, aged=0, oldest=None)])
    b.observe([snap(4200.0, aged=300, oldest=0.0)])
    assert [a.id for a in policies(b)] == ["policy-1"] and len(b.notifications) == 1


def test_unit_the_timeline_says_who_was_told_about_a_raise() -> None:
    """The raise note names the main connector, the count, where it was counted, the contributors and the code."""
    b = book()
    b.observe([snap(3600.0, "A", aged=150, oldest=0.0), snap(3600.0, "B", aged=100, oldest=0.0)])
    assert [(n.t, n.kind, n.connector, n.text, n.code) for n in b.recorder.notes if n.kind == "alert_raised"] == [
        (3600.0, "alert_raised", "A", "Alert 'Messages have been delayed' (High): 250 messages across the tenant's "
         "connectors queued over 1h (A, B); tenant admins notified", "450 4.4.316")]
    [policy] = policies(b)
    assert policy in b.firing_at(3600.0) and len(b.firing_at(3600.0)) == 3 and b.firing_at(3599.0) == []
    per_connector = book(scope="connector")
    per_connector.observe([snap(3600.0, "A", aged=250, oldest=0.0)])
    assert [n.text for n in per_connector.recorder.notes if n.kind == "alert_raised"] == [
        "Alert 'Messages have been delayed' (High): 250 messages on 'A' queued over 1h (A); tenant admins notified"]
