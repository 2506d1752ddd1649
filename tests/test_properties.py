"""Invariants over random valid scenarios (hypothesis): conservation, expiry never early, never late delivery."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import loads_scenario
from mfi_sim.attempt import CONNECT_TIMEOUT
from mfi_sim.engine import Engine
from mfi_sim.messages import DONE, INVALID_GONE
from mfi_sim.output.events import EventWriter

from helpers import scenario_text

FAULTS = [
    'kind = "connection_refused"\ntarget = "198.51.100.10"',
    'kind = "connect_timeout"\ntarget = "198.51.100.10"',
    'kind = "service_unavailable"\ntarget = "198.51.100.10"',
    'kind = "connection_closed"\ntarget = "198.51.100.10"\nstage = "data"',
    'kind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\nreply = "451 4.7.500 Busy"',
    'kind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "mail"\nreply = "550 5.7.1 Blocked"',
    'kind = "dns_failure"\ntarget = "mail.contoso.com"\nerror = "servfail"',
    'kind = "certificate_expired"\ntarget = "198.51.100.10"',
]


@st.composite
def scenarios(draw: st.DrawFn) -> str:
    faults = []
    for _ in range(draw(st.integers(0, 3))):
        body = draw(st.sampled_from(FAULTS))
        start = draw(st.integers(0, 300))
        length = draw(st.integers(5, 600))
        p = draw(st.sampled_from([1.0, 1.0, 0.5, 0.1]))
        faults.append(f"[[faults]]\n{body}\nstart = \"{start}m\"\nduration = \"{length}m\"\nprobability = {p}\n")
    actions = []
    hours = draw(st.integers(1, 14))   # actions fall inside the run (one after its end is a load error)
    if draw(st.booleans()):
        do = draw(st.sampled_from(["fix_now", "disable_connector", "enable_connector"]))
        actions.append(f'[[actions]]\nat = "{draw(st.integers(0, 60 * hours))}m"\ndo = "{do}"\n'
                       f'connector = "To on-premises"\n')
    if faults and draw(st.booleans()):
        actions.append(f'[[actions]]\nat = "{draw(st.integers(0, 60 * hours))}m"\ndo = "clear_fault"\nfault = 0\n')
    retry = draw(st.sampled_from(['"exchange-online"', '"exchange-server"', '"postfix"', '"exim"', '["2m", "7m"]']))
    return scenario_text(
        duration=f"{hours}h",
        rate=f"{draw(st.integers(10, 1500))}/h",
        tenant=f'message_expiration = "{draw(st.integers(20, 600))}m"\nretry = {retry}\n'
               f'delay_notification = "{draw(st.sampled_from(["off", "30m", "2h"]))}"',
        connector=f"max_connections = {draw(st.integers(1, 8))}\n"
                  f"messages_per_connection = {draw(st.integers(1, 30))}\n"
                  f'tls = "{draw(st.sampled_from(["None", "CertificateValidation"]))}"',
        traffic=f"recipients_per_message = {draw(st.integers(1, 3))}\n"
                f"invalid_recipient_fraction = {draw(st.sampled_from([0.0, 0.1, 0.5]))}\n"
                + (f'bursts = [{{ at = "{draw(st.integers(0, 300))}m", count = {draw(st.integers(1, 400))} }}]'
                   if draw(st.booleans()) else ""),
        faults="\n".join(faults), actions="\n".join(actions),
        extra='[alerts]\nevaluate_every = "10m"', seed=draw(st.integers(0, 10 ** 6)))


def pending_recipients(engine: Engine) -> int:
    """Recipients still waiting, counted from message states (independently of the counters)."""
    total = 0
    for q in engine.queues:
        store = q.store
        for number, status in enumerate(store.status):
            if status != DONE:
                n = q.ledger.rcpts[store.stream[number]]
                total += n - (store.invalid[number] if status == INVALID_GONE else 0)
    return total


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_conservation_and_expiry(text: str) -> None:
    """received = delivered + ndr + rejected + queued at every snapshot and at the end; queued matches the
    messages still waiting; nothing is delivered after it expired and no expiry NDR comes early."""
    sc = loads_scenario(text, "random.toml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        writer = EventWriter(path, sc)
        engine = Engine(sc, trace=writer)
        checks: list[tuple[int, int]] = []

        def observe(snaps: list) -> None:  # type: ignore[type-arg]
            s = snaps[0]
            assert s.received == s.delivered + s.ndr + s.rejected + s.queued_recipients
            checks.append((s.queued_recipients, pending_recipients(engine)))

        engine.recorder.subscribe(observe)
        engine.run()
        writer.close()
        for counted, derived in checks:
            assert counted == derived
        latest = 0.0
        for note in engine.recorder.notes:   # in the order written: never about the past, beyond one attempt
            assert note.t >= latest - CONNECT_TIMEOUT - 1, "the story must never go back in time"
            latest = max(latest, note.t)
        c = engine.queues[0].counters
        assert c.received == c.delivered + c.ndr + c.rejected + c.queued
        assert c.queued == pending_recipients(engine)
        expiration = sc.tenant.message_expiration
        arrived: dict[tuple[str, str], float] = {}
        for line in path.read_text().splitlines():
            e = json.loads(line)
            key = (e["message_id"], e["recipient"])
            if e["event"] == "RECEIVE":
                arrived[key] = e["t"]
            elif e["event"] == "SEND":
                assert e["t"] <= arrived[key] + expiration + 1e-6
            elif e["event"] == "FAIL" and "expired" in e["detail"]:
                assert abs(e["t"] - (arrived[key] + expiration)) < 1e-5
