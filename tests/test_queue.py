"""The connector queue's loop, driven directly: connection reuse, Retry and its schedule, lazy advance, status."""
from __future__ import annotations

import pytest

from mfi_sim import loads_scenario
from mfi_sim import queue as queue_module
from mfi_sim.attempt import open_session
from mfi_sim.engine import Engine
from mfi_sim.queue import ACTIVE, READY, RETRY, SUSPENDED, ConnectorQueue

from helpers import scenario_text


def build(text: str) -> tuple[Engine, ConnectorQueue]:
    engine = Engine(loads_scenario(text, "test.toml"))
    return engine, engine.queues[0]


def refused(start: str, duration: str) -> str:
    return (f'[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "{start}"\n'
            f'duration = "{duration}"')


def test_open_sessions_carry_several_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one connection and steady mail, a new session opens once per `messages_per_connection` messages."""
    opened = []

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args[2])
        return open_session(*args, **kwargs)

    monkeypatch.setattr(queue_module, "open_session", counting)
    text = scenario_text(duration="1h", rate="3600/h", connector="max_connections = 1\nmessages_per_connection = 20")
    _, q = build(text.replace('service_time = "200ms"', 'service_time = "900ms"'))
    q.advance(3600.0)
    assert q.counters.attempts > 3000
    assert q.counters.attempts / 20 <= len(opened) < q.counters.attempts / 5


def test_a_postfix_queue_retries_11_times_in_a_7_hour_outage() -> None:
    """The postfix preset backs off with the age of the failure run: 11 queue retries in 7 hours, not 84."""
    _, q = build(scenario_text(duration="7h", rate="60/h", tenant='retry = "postfix"',
                               faults=refused("0s", "8h")))
    q.advance(7 * 3600.0)
    assert q.retry.retries == 11
    assert q.retry.failures == 11 and q.retry.first_retry is not None and q.retry.first_retry < 120


def test_exim_queue_retries_every_15_minutes_at_first() -> None:
    """The exim preset: retries 15 minutes apart in the first two hours of an outage."""
    _, q = build(scenario_text(duration="2h", rate="60/h", tenant='retry = "exim"', faults=refused("0s", "3h")))
    q.advance(3600.0)
    assert q.retry.retries == 4


def test_retry_status_and_recovery() -> None:
    """Refused connections put the queue into Retry; after the fault it is Active, then Ready when idle."""
    engine, q = build(scenario_text(duration="2h", rate="600/h", faults=refused("10m", "20m")))
    assert q.status() == READY
    q.advance(20 * 60.0)
    assert q.status() == RETRY and q.last is not None and q.last.code == "450 4.4.316"
    assert q.queued_messages() > 50
    q.advance(2 * 3600.0)
    assert q.retry.failures == 0 and q.queued_messages() <= 2
    assert q.status() in (READY, ACTIVE)
    kinds = [n.kind for n in engine.recorder.notes]
    assert kinds.count("queue_retry") == 1 and kinds.count("queue_recovered") == 1


def test_advancing_in_small_steps_gives_the_same_result() -> None:
    """The lazy loop is exact: one call to t or many small calls reach the same state."""
    text = scenario_text(duration="3h", rate="1200/h", faults=refused("30m", "40m"),
                         traffic="invalid_recipient_fraction = 0.1\nrecipients_per_message = 2")
    _, one = build(text)
    one.advance(3 * 3600.0)
    _, many = build(text)
    t = 0.0
    while t < 3 * 3600.0:
        t = min(t + 97.0, 3 * 3600.0)
        many.advance(t)
    for field in ("received", "delivered", "ndr", "attempts", "max_queue_depth"):
        assert getattr(one.counters, field) == getattr(many.counters, field), field
    assert one.retry.retries == many.retry.retries


def test_a_disabled_connector_is_suspended_and_sends_nothing() -> None:
    """A connector turned off sends nothing; its status is Suspended."""
    _, q = build(scenario_text(duration="1h", rate="600/h", connector="enabled = false"))
    q.advance(3600.0)
    assert q.status() == SUSPENDED
    assert q.counters.attempts == 0 and q.counters.delivered == 0


def test_two_identical_traffic_tables_have_independent_arrivals() -> None:
    """Random streams are keyed by position: two identical [[traffic]] tables do not arrive in lockstep."""
    text = scenario_text(duration="1h", rate="600/h") + '\n[[traffic]]\nrate = "600/h"\n'
    engine, q = build(text)
    q.advance(3600.0)
    arrival, stream = q.store.arrival, q.store.stream
    first = [arrival[i] for i in range(len(arrival)) if stream[i] == 0]
    second = [arrival[i] for i in range(len(arrival)) if stream[i] == 1]
    assert len(first) > 400 and len(second) > 400
    assert len(set(first) & set(second)) == 0
    assert len(set(arrival)) == len(arrival)
