"""Sweep figures: every outcome counted, every recipient in time in system, times measured from what happened."""
from __future__ import annotations

import pytest

from mfi_sim import load_scenario, simulate
from mfi_sim.figures import COUNTS, FIGURES, connector_counts, figures_of
from mfi_sim.survival import Quantile, km_quantiles

from helpers import run_text, scenario_text

REFUSED = ('[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'
           'duration = "{d}"\n')


def test_certificate_expiry_alert_is_timed_from_the_first_failed_attempt() -> None:
    """certificate-expired: the insight comes about 3,900 s after the first failing attempt (just after
    expiry at 2 h), not 11,100 s after the run start, which is what a figure timed from the start would say."""
    result = simulate(load_scenario("certificate-expired"))
    figures = figures_of(result)
    first_failure = result.connectors[0].first_failure
    assert first_failure is not None and 7200 <= first_failure < 7300
    insight = figures["first_insight_after_failure_s"]
    assert insight == pytest.approx(11100 - first_failure)
    assert 3800 < insight < 4000
    assert figures["first_policy_after_failure_s"] is None     # the policy never fired: empty, not 0 or the run
    assert figures["drain_after_fault_end_s"] is None            # no [[faults]] entry: nothing to time from
    assert 0 < figures["drain_after_recovery_s"] <= 300          # recovered at 6h10m, drained by the next evaluation


def test_times_are_empty_when_nothing_failed() -> None:
    """A healthy run has no failure, so no time to alert or to drain: None, never a time from the run start."""
    figures = figures_of(simulate(load_scenario("healthy-baseline")))
    for key in ("first_insight_after_failure_s", "first_policy_after_failure_s", "drain_after_recovery_s",
                "drain_after_fault_end_s"):
        assert figures[key] is None, key
    assert figures["delivered_within_1h"] > 0.9 and figures["queued_at_end"] == 0


def test_every_outcome_is_counted_in_total_and_per_connector() -> None:
    """received = delivered + ndr + rejected + queued_at_end, in total and per connector; every contract key."""
    result = simulate(load_scenario("connection-refused"))
    figures = figures_of(result)
    assert [f.key for f in FIGURES][:6] == list(COUNTS)
    for counts in [figures, *(connector_counts(q) for q in result.connectors)]:
        assert counts["received"] == counts["delivered"] + counts["ndr"] + counts["rejected"] + counts["queued_at_end"]
    assert figures["rejected"] > 0          # Fix now rejects new mail for unknown recipients
    for key in ("received", "delivered", "ndr", "rejected", "queued_at_end", "peak_queue", "p50_time_in_system_s",
                "p95_time_in_system_s", "p95_delivered_latency_s", "delivered_within_1h", "delivered_within_4h",
                "delivered_within_24h", "first_insight_after_failure_s", "first_policy_after_failure_s",
                "drain_after_recovery_s", "utilisation"):
        assert key in figures, key


def test_still_queued_recipients_are_censored_not_dropped() -> None:
    """A fault to the end: every recipient still queued counts (censored at its age), so p95 time in system is a
    lower bound ('more than'), while delivered-only latency would look fine."""
    result = run_text(scenario_text(duration="4h", faults=REFUSED.format(d="3h")))
    figures = figures_of(result)
    waiting = result.connectors[0].queued_ages
    assert waiting.count == figures["queued_at_end"] > 0
    assert all(0 <= age <= 3 * 3600 for age, _ in waiting.bins())
    assert figures["p95_time_in_system_more_than"] is True
    assert figures["p95_time_in_system_s"] > 2 * 3600
    assert figures["p95_delivered_latency_s"] < 60            # what the old p95 reported


def test_ndr_counts_at_its_ndr_time() -> None:
    """Expired recipients enter time in system at arrival-to-NDR (the message lifetime), so the median moves."""
    result = run_text(scenario_text(duration="8h", tenant='message_expiration = "1h"',
                                    faults=REFUSED.format(d="7h")))
    figures = figures_of(result)
    assert figures["expired"] > 0 and figures["ndr"] >= figures["expired"]
    ndr = result.connectors[0].ndr_latency
    assert ndr.count == figures["ndr"] and ndr.percentile(0.5) == pytest.approx(3600, rel=0.02)
    assert figures["p50_time_in_system_s"] == pytest.approx(3600, rel=0.02)


def test_utilisation_counts_busy_connection_seconds() -> None:
    """Busy connection-seconds over available ones: one connection busy about rate x service time of the time."""
    result = run_text(scenario_text(duration="2h", rate="3600/h", connector="max_connections = 1",
                                    server='concurrency = 1'))
    figures = figures_of(result)
    # 1 message/s, 200 ms mean service time plus session set-up: about 20-30% of one connection
    assert 0.18 < figures["utilisation"] < 0.35


def test_kaplan_meier_quantiles() -> None:
    """The product-limit estimate: exact with no censoring; censored ones leave the risk set; short of q -> '>'."""
    plain = km_quantiles([(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)], [], (0.5, 0.95))
    assert plain == {0.5: Quantile(2.0, False), 0.95: Quantile(4.0, False)}
    # two censored at 1.5: after t=1 S=4/5; at t=2 the risk set is 2, so S=4/5*1/2=0.4 and the median is 2
    mixed = km_quantiles([(1.0, 1), (2.0, 1), (3.0, 1)], [(1.5, 2)], (0.5,))
    assert mixed[0.5] == Quantile(2.0, False)
    short = km_quantiles([(1.0, 1)], [(5.0, 9)], (0.5,))
    assert short[0.5] == Quantile(5.0, True)
    assert km_quantiles([], [], (0.5,)) == {0.5: None}
