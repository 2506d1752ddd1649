"""The queue's express lane (express.py) gives the same run as the general loop, draw for draw, and carries the
bulk of the messages of a healthy queue and of a backlog draining after an outage."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from mfi_sim import express, loads_scenario
from mfi_sim.engine import Engine
from mfi_sim.output.json_result import result_json
from mfi_sim.records import NdrRecord, QueueSnapshot

from helpers import Trace, scenario_text


#: Connection-level faults (the queue goes into Retry) and message-level ones (a 4xx defers one message, with
#: its own timer, a dropped connection sends it back): the lane must hand back while either leaves traces.
FAULTS = ['kind = "connection_refused"', 'kind = "connect_timeout"', 'kind = "service_unavailable"',
          'kind = "smtp_reply"\nstage = "rcpt"\nreply = "451 4.7.500 Busy"',
          'kind = "smtp_reply"\nstage = "data"\nreply = "550 5.7.1 Blocked"',
          'kind = "connection_closed"\nstage = "data"']


@contextmanager
def lane_closed() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(express, "open_for", lambda q: False)
        yield


Run = tuple[str, list[NdrRecord], list[tuple[float, int, int]], list[QueueSnapshot], list[tuple[Any, ...]]]


def run(text: str, stops: list[float]) -> Run:
    """The run's JSON, its NDRs, (time, attempts, max depth) at each of `stops` (advancing the queue there first,
    as actions do), every evaluation's snapshot (aged messages, oldest arrival, status...), and per connector the
    figures the JSON rounds (connection time, latencies)."""
    ndrs: list[NdrRecord] = []
    engine = Engine(loads_scenario(text, "lane.toml"), on_ndr=ndrs.append)
    q = engine.queues[0]
    seen = []
    for t in stops:
        q.advance(t)
        seen.append((q.now, q.counters.attempts, q.counters.max_queue_depth))
    result = engine.run()
    exact = [(c.busy_s, c.latency.total, c.latency.max, c.latency.bins(), c.ndr_latency.bins())
             for c in result.connectors]      # unrounded: connection time and every latency
    return result_json(result), ndrs, seen, engine.recorder.snapshots, exact


@st.composite
def workloads(draw: st.DrawFn) -> tuple[str, list[float]]:
    hours = draw(st.integers(1, 4))
    faults = ""
    for _ in range(draw(st.integers(0, 2))):
        faults += (f'[[faults]]\n{draw(st.sampled_from(FAULTS))}\ntarget = "198.51.100.10"\n'
                   f'start = "{draw(st.integers(0, 60 * hours))}m"\nduration = "{draw(st.integers(1, 120))}m"\n'
                   f'probability = {draw(st.sampled_from([1.0, 1.0, 0.3]))}\n')
    second = ""
    if draw(st.booleans()):     # a second stream: arrivals of two streams can fall at the same instant
        second = (f'[[traffic]]\nrate = "{draw(st.integers(100, 3000))}/h"\nto = "contoso.com"\n'
                  f"recipients_per_message = {draw(st.integers(1, 3))}\n")
    bursts = ""
    if draw(st.booleans()):
        bursts = f'bursts = [{{ at = "{draw(st.integers(0, 60 * hours))}m", count = {draw(st.integers(1, 300))} }}]'
    text = scenario_text(
        duration=f"{hours}h", rate=f"{draw(st.integers(60, 20000))}/h",
        tenant=f'message_expiration = "{draw(st.integers(2, 600))}m"\nretry = ["{draw(st.integers(1, 20))}m"]\n'
               f'delay_notification = "{draw(st.sampled_from(["off", "1m", "20m", "2h"]))}"',
        connector=f"max_connections = {draw(st.integers(1, 6))}\n"
                  f"messages_per_connection = {draw(st.integers(1, 200))}",
        traffic=f"recipients_per_message = {draw(st.sampled_from([1, 1, 1, 2]))}\n"
                f"invalid_recipient_fraction = {draw(st.sampled_from([0.0, 0.0, 0.2]))}\n{bursts}",
        faults=faults, extra=second + f'[alerts]\nevaluate_every = "5m"\nqueued_for = "{draw(st.integers(1, 90))}m"',
        seed=draw(st.integers(0, 10 ** 6)),
    ).replace('service_time = "200ms"', f'service_time = "{draw(st.sampled_from([10, 200, 900, 4000]))}ms"')
    stops = sorted(draw(st.lists(st.floats(0.0, hours * 3600.0), max_size=6)))
    return text, stops


#: Found by the property below (under mutmut): the intake takes a message in ahead of the clock when the queue
#: is empty, so a waiting message may not have arrived yet; starting it at the connection's free time instead of
#: its arrival made one latency 0.385 s short (the JSON, rounded, did not show it).
AHEAD_OF_THE_CLOCK = (scenario_text(
    duration="4h", rate="5253/h", seed=351763,
    tenant='message_expiration = "594m"\nretry = ["20m"]\ndelay_notification = "off"',
    connector="max_connections = 2\nmessages_per_connection = 33",
    traffic='invalid_recipient_fraction = 0.2\nbursts = [{ at = "103m", count = 102 }]',
    faults='[[faults]]\nkind = "smtp_reply"\nstage = "rcpt"\nreply = "451 4.7.500 Busy"\ntarget = "198.51.100.10"\n'
           'start = "145m"\nduration = "61m"\nprobability = 0.3\n',
    extra='[alerts]\nevaluate_every = "5m"\nqueued_for = "88m"'),
    [2.5e-112, 2456.082287328756, 3053.1270125562182, 3729.699237343392, 4856.4362125125745, 10812.252195633055])


# No shrinking: a failing example is printed as drawn, in seconds rather than minutes.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(workloads())
@example(AHEAD_OF_THE_CLOCK)
def test_the_lane_changes_nothing(work: tuple[str, list[float]]) -> None:
    """Same JSON, same NDRs, and the same clock, attempts and peak depth at every intermediate advance,
    with the lane open and with every message through the general loop."""
    text, stops = work
    with lane_closed():
        general = run(text, stops)
    assert run(text, stops) == general


@pytest.mark.parametrize("connections,service,expiration", [(6, "900ms", "1h"), (2, "50ms", "1h"),
                                                            (1, "1000ms", "3m")])
def test_a_busy_queue_in_the_lane(connections: int, service: str, expiration: str) -> None:
    """A healthy queue at its busiest, then overloaded so that messages expire while they wait: the lane
    measures the peak depth at each arrival it serves, ages and expires messages exactly as the general loop."""
    text = scenario_text(duration="1h", rate="8000/h", tenant=f'delay_notification = "off"\n'
                         f'message_expiration = "{expiration}"',
                         connector=f"max_connections = {connections}\nmessages_per_connection = 100000",
                         extra='[alerts]\nqueued_for = "2m"\nthreshold = 200',
                         ).replace('service_time = "200ms"', f'service_time = "{service}"')
    with lane_closed():
        general = run(text, [1800.0])
    lane = run(text, [1800.0])
    assert lane == general
    assert general[2][0][2] > 1


def test_the_peak_of_a_light_queue_is_measured_in_the_lane() -> None:
    """Eight connections, little queueing: the peak (one arrival plus the busy connections) is reached while
    arrivals go at once, where the lane counts busy connections only when its bound says the peak could move."""
    text = scenario_text(duration="1h", rate="7200/h", tenant='delay_notification = "off"',
                         connector="max_connections = 8\nmessages_per_connection = 100000",
                         ).replace('service_time = "200ms"', 'service_time = "300ms"')
    with lane_closed():
        general = run(text, [3600.0])
    assert run(text, [3600.0]) == general
    assert general[2] == [(3600.0, 7138, 6)]


def test_delay_notices_due_while_the_backlog_drains() -> None:
    """A 30-minute refusal with delay notices after 1 minute: the messages still waiting when their notice falls
    due during the drain get it, sent before the lane delivers them, as the general loop sends it."""
    text = scenario_text(duration="3h", rate="7200/h", tenant='delay_notification = "1m"\nretry = ["5m"]',
                         connector="max_connections = 2\nmessages_per_connection = 1000",
                         faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\n'
                                'start = "30m"\nduration = "30m"\n')
    with lane_closed():
        general = run(text, [])
    assert run(text, []) == general
    assert json.loads(general[0])["connectors"][0]["delay_notifications"] == 4290


def test_a_notice_for_mail_that_arrives_while_the_backlog_drains() -> None:
    """A burst queued behind a refusal, and little other mail: every message that had one got its notice before
    the drain, and a message arriving during the drain waits behind the burst long enough to get its own."""
    text = scenario_text(duration="3h", rate="6/h", tenant='delay_notification = "1m"\nretry = ["5m"]',
                         connector="max_connections = 1\nmessages_per_connection = 100000",
                         traffic='bursts = [{ at = "40m", count = 2000 }]',
                         faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\n'
                                'start = "30m"\nduration = "30m"\n',
                         ).replace('service_time = "200ms"', 'service_time = "1s"')
    with lane_closed():
        general = run(text, [])
    assert run(text, []) == general


def carried(fn: Callable[..., None], into: list[int]) -> Callable[..., None]:
    """`fn`, counting the attempts it makes."""
    def counting(q: Any, t1: float) -> None:
        before = q.counters.attempts
        fn(q, t1)
        into.append(q.counters.attempts - before)
    return counting


def test_the_lane_carries_the_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A healthy hour, a 20-minute refusal, and the hour after: nearly every message goes through the lane,
    arrivals that go at once before and after the outage, the backlog as it drains."""
    arrivals: list[int] = []
    backlog: list[int] = []
    monkeypatch.setattr(express, "_arrivals", carried(express._arrivals, arrivals))
    monkeypatch.setattr(express, "_backlog", carried(express._backlog, backlog))
    text = scenario_text(
        duration="3h", rate="36000/h", connector="max_connections = 4\nmessages_per_connection = 1000",
        tenant='delay_notification = "off"',
        faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "60m"\nduration = "20m"',
    ).replace('service_time = "200ms"', 'service_time = "50ms"')
    result = Engine(loads_scenario(text, "lane.toml")).run()
    attempts = sum(c.attempts for c in result.connectors)
    backlog_at_recovery = 12000         # 20 minutes of 10 msg/s
    assert sum(backlog) > 0.9 * backlog_at_recovery
    assert sum(arrivals) > 0.9 * (attempts - backlog_at_recovery - 100)
    assert sum(arrivals) + sum(backlog) > 0.95 * attempts


def test_the_lane_is_closed_while_watched() -> None:
    """A trace or a transcript needs the general loop's per-attempt steps; delay notices do not."""
    text = scenario_text(duration="1h", tenant='delay_notification = "30m"')
    engine = Engine(loads_scenario(text, "lane.toml"))
    assert express.open_for(engine.queues[0])
    captured = Engine(loads_scenario(text, "lane.toml"), capture=1)
    assert not express.open_for(captured.queues[0])
    traced = Engine(loads_scenario(text, "lane.toml"), trace=Trace())
    assert not express.open_for(traced.queues[0])
