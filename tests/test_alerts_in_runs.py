"""Alerts in whole runs: when the insight and the policy fire, clear and resolve as a scenario plays out (the
rules' unit tests, on hand-made snapshots, are in test_alerts.py)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import alerts, codes
from mfi_sim.alerts import POLICY_NAME, RESOLVED

from helpers import run_text, scenario_text

REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'


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
