"""The connector queue's loop, driven directly: connection reuse, Retry and its schedule, lazy advance, status."""
from __future__ import annotations

import pytest

from mfi_sim import codes, loads_scenario
from mfi_sim import queue as queue_module
from mfi_sim.attempt import SessionSpec, open_session
from mfi_sim.engine import Engine
from mfi_sim.queue import ACTIVE, READY, RETRY, SUSPENDED, ConnectorQueue
from mfi_sim.records import NdrRecord

from helpers import Trace, scenario_text


def build(text: str) -> tuple[Engine, ConnectorQueue]:
    engine = Engine(loads_scenario(text, "test.toml"))
    return engine, engine.queues[0]


def refused(start: str, duration: str) -> str:
    return (f'[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "{start}"\n'
            f'duration = "{duration}"')


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The instants at which the queue opens a new session (open_session, counted)."""
    instants: list[float] = []

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        instants.append(args[2])
        return open_session(*args, **kwargs)

    monkeypatch.setattr(queue_module, "open_session", counting)
    return instants


def test_open_sessions_carry_several_messages(opened: list[float]) -> None:
    """With one connection and steady mail, a new session opens once per `messages_per_connection` messages."""
    text = scenario_text(duration="1h", rate="3600/h", connector="max_connections = 1\nmessages_per_connection = 20")
    _, q = build(text.replace('service_time = "200ms"', 'service_time = "900ms"'))
    q.advance(3600.0)
    assert q.counters.attempts > 3000
    assert q.counters.attempts / 20 <= len(opened) < q.counters.attempts / 5


def test_a_session_carries_exactly_messages_per_connection(opened: list[float]) -> None:
    """Steady mail with no idle gap as long as the 2 s keep-alive: a new session every 20th message, exactly."""
    text = scenario_text(duration="30m", rate="36000/h", connector="max_connections = 1\nmessages_per_connection = 20")
    _, q = build(text.replace('service_time = "200ms"', 'service_time = "20ms"'))
    q.advance(1800.0)
    assert q.counters.attempts > 17000
    assert len(opened) == -(-q.counters.attempts // 20)


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


def test_a_disabled_connector_is_suspended_and_its_mail_goes_to_the_mx() -> None:
    """A connector turned off is Suspended; its mail takes the default route, the domain's MX on port 25."""
    _, q = build(scenario_text(duration="1h", rate="600/h", connector="enabled = false"))
    q.advance(3600.0)
    assert q.status() == SUSPENDED
    assert q.spec.use_mx and q.spec.hosts == ("contoso.com",) and q.spec.port == 25
    assert q.counters.delivered > 500 and q.counters.queued <= 2


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


def notes(engine: Engine, kind: str) -> list[tuple[float, str | None, str, str | None]]:
    """The timeline notes of one kind: (time, connector, text, code)."""
    return [(n.t, n.connector, n.text, n.code) for n in engine.recorder.notes if n.kind == kind]


def test_fix_now_ends_the_queued_mail_with_5_1_10_and_rejects_new_mail() -> None:
    """Fix now on a refused queue: every queued message gets an NDR 550 5.1.10 at once (counted as NDRs),
    later mail is rejected on arrival (counted as rejected), and the queue makes no attempt any more."""
    engine, q = build(scenario_text(duration="3h", rate="600/h", faults=refused("0s", "3h")))
    q.advance(3600.0)
    queued, attempts = q.ledger.queued(), q.counters.attempts
    assert queued > 500 and q.status() == RETRY
    q.apply_fix_now(3600.0)
    c = q.counters
    assert c.ndr == queued and c.ndr_by_status == {"5.1.10": queued} and c.rejected == 0
    assert q.ledger.queued() == 0 and q.status() == READY
    q.advance(7200.0)
    assert c.rejected == c.received - queued > 500 and c.ndr == queued
    assert c.attempts == attempts and q.ledger.queued() == 0 and q.status() == READY
    assert notes(engine, "fix_effective") == [
        (3600.0, "To on-premises", f"Fix now took effect on 'To on-premises': {queued} queued messages get an NDR "
         "(550 5.1.10, recipient not found) and new mail for its domains is rejected at once", "450 4.4.316")]


def test_turned_off_with_an_authoritative_domain_then_on_again() -> None:
    """Turned off while its domain is Authoritative, a connector ends its queued mail with 5.1.10 NDRs (said
    once in the timeline, with the count) and rejects new mail on arrival; turned on again, it queues mail for
    its own smart host once more."""
    engine, q = build(scenario_text(duration="3h", rate="600/h", faults=refused("0s", "3h")))
    q.advance(3600.0)
    queued = q.ledger.queued()
    engine.accepted_domains["contoso.com"] = "Authoritative"
    q.set_enabled(False)
    c = q.counters
    assert c.ndr == queued and c.ndr_by_status == {"5.1.10": queued} and c.rejected == 0
    assert q.ledger.queued() == 0 and q.status() == SUSPENDED
    assert q.spec == SessionSpec(("contoso.com",), True, 25, "None", None)
    q.advance(5400.0)
    rejected = c.rejected
    assert rejected == c.received - queued > 200 and c.ndr == queued and q.ledger.queued() == 0
    q.reroute()           # nothing is left to end: no second note
    assert notes(engine, "default_route") == [
        (3600.0, "To on-premises", f"Connector 'To on-premises' is off: {queued} queued messages for its domains end "
         "on the default route (rejected for an Authoritative domain, or a mail loop when the MX points back at "
         "the service)", None)]
    q.set_enabled(True)
    assert q.enabled and q.spec == SessionSpec(("mail.contoso.com",), False, 25, "None", None)
    q.advance(7200.0)
    assert c.rejected == rejected and q.ledger.queued() > 200 and q.status() == RETRY


def test_a_connector_that_is_on_does_not_reroute() -> None:
    """reroute only applies to a connector that is off: one that is on keeps its queue, even for an
    Authoritative domain."""
    engine, q = build(scenario_text(duration="2h", rate="600/h", faults=refused("0s", "2h")))
    q.advance(3600.0)
    queued = q.ledger.queued()
    engine.accepted_domains["contoso.com"] = "Authoritative"
    q.reroute()
    assert q.ledger.queued() == queued and q.counters.ndr == 0 and notes(engine, "default_route") == []


def test_new_smart_hosts_and_tls_apply_to_new_connections() -> None:
    """New smart hosts or a new TLS setting close the open sessions: the next connections use them (here a
    host with no DNS record, then a certificate that does not match the required domain)."""
    for change, code in ((lambda q: q.set_smart_hosts(("nowhere.contoso.com",)), "450 4.4.312"),
                         (lambda q: q.set_tls("DomainValidation", "other.contoso.com"), "450 4.7.320")):
        _, q = build(scenario_text(duration="2h", rate="600/h"))
        q.advance(1800.0)
        delivered = q.counters.delivered
        assert delivered > 250 and any(s is not None for s in q.pool.session)
        change(q)
        assert all(s is None for s in q.pool.session)
        q.advance(3600.0)
        assert q.status() == RETRY and q.last is not None and q.last.code == code
        assert q.counters.delivered == delivered


def test_changes_to_a_connector_that_is_off_wait_until_it_is_on() -> None:
    """While the connector is off its mail takes the default route whatever its settings say; turned on, it
    uses the smart hosts and TLS setting changed meanwhile."""
    _, q = build(scenario_text(duration="2h", rate="600/h", connector="enabled = false"))
    q.advance(1800.0)
    q.set_tls("DomainValidation", "other.contoso.com")
    q.set_smart_hosts(("nowhere.contoso.com",))
    assert q.spec == SessionSpec(("contoso.com",), True, 25, "None", None)
    q.advance(3600.0)
    assert q.status() == SUSPENDED and q.last is None and q.counters.delivered > 550
    q.set_enabled(True)
    assert q.spec == SessionSpec(("nowhere.contoso.com",), False, 25, "DomainValidation", "other.contoso.com")
    q.advance(5400.0)
    assert q.status() == RETRY and q.last is not None and q.last.code == "450 4.4.312"


def test_a_transcript_does_not_change_the_run() -> None:
    """Recording a transcript sends each message down the watched path; the run must be the same as without,
    recovery note included."""
    text = scenario_text(duration="2h", rate="600/h", faults=refused("10m", "20m"))
    runs = []
    for capture in (None, 0):
        engine = Engine(loads_scenario(text, "test.toml"), capture=capture)
        q = engine.queues[0]
        q.advance(7200.0)
        c = q.counters
        runs.append(((c.received, c.delivered, c.ndr, c.attempts, c.max_queue_depth, round(c.busy_s, 6)),
                     q.retry.retries, notes(engine, "queue_recovered")))
        assert (q.transcript_lines is None) == (capture is None)
    assert runs[0] == runs[1]
    (received, delivered, *_), retries, recovered = runs[1]
    assert delivered == received and retries > 1
    assert [(n[1], n[2], n[3]) for n in recovered] == [
        ("To on-premises", f"Queue 'To on-premises' connected again after {retries} failed retries; delivering",
         None)]


@pytest.mark.parametrize("reply", ["451 4.7.500 Server busy", "550 5.7.1 Relaying denied"])
def test_a_reply_to_rcpt_defers_or_bounces_one_message(reply: str) -> None:
    """A 4xx to RCPT for ten minutes (about 100 messages at 600/h) defers the messages it strikes: all are
    delivered later, with more attempts than messages; a 5xx bounces them with the destination's status. The
    queue itself never goes into Retry."""
    fault = (f'[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\nreply = "{reply}"\n'
             'start = "10m"\nduration = "10m"')
    _, q = build(scenario_text(duration="2h", rate="600/h", faults=fault))
    q.advance(7200.0)
    c = q.counters
    assert q.ledger.queued() == 0 and q.retry.retries == 0 and c.received > 1000
    if reply.startswith("4"):
        assert c.delivered == c.received and c.ndr == 0 and c.attempts > c.received + 50
    else:
        assert c.ndr_by_status == {"5.7.1": c.ndr} and 50 < c.ndr < 150
        assert c.delivered + c.ndr == c.received == c.attempts


def test_one_failed_retry_is_said_in_the_singular() -> None:
    """A short outage that one retry outlasts: the recovery note counts "1 failed retry"."""
    engine, q = build(scenario_text(duration="1h", rate="600/h", faults=refused("10m", "20s")))
    q.advance(3600.0)
    assert q.retry.retries == 1 and [n[2] for n in notes(engine, "queue_recovered")] == [
        "Queue 'To on-premises' connected again after 1 failed retry; delivering"]


def test_intake_draws_each_recipient_unknown_with_the_stream_s_fraction() -> None:
    """Each new message's unknown recipients: every one with fraction 1, and about that share of them
    otherwise (never more than the message has)."""
    for fraction, low, high in ((1.0, 1.0, 1.0), (0.25, 0.2, 0.3)):
        _, q = build(scenario_text(duration="1h", rate="3600/h",
                                   traffic=f"invalid_recipient_fraction = {fraction}\nrecipients_per_message = 4"))
        q.advance(3600.0)
        invalid = q.store.invalid
        assert len(invalid) > 3000 and set(invalid) <= {0, 1, 2, 3, 4}
        assert low <= sum(invalid) / (4 * len(invalid)) <= high


def test_each_failed_retry_is_one_attempt_and_defers_everything_queued() -> None:
    """Refused from the start: every retry is one failed attempt (counted, with its code and its time on the
    wire), the queue enters Retry when the attempt ends, every message that has arrived gets a DEFER with the
    error and the server tried, and the timeline says once that the queue went into Retry."""
    trace = Trace()
    engine = Engine(loads_scenario(scenario_text(duration="1h", rate="600/h", faults=refused("0s", "2h")),
                                   "test.toml"), trace=trace)
    q = engine.queues[0]
    q.advance(3600.0)
    c, retry = q.counters, q.retry
    assert q.last is not None and retry.retries > 3 and c.delivered == 0
    error, elapsed = q.last.last_error, q.last.elapsed
    assert c.attempts == retry.retries and c.codes_seen == {"450 4.4.316": retry.retries}
    assert c.busy_s == pytest.approx(retry.retries * elapsed) and elapsed > 0
    assert retry.history[0] == (pytest.approx(q.store.arrival[0] + elapsed), "mail.contoso.com", error)
    arrival = q.store.arrival
    for when, _, _ in retry.history:
        deferred = [e for e in trace.events if e[1] == "DEFER" and e[0] == when]
        assert len(deferred) == sum(1 for a in arrival if a <= when) > 0
        assert {(e[5], e[6], e[7]) for e in deferred} == {(error, "Pending", ("mail.contoso.com", "198.51.100.10"))}
    assert notes(engine, "queue_retry") == [(retry.history[0][0], "To on-premises",
                                             f"Queue 'To on-premises' went into Retry: {error}", "450 4.4.316")]


def test_a_connector_that_uses_mx_sends_to_the_domain_s_mx_host() -> None:
    """A connector with use_mx and no smart host looks up the recipient domain's MX (here mail.contoso.com)."""
    text = scenario_text(duration="1h", rate="600/h", connector="use_mx = true")
    _, q = build(text.replace('smart_hosts = ["mail.contoso.com"]\n', ""))
    assert q.spec == SessionSpec(("contoso.com",), True, 25, "None", None)
    q.advance(1800.0)
    q.set_tls("EncryptionOnly", None)      # still by MX, now with TLS required
    assert q.spec == SessionSpec(("contoso.com",), True, 25, "EncryptionOnly", None)
    q.advance(3600.0)
    assert q.last is None and q.counters.delivered == q.counters.received > 500


@pytest.mark.parametrize("domain, code", [("mail.contoso.com", None), ("other.contoso.com", "450 4.7.320")])
def test_a_connector_s_own_tls_setting_holds_from_the_start(domain: str, code: str | None) -> None:
    """DomainValidation from the scenario: the certificate must name the connector's TLS domain, else every
    connection fails its validation and nothing is delivered."""
    _, q = build(scenario_text(duration="1h", rate="600/h",
                               connector=f'tls = "DomainValidation"\ntls_domain = "{domain}"'))
    q.advance(3600.0)
    assert (q.last.code if q.last else None) == code
    assert (q.counters.delivered > 500) == (code is None)


def test_after_fix_now_turning_the_connector_off_and_on_changes_nothing() -> None:
    """Fix now is final: turning the connector off and on again afterwards neither routes its mail anywhere
    nor queues it again; every later message is still rejected on arrival, at its arrival time."""
    trace = Trace()
    engine = Engine(loads_scenario(scenario_text(duration="3h", rate="600/h", faults=refused("0s", "3h")),
                                   "test.toml"), trace=trace)
    q = engine.queues[0]
    q.advance(3600.0)
    q.apply_fix_now(3600.0)
    q.set_enabled(False)
    q.advance(5400.0)
    q.set_enabled(True)
    q.advance(7200.0)
    c = q.counters
    assert q.ledger.queued() == 0 and c.rejected + c.ndr == c.received and c.delivered == 0
    assert q.status() == READY and notes(engine, "default_route") == []
    rejected = [e for e in trace.events if e[1] == "FAIL" and e[5] == codes.RECIPIENT_REJECTED]
    arrival = q.store.arrival
    assert len(rejected) == c.rejected and all(e[0] == arrival[e[3]] > 3600.0 for e in rejected)


def test_a_connector_turned_off_keeps_the_mail_its_mx_takes() -> None:
    """Turned off, a connector whose domain's MX is an ordinary host keeps its queued mail for that MX (no
    default-route note); when the domain becomes Authoritative the queued mail ends, counted once."""
    engine, q = build(scenario_text(duration="2h", rate="600/h", faults=refused("0s", "2h")))
    q.advance(3600.0)
    queued = q.ledger.queued()
    q.set_enabled(False)
    assert q.ledger.queued() == queued and notes(engine, "default_route") == []
    engine.set_accepted_domain("contoso.com", "Authoritative")
    assert q.ledger.queued() == 0 and [n[2].split(":")[1] for n in notes(engine, "default_route")] == [
        f" {queued} queued messages for its domains end on the default route (rejected for an Authoritative domain, or "
        "a mail loop when the MX points back at the service)"]


def test_get_queue_counts_the_messages_on_the_wire() -> None:
    """Under heavy load the connections are busy: the message count includes one per busy connection (at the
    instant asked), and the queue is Active whenever it holds any."""
    _, q = build(scenario_text(duration="1h", rate="36000/h"))
    seen_busy = False
    for step in range(1, 200):
        q.advance(step * 7.3)
        busy = q.pool.busy(q.now)
        assert q.queued_messages() == q.ledger.queued() + busy
        assert q.queued_messages(at=q.now + 3600.0) == q.ledger.queued()
        assert q.status() == (ACTIVE if q.queued_messages() else READY)
        seen_busy = seen_busy or (busy > 0 and q.ledger.queued() == 0)
    assert seen_busy


def test_delay_notices_go_out_while_the_queue_is_in_retry() -> None:
    """With delay_notification = 30m, a message still queued 30 minutes after arrival gets one notice."""
    _, q = build(scenario_text(duration="2h", rate="600/h", faults=refused("10m", "2h"),
                               tenant='delay_notification = "30m"'))
    q.advance(3600.0)
    waited = sum(1 for a in q.store.arrival if a <= 1800.0 and a > 590.0)
    assert abs(q.counters.delay_notifications - waited) <= 2 and waited > 150


def test_the_deepest_queue_counts_deferred_messages() -> None:
    """max_queue_depth counts waiting, ready-again and deferred messages (a 4xx to RCPT defers many)."""
    fault = ('[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\n'
             'reply = "451 4.7.500 Server busy"\nstart = "10m"\nduration = "30m"')
    _, q = build(scenario_text(duration="2h", rate="3600/h", faults=fault))
    deepest = 0
    for step in range(1, 121):
        q.advance(step * 30.0)
        deepest = max(deepest, len(q.ledger.deferred) + len(q.ledger.ready) + len(q.ledger.waiting))
    assert len(q.ledger.deferred) == 0 and deepest > 100
    assert deepest <= q.counters.max_queue_depth <= deepest + 25


def test_a_transcript_on_one_busy_connection_changes_nothing_and_shows_the_reuse() -> None:
    """One connection carrying 20 messages a session, at 3600/h: the watched path keeps the same counts, busy
    time, queue depth and latencies; attempt 5 is recorded on the reused session, attempt 0 (the first
    failure) is none here."""
    text = scenario_text(duration="1h", rate="3600/h", connector="max_connections = 1\nmessages_per_connection = 20")
    seen = []
    for capture in (None, 5):
        q = Engine(loads_scenario(text.replace('service_time = "200ms"', 'service_time = "900ms"'), "test.toml"),
                   capture=capture).queues[0]
        q.advance(3600.0)
        q.flush_latency()
        c = q.counters
        seen.append((c.attempts, c.delivered, c.max_queue_depth, round(c.busy_s, 6), q.latency.count,
                     round(q.latency.total, 6)))
    assert seen[0] == seen[1] and seen[0][2] > 5
    lines = q.transcript_lines
    assert lines is not None and lines[0].endswith(" attempt 5 for message 4")
    assert lines[1] == "=== Reusing the open connection to mail.contoso.com [198.51.100.10]"
    assert lines[-1] == "=== Outcome: 250 2.6.0 Queued mail for delivery"


def test_the_first_failure_s_transcript_names_its_attempt_and_message() -> None:
    """capture 0 records the first failed attempt: the attempt's number (one per message so far, plus this
    one), the message, the server tried and the refusal."""
    q = Engine(loads_scenario(scenario_text(duration="1h", rate="600/h", faults=refused("10m", "20m")), "test.toml"),
               capture=0).queues[0]
    q.advance(3600.0)
    lines = q.transcript_lines
    assert lines is not None
    first = sum(1 for a in q.store.arrival if a < 600.0)
    assert lines[0].endswith(f" attempt {first + 1} for message {first}")
    assert lines[1] == "=== Trying mail.contoso.com:25..." and lines[-1].startswith("=== Outcome: 450 4.4.316 ")
    opened = Engine(loads_scenario(scenario_text(duration="1h", rate="600/h"), "test.toml"), capture=3).queues[0]
    opened.advance(600.0)
    assert opened.transcript_lines is not None and opened.transcript_lines[0].endswith(" attempt 3 for message 2")
    assert "=== Connected to 198.51.100.10." in opened.transcript_lines
    assert opened.transcript_lines[-1] == "=== Outcome: 250 2.6.0 Queued mail for delivery"


def test_every_recipient_received_is_one_receive_event() -> None:
    """With a trace, intake writes one RECEIVE per recipient of each new message, at its arrival."""
    trace = Trace()
    engine = Engine(loads_scenario(scenario_text(duration="1h", rate="600/h", traffic="recipients_per_message = 2"),
                                   "test.toml"), trace=trace)
    q = engine.queues[0]
    q.advance(600.0)
    received = [e for e in trace.events if e[1] == "RECEIVE"]
    arrival = q.store.arrival
    assert len(received) == 2 * len(arrival) == q.counters.received > 100
    assert received[:4] == [(arrival[n], "RECEIVE", 0, n, k, "Message received by the service", "Pending", None)
                            for n in (0, 1) for k in (0, 1)]


def test_an_attempt_that_would_end_after_the_deadline_expires_at_the_deadline() -> None:
    """Lifetime 20 minutes, 10-minute sessions after a 15-minute outage: a message whose attempt would finish
    after its expiry expires at arrival + 20 minutes exactly (SPEC 1.2), and every message is accounted for."""
    ndrs: list[NdrRecord] = []
    text = scenario_text(duration="1h", rate="60/h", faults=refused("0s", "15m"), tenant='message_expiration = "20m"',
                         server='service_time = "10m"').replace('service_time = "200ms"\n', "")
    q = Engine(loads_scenario(text, "test.toml"), on_ndr=ndrs.append).queues[0]
    q.advance(3600.0)
    c, arrival = q.counters, q.store.arrival
    assert q.expired > 5 and len(ndrs) == q.expired == len({r.number for r in ndrs})
    assert all(r.t == arrival[r.number] + 1200.0 for r in ndrs)
    assert c.delivered + q.expired + q.ledger.queued() == c.received   # (delivered counts those on the wire)


def test_busy_time_is_the_time_spent_sending() -> None:
    """busy_s adds each attempt's time on the wire: about the mean service time (200 ms) per message."""
    _, q = build(scenario_text(duration="1h", rate="3600/h"))
    q.advance(3600.0)
    assert 0.18 < q.counters.busy_s / q.counters.delivered < 0.22
