"""Alerts as the admin sees them: when the insight and the policy fire, update, aggregate, clear and resolve.

The first tests drive the rules in alerts.py directly with hand-made snapshots; the later ones run scenarios.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import alerts, codes
from mfi_sim.alerts import (ACTIVE, INSIGHT_NAME, POLICY_NAME, RESOLVED, AlertBook, DelayedMessagesPolicy,
                            RuleEntry)
from mfi_sim.records import QueueSnapshot, Recorder
from mfi_sim.scenario.schema import AlertSettings

from helpers import run_text, scenario_text

REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'
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


def test_insight_raised_when_oldest_message_crosses_the_hour() -> None:
    """The insight appears at the first evaluation after the oldest queued message has waited one hour."""
    r = run_text(scenario_text(duration="4h", faults=REFUSED))
    insight = next(a for a in r.alerts if a.kind == "insight")
    queued_since = min(s.oldest_arrival for s in r.snapshots
                       if s.oldest_arrival is not None and s.status == "Retry")
    assert queued_since + 3600 <= insight.raised_s <= queued_since + 3600 + 300
    assert insight.code == codes.CONNECTION_REFUSED and insight.fix_now
    assert insight.destination == "mail.contoso.com" and insight.last_ip == "198.51.100.10"
    assert insight.causes == codes.CATALOGUE[codes.CONNECTION_REFUSED].causes
    assert insight.resolved_s is None


def test_fix_now_only_for_refused() -> None:
    """Only 450 4.4.316 offers Fix now."""
    fault = REFUSED.replace("connection_refused", "connect_timeout")
    r = run_text(scenario_text(duration="3h", faults=fault))
    insight = next(a for a in r.alerts if a.kind == "insight")
    assert insight.code == codes.CONNECTION_TIMED_OUT and not insight.fix_now


def test_insight_code_follows_the_latest_error() -> None:
    """When the cause changes (refused, then timed out), the open insight carries the new code."""
    faults = (REFUSED + 'end = "3h"\n' + '[[faults]]\nkind = "connect_timeout"\ntarget = "198.51.100.10"\n'
              'start = "3h"\n')
    r = run_text(scenario_text(duration="6h", faults=faults))
    insights = [a for a in r.alerts if a.kind == "insight"]
    assert len(insights) == 1
    codes_over_time = [f["code"] for _, f in insights[0].history]
    assert codes_over_time[0] == codes.CONNECTION_REFUSED and codes_over_time[-1] == codes.CONNECTION_TIMED_OUT


def test_policy_raised_when_threshold_crossed_not_before() -> None:
    """The delayed-messages policy fires at the first evaluation with >= threshold messages queued over an
    hour; one alert, no duplicates, while it holds; a notification for the raise."""
    r = run_text(scenario_text(duration="8h", rate="1200/h", faults=REFUSED) + '\n[alerts]\nthreshold = 500\n')
    policies = [a for a in r.alerts if a.kind == "policy"]
    assert len(policies) == 1
    raised = policies[0].raised_s
    before = [s for s in r.snapshots if s.t < raised]
    assert all(s.aged_messages < 500 for s in before)
    at = next(s for s in r.snapshots if s.t == raised)
    assert at.aged_messages >= 500
    assert policies[0].severity == "High" and policies[0].category == "Mail flow"
    assert [n.alert for n in r.notifications] == [policies[0].id]
    assert policies[0].updates > 10


def test_policy_condition_clears_after_fix_and_auto_resolve_resolves_it() -> None:
    """When the queue drains, the policy's condition clears at the first evaluation below the threshold; the
    alert stays Active by default and resolves then with auto_resolve = true."""
    faults = REFUSED + 'end = "4h"\n'
    text = scenario_text(duration="8h", rate="1200/h", faults=faults) + '\n[alerts]\nthreshold = 500\n'
    for auto in (False, True):
        r = run_text(text + f"auto_resolve = {str(auto).lower()}\n")
        policy = next(a for a in r.alerts if a.kind == "policy")
        below = [s for s in r.snapshots if s.t >= policy.raised_s and s.aged_messages < 500]
        assert policy.condition_cleared_s == below[0].t
        assert policy.resolved_s == (below[0].t if auto else None)


def test_aggregation_reopens_instead_of_duplicating() -> None:
    """A match within the aggregation window after a resolution reopens the same alert; later, a new one."""
    faults = (REFUSED + 'end = "2h15m"\n'
              '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "2h30m"\nend = "5h"\n')
    text = scenario_text(duration="7h", rate="3000/h", faults=faults, tenant='retry = ["5m"]')
    wide = run_text(text + '\n[alerts]\nthreshold = 200\naggregation = "3h"\nauto_resolve = true\n')
    narrow = run_text(text + '\n[alerts]\nthreshold = 200\naggregation = "5m"\nauto_resolve = true\n')
    assert len([a for a in wide.alerts if a.kind == "policy"]) == 1
    assert len([a for a in narrow.alerts if a.kind == "policy"]) == 2
    assert len(wide.notifications) == 1 and len(narrow.notifications) == 2


def test_no_alert_in_a_healthy_run() -> None:
    """A healthy queue raises nothing."""
    r = run_text(scenario_text(duration="6h", rate="3000/h"))
    assert r.alerts == ()


def test_timeline_tells_the_story_in_order() -> None:
    """The timeline has fault start, Retry, insight, alert, action, fix, resolution, drain - in time order."""
    action = '[[actions]]\nat = "5h"\ndo = "fix_now"\nconnector = "To on-premises"\n'
    r = run_text(scenario_text(duration="8h", rate="1200/h", faults=REFUSED, actions=action)
                 + '\n[alerts]\nthreshold = 1000\nauto_resolve = true\n')
    kinds = [e.kind for e in r.timeline]
    for kind in ("fault_start", "queue_retry", "insight_raised", "alert_raised", "action", "fix_effective",
                 "insight_resolved", "alert_resolved", "queue_drained"):
        assert kind in kinds, kind
    times = [e.t for e in r.timeline]
    assert times == sorted(times)


@st.composite
def outages(draw: st.DrawFn) -> str:
    start = draw(st.integers(0, 240))
    length = draw(st.integers(10, 600))
    p = draw(st.sampled_from([1.0, 0.7]))
    kind = draw(st.sampled_from(["connection_refused", "connect_timeout", "service_unavailable"]))
    fault = (f'[[faults]]\nkind = "{kind}"\ntarget = "198.51.100.10"\nstart = "{start}m"\n'
             f'duration = "{length}m"\nprobability = {p}\n')
    every = draw(st.sampled_from(["1m", "5m", "15m"]))
    auto = draw(st.booleans())
    return scenario_text(duration=f"{draw(st.integers(2, 12))}h", rate=f"{draw(st.integers(100, 3000))}/h",
                         faults=fault, seed=draw(st.integers(0, 1000))) + \
        f'\n[alerts]\nthreshold = 200\nevaluate_every = "{every}"\naggregation = "{draw(st.sampled_from(["0m", "15m"]))}"\n' \
        f"auto_resolve = {str(auto).lower()}\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outages())
def test_alerts_fire_only_when_their_condition_held(text: str) -> None:
    """An alert's condition holds at every evaluation from its raise until its condition clears; it clears
    exactly at an evaluation where the condition failed (or still holds at the end); an insight resolves then,
    a policy then only with auto_resolve, and otherwise stays Active to the end."""
    r = run_text(text)
    snaps = r.snapshots
    queued_for = r.scenario.alerts.queued_for
    for alert in r.alerts:
        def holds(s):  # type: ignore[no-untyped-def]
            if alert.kind == "insight":
                return s.oldest_arrival is not None and s.t - s.oldest_arrival >= queued_for
            return s.aged_messages >= r.scenario.alerts.threshold
        cleared = alert.condition_cleared_s
        for s in snaps:
            if alert.firing_at(s.t) and (cleared is None or s.t < cleared):
                assert holds(s), (alert.id, s.t)
        if cleared is not None:
            at = next(s for s in snaps if s.t == cleared)
            assert not holds(at)
        else:
            assert holds(snaps[-1]) or snaps[-1].t == alert.history[-1][0]
        auto = alert.kind == "insight" or r.scenario.alerts.auto_resolve
        assert alert.resolved_s == (cleared if auto else None)


def test_resolve_alert_action_resolves_the_policy_and_refuses_an_insight() -> None:
    """resolve_alert by policy name resolves the Active policy alert then (resolved_by admin, after its
    condition cleared); by an insight's id it is refused in the timeline and changes nothing."""
    faults = REFUSED + 'end = "4h"\n'
    actions = ('[[actions]]\nat = "7h"\ndo = "resolve_alert"\nalert = "Messages have been delayed"\n'
               '[[actions]]\nat = "2h30m"\ndo = "resolve_alert"\nalert = "insight-1"\n')
    r = run_text(scenario_text(duration="8h", rate="1200/h", faults=faults, actions=actions)
                 + '\n[alerts]\nthreshold = 500\n')
    policy = next(a for a in r.alerts if a.kind == "policy")
    insight = next(a for a in r.alerts if a.kind == "insight")
    assert policy.condition_cleared_s is not None and policy.condition_cleared_s < 7 * 3600
    assert policy.resolved_s == 7 * 3600 and policy.resolved_by == alerts.ADMIN and policy.status == RESOLVED
    assert insight.resolved_by == alerts.CLEARED and insight.resolved_s == insight.condition_cleared_s
    refused = [e.text for e in r.timeline if e.kind == "action_refused"]
    assert refused == ["Admin resolves insight-1: refused, insight-1 is an insight: it disappears by itself once "
                       "its condition clears; nothing changes"]
    assert [(a.do, a.target, a.status, a.at_s) for a in r.actions] == [
        ("resolve_alert", "insight-1", "refused", 9000.0), ("resolve_alert", POLICY_NAME, "accepted", 25200.0)]
