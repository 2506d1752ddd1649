"""Admin actions: Fix now only where the insight offers it, tenant changes after the propagation delay,
destination-side changes at once, refusals recorded and changing nothing.

The first tests drive actions.take with a small stand-in for the engine; the later ones run scenarios."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from mfi_sim import actions, codes, loads_scenario
from mfi_sim.actions import ACCEPTED, REFUSED, take
from mfi_sim.alerts import AlertBook
from mfi_sim.engine import Engine
from mfi_sim.errors import ScenarioError
from mfi_sim.faults import FaultSchedule
from mfi_sim.output.json_result import result_dict
from mfi_sim.records import QueueSnapshot, Recorder
from mfi_sim.scenario.schema import Action, AlertSettings, Scenario
from mfi_sim.world.state import WorldState

from helpers import run_text, scenario_text

OUT = "To on-premises"
REFUSED_FAULT = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'
TIMEOUT_FAULT = REFUSED_FAULT.replace("connection_refused", "connect_timeout")


@dataclass
class FakeQueue:
    """Records what the actions did to a connector's queue."""

    name: str
    calls: list[tuple[str, object]] = field(default_factory=list)

    def apply_fix_now(self, t: float) -> None:
        self.calls.append(("fix_now", t))

    def set_enabled(self, on: bool) -> None:
        self.calls.append(("enabled", on))

    def set_smart_hosts(self, hosts: tuple[str, ...]) -> None:
        self.calls.append(("smart_hosts", hosts))

    def set_tls(self, tls: str, tls_domain: str | None) -> None:
        self.calls.append(("tls", (tls, tls_domain)))


class FakeRun:
    """The engine as actions.py sees it, with `later` effects kept for the test to play."""

    def __init__(self, scenario: Scenario, delay: float = 2400.0) -> None:
        self.scenario = scenario
        self.faults = FaultSchedule(scenario.faults, __import__("random").Random(1))
        self.world = WorldState(scenario, self.faults)
        self.recorder = Recorder()
        self.alerts = AlertBook(AlertSettings(), self.recorder, 86400.0, "contoso.onmicrosoft.com")
        self.propagation_delay = delay
        self.q = FakeQueue(OUT)
        self.pending: list[tuple[float, Callable[[float], None]]] = []
        self.certificates: list[tuple[str, float]] = []

    def queue(self, name: str) -> FakeQueue | None:
        return self.q if name == OUT else None

    def later(self, at: float, effect: Callable[[float], None]) -> None:
        self.pending.append((at, effect))

    def watch_certificate(self, address: str, not_after: float) -> None:
        self.certificates.append((address, not_after))

    def insight(self, code: str) -> None:
        """The insight on the connector, showing `code`, as an evaluation at 2 h would raise it."""
        self.alerts.observe([QueueSnapshot(
            t=7200.0, connector=OUT, status="Retry", queued_messages=10, queued_recipients=10, aged_messages=5,
            oldest_arrival=0.0, last_error=f"{code} ...", last_error_code=code, last_server="mail.contoso.com",
            last_ip="198.51.100.10", retry_count=3, first_retry=0.0, last_retry=7000.0, next_retry=None,
            received=10, delivered=0, ndr=0, rejected=0, expired=0)])


@pytest.fixture
def run() -> FakeRun:
    return FakeRun(loads_scenario(scenario_text(faults=REFUSED_FAULT)))


def test_unit_fix_now_refused_without_an_insight(run: FakeRun) -> None:
    """Fix now with no insight on the connector is refused, noted, and touches nothing."""
    record = take(run, Action(at=0.0, do="fix_now", connector=OUT), 3000.0)
    assert (record.status, record.effective_s) == (REFUSED, None)
    assert record.reason == f"Fix now is not offered: no insight is shown for '{OUT}'"
    assert run.q.calls == [] and run.pending == []
    assert [n.kind for n in run.recorder.notes] == ["action_refused"]


def test_unit_fix_now_refused_for_another_code(run: FakeRun) -> None:
    """Fix now while the insight shows 450 4.4.315 is refused with that code in the reason."""
    run.insight(codes.CONNECTION_TIMED_OUT)
    record = take(run, Action(at=0.0, do="fix_now", connector=OUT), 7500.0)
    assert record.status == REFUSED and record.reason == "Fix now is not offered for 450 4.4.315"
    assert run.q.calls == [] and run.pending == []


def test_unit_fix_now_accepted_takes_effect_after_the_propagation_delay(run: FakeRun) -> None:
    """Fix now while the insight shows 450 4.4.316 is accepted; the queue hears of it only when the tenant's
    propagation delay has passed."""
    run.insight(codes.CONNECTION_REFUSED)
    record = take(run, Action(at=0.0, do="fix_now", connector=OUT), 7500.0)
    assert (record.status, record.reason, record.effective_s) == (ACCEPTED, None, 7500.0 + 2400.0)
    assert run.q.calls == [] and [at for at, _ in run.pending] == [9900.0]
    run.pending[0][1](9900.0)
    assert run.q.calls == [("fix_now", 9900.0)]
    assert [n.kind for n in run.recorder.notes][-2:] == ["action", "change_effective"]


@pytest.mark.parametrize("action, call", [
    (Action(at=0.0, do="disable_connector", connector=OUT), ("enabled", False)),
    (Action(at=0.0, do="enable_connector", connector=OUT), ("enabled", True)),
    (Action(at=0.0, do="set_smart_hosts", connector=OUT, smart_hosts=("mx2.contoso.com",)),
     ("smart_hosts", ("mx2.contoso.com",))),
    (Action(at=0.0, do="set_tls", connector=OUT, tls="EncryptionOnly"), ("tls", ("EncryptionOnly", None)))])
def test_unit_tenant_changes_wait_for_the_delay_or_their_own_after(run: FakeRun, action: Action,
                                                                  call: tuple[str, object]) -> None:
    """Connector changes take effect after the tenant's delay, or after the action's own `after`."""
    assert take(run, action, 100.0).effective_s == 2500.0
    own = take(run, replace(action, after=60.0), 100.0)
    assert own.effective_s == 160.0 and [at for at, _ in run.pending] == [2500.0, 160.0]
    assert run.q.calls == []
    for at, effect in run.pending:
        effect(at)
    assert run.q.calls == [call, call]


def test_unit_destination_changes_take_effect_at_once(run: FakeRun) -> None:
    """DNS records, certificates and clearing a fault change the world at the instant of the action."""
    dns = take(run, Action(at=0.0, do="set_dns_record", name="mail.contoso.com", type="A", value="198.51.100.20",
                           ttl=60), 500.0)
    cert = take(run, Action(at=0.0, do="renew_certificate", target="198.51.100.10", not_after=10 ** 8), 600.0)
    clear = take(run, Action(at=0.0, do="clear_fault", fault=0), 4000.0)
    assert [(r.status, r.effective_s) for r in (dns, cert, clear)] == [(ACCEPTED, 500.0), (ACCEPTED, 600.0),
                                                                       (ACCEPTED, 4000.0)]
    assert run.pending == []
    assert run.certificates == [("198.51.100.10", 10 ** 8)]
    assert run.faults.faults[0].end == 4000.0
    assert (clear.target, dns.target) == ("fault 0", "mail.contoso.com A")


def test_unit_invalid_names_are_caught_before_the_service_sees_them(run: FakeRun) -> None:
    """An action naming a connector, server or fault that does not exist is invalid (not a service refusal)."""
    assert actions.invalid(run, Action(at=0.0, do="disable_connector", connector="Nope")) == \
        "no connector is called 'Nope'"
    assert actions.invalid(run, Action(at=0.0, do="clear_fault", fault=5)) == "there is no fault number 5"
    assert actions.invalid(run, Action(at=0.0, do="renew_certificate", target="192.0.2.9")) == \
        "no server has address '192.0.2.9'"
    assert actions.invalid(run, Action(at=0.0, do="resolve_alert", alert="policy-1")) is None


def test_unit_which_kinds_propagate() -> None:
    """Tenant configuration changes propagate; destination-side changes and alert resolution do not."""
    assert {do for do, kind in actions.KINDS.items() if kind.propagates} == {
        "fix_now", "disable_connector", "enable_connector", "set_smart_hosts", "set_tls"} | (
        {"set_accepted_domain"} if "set_accepted_domain" in actions.KINDS else set())


# ---------------------------------------------------------------------------------------------- whole runs
def test_fix_now_on_a_timeout_is_refused_and_changes_nothing() -> None:
    """Fix now while the insight shows 450 4.4.315: refused in the timeline and --json, and the run is the run
    without it."""
    action = f'[[actions]]\nat = "3h"\ndo = "fix_now"\nconnector = "{OUT}"\n'
    with_it = run_text(scenario_text(duration="6h", faults=TIMEOUT_FAULT, actions=action))
    without = run_text(scenario_text(duration="6h", faults=TIMEOUT_FAULT))
    doc = result_dict(with_it)
    assert doc["actions"] == [{"at_s": 10800.0, "at": "2026-03-02T11:00:00.000Z", "do": "fix_now", "connector": OUT,
                               "target": None, "status": "refused",
                               "reason": "Fix now is not offered for 450 4.4.315", "effective_s": None,
                               "effective_at": None}]
    assert {**doc, "actions": []} == {**result_dict(without), "actions": []}
    notes = [e for e in with_it.timeline if e.kind == "action_refused"]
    assert len(notes) == 1 and "450 4.4.315" in notes[0].text
    assert [e for e in with_it.timeline if e.kind != "action_refused"] == list(without.timeline)


def test_default_propagation_delay_is_drawn_from_the_seed() -> None:
    """The default delay lies in [30 min, 1 h], is the same for the same seed, differs across seeds, and
    comes from its own stream (traffic and faults are unchanged)."""
    text = scenario_text(duration="2h")
    delays = {seed: Engine(loads_scenario(text), seed=seed).propagation_delay for seed in range(20)}
    assert all(1800.0 <= d <= 3600.0 for d in delays.values())
    assert len(set(delays.values())) > 10
    assert Engine(loads_scenario(text), seed=3).propagation_delay == delays[3]
    pinned = Engine(loads_scenario(scenario_text(duration="2h", tenant='propagation_delay = "45m"')), seed=3)
    assert pinned.propagation_delay == 2700.0
    assert result_dict(pinned.run())["summary"] == result_dict(Engine(loads_scenario(text), seed=3).run())["summary"]


def test_fix_now_accepted_then_takes_effect_with_the_json_record() -> None:
    """Fix now at 3 h with `after = "40m"` is accepted and takes effect at 3 h 40 m (fix_effective then)."""
    action = f'[[actions]]\nat = "3h"\ndo = "fix_now"\nconnector = "{OUT}"\nafter = "40m"\n'
    r = run_text(scenario_text(duration="5h", faults=REFUSED_FAULT, actions=action))
    [record] = result_dict(r)["actions"]
    assert (record["status"], record["effective_s"], record["effective_at"]) == (
        "accepted", 13200.0, "2026-03-02T11:40:00.000Z")
    assert next(e.t for e in r.timeline if e.kind == "fix_effective") == 13200.0


@pytest.mark.parametrize("extra, fragment", [
    ('[[actions]]\nat = "2h"\ndo = "clear_fault"\nfault = 0\nafter = "5m"\n', "actions[0].after"),
    ('[[actions]]\nat = "2h"\ndo = "fix_now"\nconnector = "To on-premises"\nafter = "soon"\n', "actions[0].after"),
])
def test_after_only_on_tenant_changes(extra: str, fragment: str) -> None:
    """`after` on a destination-side change, or not a duration, is a one-line error naming the field."""
    with pytest.raises(ScenarioError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        loads_scenario(scenario_text(faults=REFUSED_FAULT, actions=extra), "a.toml")


def test_old_fix_now_delay_is_renamed() -> None:
    """The old tenant field fix_now_delay gets an error that names its new name."""
    with pytest.raises(ScenarioError, match="renamed propagation_delay"):
        loads_scenario(scenario_text(tenant='fix_now_delay = "20m"'), "a.toml")


def test_a_renewed_certificate_expires_at_its_own_not_after() -> None:
    """A certificate installed at 1 h that runs out at 3 h expires (in the timeline) at 3 h, not 3 h later."""
    action = ('[[actions]]\nat = "1h"\ndo = "renew_certificate"\ntarget = "198.51.100.10"\n'
              'not_after = "2026-03-02T11:00:00Z"\n')
    r = run_text(scenario_text(duration="5h", actions=action, connector='tls = "CertificateValidation"'))
    assert [e.t for e in r.timeline if e.kind == "certificate_expired"] == [3 * 3600.0]
