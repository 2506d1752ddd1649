"""The retry state of a connector queue, on its own: entering Retry, the schedule, recovery, Get-Queue's history."""
from __future__ import annotations

import pytest

from mfi_sim import codes
from mfi_sim.attempt import Outcome
from mfi_sim.retry import get_policy
from mfi_sim.retry_state import RetryState

REFUSED = Outcome(False, codes.CONNECTION_REFUSED, "refused", "mail.contoso.com", "198.51.100.10", 25, 0.05)


def retries_in_outage(preset: str, hours: float) -> list[float]:
    """The retry instants of a queue whose every retry fails during an outage of `hours` from t=0."""
    state = RetryState(get_policy(preset))
    t = 0.0
    times = []
    while t < hours * 3600:
        state.connection_failed(REFUSED, t)
        when, _ = state.take_pending()
        state.enter(when, REFUSED)
        times.append(when)
        assert state.retry_at is not None
        t = state.retry_at
        state.retried()
    return times


def test_postfix_backs_off_with_the_queue_age() -> None:
    """Postfix waits about as long as the failures have lasted (300 s .. 4000 s): 11 retries in 7 hours."""
    times = retries_in_outage("postfix", 7)
    assert len(times) == 11
    assert [b - a for a, b in zip(times, times[1:])][:6] == [300, 300, 600, 1200, 2400, 4000]


def test_exim_waits_15_minutes_for_two_hours_then_longer() -> None:
    """Exim's F,2h,15m then G,16h,1h,1.5: 8 retries in the first 2 hours, then the waits grow."""
    times = retries_in_outage("exim", 7)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:8] == [900.0] * 8
    assert gaps[8] >= 3600 and gaps[-1] > gaps[8]
    assert len(times) < 14


def test_exchange_online_retries_on_its_fixed_list() -> None:
    """The exchange-online preset ignores age: its intervals, the last repeating."""
    times = retries_in_outage("exchange-online", 8)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert [g / 60 for g in gaps] == [5, 5, 10, 15, 15, 20, 30, 40, 50, 60, 60, 60, 60]


def test_the_earliest_failure_takes_effect() -> None:
    """Two connections failing: the queue enters Retry at the earlier end, with that failure's reply."""
    state = RetryState(get_policy("exchange-online"))
    late = Outcome(False, codes.CONNECTION_TIMED_OUT, "timeout", "h", "198.51.100.10", 25, 30.0)
    state.connection_failed(late, 30.0)
    state.connection_failed(REFUSED, 1.0)
    assert state.pending_fail == 1.0
    t, outcome = state.take_pending()
    assert (t, outcome) == (1.0, REFUSED)
    assert state.pending_fail == float("inf")
    assert state.last is REFUSED


def test_first_retry_history_and_recovery() -> None:
    """first_retry stays at the first failure in a row; recovery ends the row but keeps last_retry."""
    state = RetryState(get_policy("exchange-online"))
    assert not state.failing() and not state.waiting(0.0)
    state.connection_failed(REFUSED, 10.0)
    assert state.failing()
    state.take_pending()
    assert state.enter(10.0, REFUSED) is True
    assert state.waiting(10.0) and state.next_retry(10.0) == state.retry_at
    at = state.retry_at
    assert at is not None
    state.retried()
    state.connection_failed(REFUSED, at)
    state.take_pending()
    assert state.enter(at, REFUSED) is False
    assert state.first_retry == 10.0 and state.last_retry == at and state.failures == 2
    assert state.recovered() == 2
    assert state.failures == 0 and state.first_retry is None and state.last_retry == at
    assert state.retries == 2


def test_reset_drops_pending_and_scheduled_retries() -> None:
    """After a reset (Fix now), nothing is pending and no retry is scheduled."""
    state = RetryState(get_policy("exchange-online"))
    state.connection_failed(REFUSED, 5.0)
    state.reset()
    assert state.pending_fail == float("inf") and state.retry_at is None
    with pytest.raises(AssertionError):
        state.take_pending()


def test_still_failing_while_a_retry_is_under_way() -> None:
    """After the first failure the queue counts as failing until a connection works again, also while its
    retry is being attempted (no retry scheduled, nothing pending): an expiry then still names the failure."""
    state = RetryState(get_policy("exchange-online"))
    state.connection_failed(REFUSED, 10.0)
    state.enter(*state.take_pending())
    state.retried()
    state.retry_at = None          # the loop clears it when the retry's attempt starts
    assert state.failures == 1 and state.failing()
    state.recovered()
    assert not state.failing()


def test_a_message_level_error_becomes_the_last_error() -> None:
    """error(): a message-level reply is the queue's last error, seen at `t`, without entering Retry."""
    state = RetryState(get_policy("exchange-online"))
    state.error(REFUSED, 42.0)
    assert state.last is REFUSED and state.last_error_time == 42.0 and not state.failing()


def test_attempts_since_lists_the_failed_retries_from_an_instant() -> None:
    """attempts_since(t): the failed retries at or after t, oldest first (what a message arriving at t saw)."""
    state = RetryState(get_policy("exchange-online"))
    for t in (10.0, 400.0, 1000.0):
        state.connection_failed(REFUSED, t)
        state.enter(*state.take_pending())
    row = (REFUSED.server_name, REFUSED.last_error)
    assert state.attempts_since(400.0) == ((400.0, *row), (1000.0, *row))
    assert state.attempts_since(1001.0) == () and len(state.attempts_since(0.0)) == 3


def test_nothing_is_on_record_before_the_first_failure() -> None:
    """A new state has no retry times, no last error and nothing pending (Get-Queue shows empty fields)."""
    state = RetryState(get_policy("exchange-online"))
    assert (state.first_retry, state.last_retry, state.last, state.last_error_time, state.pending_outcome) == (
        None, None, None, None, None)
    state.connection_failed(REFUSED, 3.0)
    assert state.last_error_time == 3.0
    state.take_pending()
    assert state.pending_outcome is None


def test_the_retry_instant_itself_is_no_longer_waiting() -> None:
    """At the retry time the queue tries again: not waiting any more, and that retry is not "next"."""
    state = RetryState(get_policy("exchange-online"))
    state.connection_failed(REFUSED, 10.0)
    state.enter(*state.take_pending())
    at = state.retry_at
    assert at is not None and state.waiting(at - 0.001) and not state.waiting(at)
    assert state.next_retry(at - 0.001) == at and state.next_retry(at) is None


def test_of_two_failures_ending_together_the_first_recorded_takes_effect() -> None:
    """Two attempts failing at the same instant: the one recorded first is the pending failure."""
    timeout = Outcome(False, codes.CONNECTION_TIMED_OUT, "timed out", "mail.contoso.com", "198.51.100.10", 25, 0.05)
    state = RetryState(get_policy("exchange-online"))
    state.connection_failed(REFUSED, 7.0)
    state.connection_failed(timeout, 7.0)
    assert state.take_pending() == (7.0, REFUSED) and state.last is timeout


def test_a_failure_with_no_server_is_listed_without_one() -> None:
    """A failure before any server was reached (DNS) goes into the history with an empty server name."""
    dns = Outcome(False, codes.DNS_QUERY_FAILED, "nonexistent domain", None, None, 25, 0.0)
    state = RetryState(get_policy("exchange-online"))
    state.connection_failed(dns, 1.0)
    state.enter(*state.take_pending())
    assert state.history == [(1.0, "", dns.last_error)]
