"""The connector queue and engine: queue-level retry, expiry, deferrals, admin actions, chunk independence."""
from __future__ import annotations

import math

import pytest

from mfi_sim import codes, loads_scenario
from mfi_sim.engine import Engine

from helpers import run_text, scenario_text

REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'


def only(result):  # type: ignore[no-untyped-def]
    return result.connectors[0]


def test_healthy_run_delivers_everything() -> None:
    """Without faults every message is delivered within seconds and nothing is left queued."""
    c = only(run_text(scenario_text(duration="3h", rate="1200/h")))
    assert c.received > 3000 and c.delivered == c.received - c.queued and c.queued <= 2
    assert c.ndr == 0 and not c.codes_seen and c.latency.max < 10


def test_queue_level_retry_follows_the_schedule() -> None:
    """A refused destination puts the queue into Retry; it probes once per retry on the exchange-online
    schedule (5, 5, 10, 15, 15, 20, 30, 40 min ...), not once per message."""
    q = only(run_text(scenario_text(duration="4h", faults=REFUSED)))
    # failures at +0, 5, 10, 20, 35, 50, 70, 100, 140 minutes after 1h; the next would be at +190 > 3h.
    assert q.codes_seen == {codes.CONNECTION_REFUSED: 9}
    assert q.status == "Retry"
    assert q.last_error_code == codes.CONNECTION_REFUSED
    assert q.queued == pytest.approx(3 * 600, abs=200)


def test_retry_status_in_snapshots_and_recovery() -> None:
    """Snapshots show Retry during the outage and the queue drains on the first retry after it ends."""
    text = scenario_text(duration="5h", faults=REFUSED + 'duration = "1h"\n')
    r = run_text(text)
    statuses = {s.t: s.status for s in r.snapshots}
    assert statuses[1.5 * 3600] == "Retry"
    assert statuses[4 * 3600] in ("Active", "Ready")
    q = only(r)
    assert q.queued <= 2
    kinds = [e.kind for e in r.timeline]
    assert kinds.index("queue_retry") < kinds.index("fault_end") < kinds.index("queue_recovered")
    recovered = next(e.t for e in r.timeline if e.kind == "queue_recovered")
    # retries after 1h: +5, +10, +20, +35, +50, +70 min -> first success at 1h70m = 7800 s
    assert recovered == pytest.approx(7800, abs=30)


def test_outage_longer_than_expiration_ndrs_the_right_messages() -> None:
    """Messages that arrive during an outage longer than the expiration E, up to E before the queue recovers,
    expire: about rate * (T + wait for the next retry - E) NDRs, with 550 5.4.316."""
    rate = 600.0
    text = scenario_text(duration="36h", rate="600/h",
                         faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\n'
                                'start = "1h"\nend = "31h"\n',
                         tenant='message_expiration = "24h"\ndelay_notification = "off"')
    r = run_text(text)
    q = only(r)
    recovered = next(e.t for e in r.timeline if e.kind == "queue_recovered")
    assert 31 * 3600 <= recovered <= 32 * 3600          # first retry after the fault, 60-minute cap
    expected = rate * (recovered - 3600 - 24 * 3600) / 3600
    assert abs(q.ndr - expected) <= 4 * math.sqrt(expected)
    assert q.ndr_by_status == {"5.4.316": q.ndr}
    assert q.queued <= 2


def test_recipient_level_deferral_defers_one_message() -> None:
    """A 4xx at RCPT defers only that message on its own schedule; the queue stays Active, not Retry."""
    fault = ('[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\n'
             'reply = "451 4.7.500 Server busy"\nstart = "1h"\nduration = "1h"\n')
    r = run_text(scenario_text(duration="4h", faults=fault))
    q = only(r)
    assert q.codes_seen.get("451 4.7.500", 0) > 500
    assert "queue_retry" not in [e.kind for e in r.timeline]
    assert all(s.status != "Retry" for s in r.snapshots)
    assert q.queued <= 2 and q.ndr == 0


def test_permanent_reply_ndrs_at_once() -> None:
    """A 5xx at MAIL NDRs the message at once with the destination's own status."""
    fault = ('[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "mail"\n'
             'reply = "550 5.7.1 Client host blocked"\nstart = "1h"\nduration = "1h"\n')
    q = only(run_text(scenario_text(duration="3h", faults=fault)))
    assert q.ndr_by_status == {"5.7.1": pytest.approx(600, abs=100)}
    assert q.queued <= 2


def test_greeting_rejection_is_retried_not_bounced() -> None:
    """A 554 greeting for an hour defers the queue as 450 4.4.317 and bounces nothing (SPEC 1.2, 2026-12)."""
    fault = ('[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "banner"\n'
             'reply = "554 5.7.1 No service for you"\nstart = "1h"\nduration = "1h"\n')
    r = run_text(scenario_text(duration="4h", faults=fault))
    q = only(r)
    assert q.ndr == 0 and q.codes_seen.get("450 4.4.317", 0) > 0
    assert "queue_retry" in [e.kind for e in r.timeline]


def test_unknown_recipients_bounce_with_5_1_10() -> None:
    """Recipients the destination does not know get 550 5.1.10 NDRs; the others are delivered."""
    c = only(run_text(scenario_text(duration="2h", traffic="recipients_per_message = 2\n"
                                                          "invalid_recipient_fraction = 0.25")))
    assert c.ndr_by_status == {"5.1.10": c.ndr}
    assert c.ndr == pytest.approx(0.25 * c.received, rel=0.15)
    assert c.delivered + c.ndr + c.queued == c.received


def test_fix_now_stops_queueing() -> None:
    """Fix now on a refused connector: after the effect delay nothing is queued; queued recipients get
    550 5.1.10 and new mail is rejected at once (all of it: nothing is delivered in the cloud)."""
    action = '[[actions]]\nat = "3h"\ndo = "fix_now"\nconnector = "To on-premises"\n'
    r = run_text(scenario_text(duration="6h", faults=REFUSED, actions=action,
                               traffic="invalid_recipient_fraction = 0.2"))
    c = only(r)
    effect = next(e.t for e in r.timeline if e.kind == "fix_effective")
    [taken] = r.actions
    assert taken.status == "accepted" and effect == taken.effective_s
    assert 3 * 3600 + 1800 <= effect <= 4 * 3600     # the propagation delay: between 30 minutes and an hour
    after = [s for s in r.snapshots if s.t > effect]
    assert after and all(s.queued_recipients == 0 for s in after)
    assert c.rejected == pytest.approx(600 * 2.5, rel=0.15)
    assert c.queued == 0 and c.ndr_by_status.get("5.1.10", 0) > 0.8 * 600 * 3
    assert c.delivered < 600 * 1.5


def test_disable_and_enable_connector() -> None:
    """A disabled connector is Suspended and no longer holds mail (it takes the default route, the domain's MX,
    here the same server); turned on again, it carries the mail itself (each change 5 minutes after the admin
    made it)."""
    actions = ('[[actions]]\nat = "1h"\ndo = "disable_connector"\nconnector = "To on-premises"\n'
               '[[actions]]\nat = "2h"\ndo = "enable_connector"\nconnector = "To on-premises"\n')
    r = run_text(scenario_text(duration="3h", actions=actions, tenant='propagation_delay = "5m"'))
    statuses = {s.t: (s.status, s.queued_messages) for s in r.snapshots}
    assert statuses[1.5 * 3600][0] == "Suspended" and statuses[1.5 * 3600][1] <= 3
    assert statuses[2.5 * 3600][1] <= 3


def test_set_smart_hosts_fixes_a_wrong_address() -> None:
    """A connector pointed at a dead address times out (4.4.315) until the admin corrects the smart host."""
    actions = ('[[actions]]\nat = "2h"\ndo = "set_smart_hosts"\nconnector = "To on-premises"\n'
               'smart_hosts = ["mail.contoso.com"]\n')
    text = scenario_text(duration="4h", actions=actions).replace(
        'smart_hosts = ["mail.contoso.com"]\nrecipient_domains', 'smart_hosts = ["198.51.100.10"]\nrecipient_domains')
    text = text.replace('[[servers]]', '[[servers]]\nport = 25', 1)
    # point the connector at a wrong address by DNS: mail A record -> 198.51.100.99
    text = text.replace("mail   300 IN A   198.51.100.10", "mail   300 IN A   198.51.100.99\n"
                                                             "good   300 IN A   198.51.100.10")
    text = text.replace('smart_hosts = ["198.51.100.10"]\nrecipient_domains', 'smart_hosts = ["mail.contoso.com"]\n'
                                                                             'recipient_domains')
    text = text.replace('smart_hosts = ["mail.contoso.com"]\n\n', 'smart_hosts = ["good.contoso.com"]\n\n')
    q = only(run_text(text))
    assert set(q.codes_seen) == {codes.CONNECTION_TIMED_OUT}
    assert q.queued <= 2


def test_dns_record_change_is_seen_after_ttl() -> None:
    """set_dns_record takes effect once the cached answer's TTL has run out."""
    fault = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'
    server2 = ('[[servers]]\naddress = "198.51.100.20"\nhostname = "mail2.contoso.com"\nstarttls = true\n'
               'service_time = "200ms"\n')
    action = ('[[actions]]\nat = "2h"\ndo = "set_dns_record"\nname = "mail.contoso.com"\ntype = "A"\n'
              'value = "198.51.100.20"\nttl = 300\n')
    r = run_text(scenario_text(duration="4h", faults=fault, actions=action, extra=server2))
    q = only(r)
    recovered = next(e.t for e in r.timeline if e.kind == "queue_recovered")
    assert recovered > 2 * 3600 and q.queued <= 2


def test_renewed_certificate_lets_the_queue_drain() -> None:
    """An expired certificate fails validation (4.7.320) until renewed; the next retry then succeeds."""
    action = ('[[actions]]\nat = "3h"\ndo = "renew_certificate"\ntarget = "198.51.100.10"\n'
              'not_after = "2027-06-01T00:00:00Z"\n')
    text = scenario_text(duration="5h", actions=action, connector='tls = "CertificateValidation"').replace(
        'not_after = "2027-01-01T00:00:00Z"', 'not_after = "2026-03-02T09:00:00Z"')
    r = run_text(text)
    q = only(r)
    assert set(q.codes_seen) == {codes.CERTIFICATE_FAILED}
    assert [e.kind for e in r.timeline][:2] == ["certificate_expired", "queue_retry"]
    assert q.queued <= 2


def test_clear_fault_ends_it() -> None:
    """clear_fault ends a fault early; the queue recovers on its next retry."""
    action = '[[actions]]\nat = "2h"\ndo = "clear_fault"\nfault = 0\n'
    r = run_text(scenario_text(duration="4h", faults=REFUSED, actions=action))
    recovered = next(e.t for e in r.timeline if e.kind == "queue_recovered")
    assert 2 * 3600 < recovered < 2.5 * 3600


def test_delay_notifications() -> None:
    """Messages still queued `delay_notification` after arrival get one delay DSN each."""
    text = scenario_text(duration="4h", faults=REFUSED, tenant='delay_notification = "1h"')
    q = only(run_text(text))
    # arrivals from 1h to 3h are queued for an hour by 4h
    assert q.delay_notifications == pytest.approx(600 * 2, rel=0.15)


def test_results_do_not_depend_on_the_evaluation_cadence() -> None:
    """The queue advances exactly: syncing every minute or every 30 minutes gives the same final counts."""
    base = scenario_text(duration="6h", faults=REFUSED + 'duration = "2h"\n', traffic="invalid_recipient_fraction = 0.1")
    a = only(run_text(base + '\n[alerts]\nevaluate_every = "1m"\n'))
    b = only(run_text(base + '\n[alerts]\nevaluate_every = "30m"\n'))
    for key in ("received", "delivered", "ndr", "attempts", "codes_seen"):
        assert getattr(a, key) == getattr(b, key)


def test_connections_carry_several_messages() -> None:
    """messages_per_connection: one DNS lookup/handshake serves a run of messages (fewer sessions)."""
    r = run_text(scenario_text(duration="1h", rate="20000/h", connector="max_connections = 2\n"
                                                                        "messages_per_connection = 50"))
    q = only(r)
    assert q.delivered > 15000


def test_pending_failure_is_handled_before_the_clock_passes_it() -> None:
    """A failed attempt puts the queue into Retry at its own time, even when open connections keep the
    dispatcher busy and the next sync comes later (regression: the Retry note appeared after a later event)."""
    faults = ('[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "0m"\nduration = "14m"\n'
              'probability = 0.5\n[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "0m"\n'
              'duration = "5m"\n')
    text = scenario_text(duration="1h", rate="36/h", faults=faults, seed=0,
                         tenant='message_expiration = "20m"\nretry = "exchange-server"\ndelay_notification = "off"',
                         connector="max_connections = 3\nmessages_per_connection = 2")
    engine = Engine(loads_scenario(text + '\n[alerts]\nevaluate_every = "10m"\n', "test.toml"))
    engine.run()
    latest = 0.0
    for note in engine.recorder.notes:   # in the order written
        assert note.t >= latest - 1.0
        latest = max(latest, note.t)


def test_server_concurrency_caps_the_connections() -> None:
    """A server that takes 2 connections at once limits a 20-connection connector to 2 (M/M/2, not M/M/20)."""
    base = scenario_text(duration="6h", rate="1.5/s", connector="max_connections = 20")
    base = base.replace('service_time = "200ms"', 'service_time = "1s"')
    wide = only(run_text(base))
    narrow = only(run_text(base.replace('service_time = "1s"', 'service_time = "1s"\nconcurrency = 2')))
    assert wide.connections == 20 and narrow.connections == 2
    mean_wide = wide.latency.total / wide.latency.count
    mean_narrow = narrow.latency.total / narrow.latency.count
    # Erlang C for 2 servers at 1.5/s, 1 s service: mean wait 1.29 s on top of the service time
    assert mean_wide == pytest.approx(1.0, rel=0.05)
    assert mean_narrow == pytest.approx(1.0 + 1.2857, rel=0.12)
