"""The fault-kind registry: each kind's declared stage and code are what the attempt really gives, the loader
and the field catalogue read it, and the schedule fires faults in their windows."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from mfi_sim import codes, loads_scenario
from mfi_sim.attempt import SessionSpec, open_session, send_message
from mfi_sim.errors import ScenarioError
from mfi_sim.faults import (KINDS, NO_FAULTS, FaultField, FaultKind, FaultSchedule, Target, fault_label,
                            plan_for, stage_of)
from mfi_sim.scenario.fields import FIELDS
from mfi_sim.smtp_rules import Stage
from mfi_sim.scenario.schema import Fault
from mfi_sim.world.state import WorldState

from helpers import scenario_text

SERVER = "198.51.100.10"
#: The TLS setting under which each kind shows (certificate faults need validation, TLS faults need TLS).
TLS_FOR = {"tls_not_offered": "EncryptionOnly", "tls_handshake_failure": "EncryptionOnly",
           "certificate_expired": "CertificateValidation", "certificate_untrusted": "CertificateValidation",
           "certificate_name_mismatch": "DomainValidation"}
#: Own field values to use for each kind in the test (besides its defaults).
FIELDS_FOR = {"smtp_reply": {"stage": "ehlo", "reply": "554 5.7.1 No"}, "connection_closed": {"stage": "ehlo"}}


def world_for(kind: str, **own: str) -> WorldState:
    target = "mail.contoso.com" if KINDS[kind].target is Target.DNS else SERVER
    extra = "".join(f'{k} = "{v}"\n' for k, v in own.items())
    text = scenario_text(faults=f'[[faults]]\nkind = "{kind}"\ntarget = "{target}"\nstart = "1h"\n{extra}')
    sc = loads_scenario(text, "t.toml")
    return WorldState(sc, FaultSchedule(sc.faults, random.Random(1)))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_gives_its_declared_code_at_its_declared_stage(kind: str) -> None:
    """A kind's registry entry (stage, code) is exactly what the simulated attempt reports when it fires."""
    own = FIELDS_FOR.get(kind, {})
    world = world_for(kind, **own)
    tls = TLS_FOR.get(kind, "None")
    spec = SessionSpec(("mail.contoso.com",), False, 25, tls, "mail.contoso.com" if tls == "DomainValidation" else None)
    out = open_session(spec, world, 7200.0)     # 2 h: past the 300 s DNS cache, inside the fault
    fault = world.faults.faults[0].fault
    expected = KINDS[kind].code or codes.CANNOT_CONNECT    # smtp_reply's 554 at EHLO is 4.4.317 (SPEC 1.2)
    assert (out.code, out.stage) == (expected, stage_of(fault))


def test_message_stage_kinds_act_on_messages_only() -> None:
    """A fault at DATA lets the session open and drops the message (4.4.318 at data, its declared stage)."""
    world = world_for("connection_closed", stage="data")
    session = open_session(SessionSpec(("mail.contoso.com",), False, 25, "None", None), world, 7200.0)
    assert session.ok and session.server is not None
    result = send_message(session.server, world.firing(SERVER, 7200.0), "a@b", ["c@d"], 0)
    assert (result.code, result.stage) == (KINDS["connection_closed"].code, "data")


def test_plan_precedence_does_not_depend_on_order() -> None:
    """An unanswered SYN hides a refusal, and the strongest certificate fault wins, whatever the order."""
    def f(kind: str) -> Fault:
        return Fault(kind=kind, target=SERVER, start=0.0, end=None, probability=1.0)
    for kinds in (["connection_refused", "connect_timeout"], ["connect_timeout", "connection_refused"]):
        assert plan_for([f(k) for k in kinds]).connect is not None
        assert plan_for([f(k) for k in kinds]).connect.value == "timed_out"  # type: ignore[union-attr]
    for kinds in (["certificate_expired", "certificate_untrusted"], ["certificate_untrusted", "certificate_expired"]):
        assert plan_for([f(k) for k in kinds]).certificate == "certificate_untrusted"
    assert plan_for([]) is NO_FAULTS


def test_loader_reads_own_fields_from_the_registry() -> None:
    """Own fields are read per kind: defaults apply, a field of another kind is an error naming it."""
    assert world_for("dns_failure").faults.faults[0].fault.error == "nxdomain"
    assert world_for("connection_closed").faults.faults[0].fault.stage == "data"
    with pytest.raises(ScenarioError, match="error"):
        world_for("connection_refused", error="nxdomain")
    with pytest.raises(ScenarioError, match="stage"):
        world_for("smtp_reply", reply="550 5.7.1 x")


def test_a_new_kind_needs_only_a_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering a kind makes the loader accept it and the attempt act on it (here: greylisting at RCPT)."""
    def greylist(fault: Fault, plan: object) -> None:
        plan.replies.setdefault("rcpt", "451 4.7.1 Greylisted, try again later")  # type: ignore[attr-defined]
    monkeypatch.setitem(KINDS, "greylisting",
                        FaultKind("greylisting", Target.SERVER, Stage.RCPT, None, (), greylist))
    world = world_for("greylisting")
    session = open_session(SessionSpec(("mail.contoso.com",), False, 25, "None", None), world, 7200.0)
    assert session.server is not None
    result = send_message(session.server, world.firing(SERVER, 7200.0), "a@b", ["c@d"], 0)
    assert (result.kind, result.code) == ("deferred", "451 4.7.1")


def test_field_catalogue_documents_every_kind_and_own_field() -> None:
    """The catalogue's [[faults]] rows come from the registry: every kind and every own field is listed."""
    rows = {f.name: f for f in FIELDS if f.table == "faults"}
    assert all(f"`{k}`" in rows["kind"].meaning for k in KINDS)
    own = {spec.name for k in KINDS.values() for spec in k.fields}
    assert own <= set(rows) and all(isinstance(spec, FaultField) for k in KINDS.values() for spec in k.fields)


def test_fault_label() -> None:
    """One label for the timeline and the report: words, detail, target, odds."""
    f = Fault(kind="connection_closed", target=SERVER, start=0.0, end=None, probability=0.5, stage="ehlo")
    assert fault_label(f) == f"connection closed at ehlo on {SERVER}, 50% of attempts"
    assert fault_label(replace(f, probability=1.0), chance=False) == f"connection closed at ehlo on {SERVER}"


def test_schedule_windows_and_probability() -> None:
    """Faults fire only inside their window; a probability draws from the schedule's own stream."""
    faults = (Fault(kind="connection_refused", target=SERVER, start=10.0, end=20.0, probability=1.0),
              Fault(kind="connect_timeout", target=SERVER, start=0.0, end=None, probability=0.5))
    sched = FaultSchedule(faults, random.Random(3))
    assert [f.kind for f in sched.active(SERVER, 15.0)] == ["connection_refused", "connect_timeout"]
    assert sched.active(SERVER, 25.0) == [faults[1]]
    fired = sum(1 for _ in range(1000) if sched.firing(SERVER, 30.0))
    assert 400 < fired < 600
    assert sched.clear(0, 12.0) and sched.active(SERVER, 15.0) == [faults[1]]
