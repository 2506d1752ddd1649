"""The delivery attempt, stage by stage, without SimPy: each fault produces its code where it really happens."""
from __future__ import annotations

import random

import pytest

from mfi_sim import codes, loads_scenario
from mfi_sim.attempt import (CONNECT_TIMEOUT, DEFERRED, DELIVERED, DROPPED, FAILED, SessionSpec, open_session,
                             send_message)
from mfi_sim.faults import FaultSchedule
from mfi_sim.world.state import WorldState

from helpers import scenario_text


def world_with(faults: str = "", server: str = "", zone_extra: str = "") -> WorldState:
    sc = loads_scenario(scenario_text(faults=faults, server=server), "t.toml")
    return WorldState(sc, FaultSchedule(sc.faults, random.Random(1)))


def fault(kind: str, target: str = "198.51.100.10", **fields: str) -> str:
    extra = "".join(f'{k} = "{v}"\n' for k, v in fields.items())
    return f'[[faults]]\nkind = "{kind}"\ntarget = "{target}"\nstart = "1h"\n{extra}'


SPEC = SessionSpec(("mail.contoso.com",), False, 25, "None", None)
AT = 7200.0


def test_healthy_session_opens_with_tls() -> None:
    """With no fault the session opens on the resolved server, with opportunistic TLS."""
    out = open_session(SPEC, world_with(), AT)
    assert out.ok and out.server is not None and out.tls
    assert (out.server_name, out.ip) == ("mail.contoso.com", "198.51.100.10")
    assert out.last_error is None


@pytest.mark.parametrize("kind,fields,code", [
    ("connect_timeout", {}, codes.CONNECTION_TIMED_OUT),
    ("connection_refused", {}, codes.CONNECTION_REFUSED),
    ("service_unavailable", {}, codes.CANNOT_CONNECT),
    ("connection_closed", {"stage": "banner"}, codes.CLOSED_ABRUPTLY),
    ("connection_closed", {"stage": "ehlo"}, codes.CLOSED_ABRUPTLY),
])
def test_connection_stage_faults(kind: str, fields: dict[str, str], code: str) -> None:
    """Each connection-level fault gives its seed code, and the last_error names server and IP:port."""
    out = open_session(SPEC, world_with(fault(kind, **fields)), AT)
    assert not out.ok and out.code == code
    assert out.last_error is not None
    assert out.last_error.startswith(code + " " + codes.CATALOGUE[code].title + " [Message=")
    assert out.last_error.endswith("[LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=198.51.100.10:25]")


def test_fault_window_is_respected() -> None:
    """Before a fault's start the same attempt succeeds."""
    assert open_session(SPEC, world_with(fault("connection_refused")), 1800.0).ok


def test_timeout_costs_the_connect_timeout() -> None:
    """A timed-out connection is known only after the connect timeout."""
    out = open_session(SPEC, world_with(fault("connect_timeout")), AT)
    assert out.elapsed == pytest.approx(CONNECT_TIMEOUT, abs=0.1)   # plus the first DNS lookup


def test_no_server_at_address_times_out() -> None:
    """A smart host pointing at an address where nothing listens times out (wrong IP in the connector)."""
    spec = SessionSpec(("198.51.100.99",), False, 25, "None", None)
    out = open_session(spec, world_with(), AT)
    assert out.code == codes.CONNECTION_TIMED_OUT and out.ip == "198.51.100.99"


@pytest.mark.parametrize("error", ["nxdomain", "servfail", "timeout"])
def test_dns_failure_after_cache_expiry(error: str) -> None:
    """A DNS fault gives 4.4.312 once the cached answer has expired; the cached answer keeps working until then."""
    world = world_with(fault("dns_failure", target="mail.contoso.com", error=error))
    assert open_session(SPEC, world, 3500.0).ok            # cached for 300 s
    assert open_session(SPEC, world, 3650.0).ok            # fault started, cache still fresh
    out = open_session(SPEC, world, 3900.0)
    assert out.code == codes.DNS_QUERY_FAILED and out.ip is None


@pytest.mark.parametrize("tls,fault_kind,code", [
    ("EncryptionOnly", "tls_not_offered", codes.CANNOT_CONNECT),
    ("EncryptionOnly", "tls_handshake_failure", codes.CANNOT_CONNECT),
    ("CertificateValidation", "certificate_expired", codes.CERTIFICATE_FAILED),
    ("CertificateValidation", "certificate_untrusted", codes.CERTIFICATE_FAILED),
    ("DomainValidation", "certificate_name_mismatch", codes.CERTIFICATE_FAILED),
    ("None", "tls_not_offered", None),
    ("None", "tls_handshake_failure", None),
    ("None", "certificate_expired", None),
    ("EncryptionOnly", "certificate_expired", None),
    ("CertificateValidation", "certificate_name_mismatch", None),
])
def test_tls_settings(tls: str, fault_kind: str, code: str | None) -> None:
    """TLS faults fail only connectors whose TLS setting requires or checks what the fault breaks."""
    spec = SessionSpec(("mail.contoso.com",), False, 25, tls, "mail.contoso.com" if tls == "DomainValidation" else None)
    out = open_session(spec, world_with(fault(fault_kind)), AT)
    assert out.code == code
    assert out.ok == (code is None)


def test_certificate_expires_by_itself() -> None:
    """A certificate fails validation once the clock passes not_after, with no fault at all."""
    server = 'certificate = { names = ["mail.contoso.com"], not_after = "2026-03-02T10:00:00Z" }'
    sc = loads_scenario(scenario_text().replace(
        'certificate = { names = ["mail.contoso.com"], not_before = "2025-01-01T00:00:00Z", '
        'not_after = "2027-01-01T00:00:00Z" }', server), "t.toml")
    world = WorldState(sc, FaultSchedule((), random.Random(1)))
    spec = SessionSpec(("mail.contoso.com",), False, 25, "CertificateValidation", None)
    assert open_session(spec, world, 7199.0).ok
    out = open_session(spec, world, 7200.0)
    assert out.code == codes.CERTIFICATE_FAILED and "expired" in out.detail


@pytest.mark.parametrize("stage,reply", [
    ("banner", "554 5.7.1 Go away"), ("banner", "421 4.3.2 Too busy"),
    ("ehlo", "550 5.7.1 Not you"), ("ehlo", "421 4.7.0 Closing"), ("starttls", "554 5.7.3 No TLS for you"),
])
def test_rejection_before_the_session_is_4_4_317(stage: str, reply: str) -> None:
    """A 5xx or 421 to the greeting or EHLO, or a 5xx to STARTTLS, is 450 4.4.317 with the reply as its message,
    retried, never permanent (SPEC 1.2, 2026-12)."""
    out = open_session(SPEC, world_with(fault("smtp_reply", stage=stage, reply=reply)), AT)
    assert out.code == codes.CANNOT_CONNECT
    assert f"[Message={reply}]" in (out.last_error or "")


def test_other_4xx_at_greeting_is_the_servers_reply() -> None:
    """A 4xx other than 421 in the greeting stays the server's own reply (queue-level, not permanent)."""
    out = open_session(SPEC, world_with(fault("smtp_reply", stage="banner", reply="451 4.4.1 Later")), AT)
    assert out.code == "451 4.4.1"


@pytest.mark.parametrize("tls,ok", [("None", True), ("EncryptionOnly", False)])
def test_4xx_to_starttls(tls: str, ok: bool) -> None:
    """A 4xx to STARTTLS falls back to plain text under opportunistic TLS and is 4.4.317 when TLS is required."""
    spec = SessionSpec(("mail.contoso.com",), False, 25, tls, None)
    out = open_session(spec, world_with(fault("smtp_reply", stage="starttls", reply="454 4.7.0 TLS not available")),
                       AT)
    assert out.ok == ok and (ok or out.code == codes.CANNOT_CONNECT)
    assert not out.tls


def test_fall_through_to_second_smart_host() -> None:
    """A refused first smart host falls through to the next; the outcome is the working one."""
    world = world_with(fault("connection_refused"), server="")
    spec = SessionSpec(("198.51.100.10", "mail.contoso.com"), False, 25, "None", None)
    assert not open_session(spec, world, AT).ok      # both are the same refused server
    world2 = world_with(fault("connect_timeout", target="198.51.100.10"))
    spec2 = SessionSpec(("198.51.100.77", "mail.contoso.com"), False, 25, "None", None)
    out = open_session(spec2, world2, AT)
    assert out.code == codes.CONNECTION_TIMED_OUT and out.ip == "198.51.100.10"
    assert out.elapsed == pytest.approx(2 * CONNECT_TIMEOUT, rel=0.01)


def test_mx_routing_uses_preference_order() -> None:
    """use_mx resolves the domain's MX and connects to the exchange."""
    out = open_session(SessionSpec(("contoso.com",), True, 25, "None", None), world_with(), AT)
    assert out.ok and out.server_name == "mail.contoso.com"


@pytest.mark.parametrize("fields,kind,code", [
    ({"stage": "rcpt", "reply": "451 4.7.500 Server busy"}, DEFERRED, "451 4.7.500"),
    ({"stage": "mail", "reply": "550 5.7.1 Blocked"}, FAILED, "550 5.7.1"),
    ({"stage": "data", "reply": "452 4.3.1 Insufficient storage"}, DEFERRED, "452 4.3.1"),
])
def test_message_stage_replies(fields: dict[str, str], kind: str, code: str) -> None:
    """Replies at MAIL/RCPT/DATA decide one message: 4xx defers it, 5xx fails it, with the reply's own code."""
    world = world_with(fault("smtp_reply", **fields))
    session = open_session(SPEC, world, AT)
    assert session.ok and session.server is not None
    result = send_message(session.server, world.firing("198.51.100.10", AT), "a@b", ["x@contoso.com"], 0)
    assert (result.kind, result.code) == (kind, code)


def test_connection_closed_during_data() -> None:
    """A session dropped during DATA loses the connection: 450 4.4.318, the message is not delivered."""
    world = world_with(fault("connection_closed", stage="data"))
    session = open_session(SPEC, world, AT)
    assert session.ok and session.server is not None
    result = send_message(session.server, world.firing("198.51.100.10", AT), "a@b", ["x@contoso.com"], 0)
    assert result.kind == DROPPED and result.code == codes.CLOSED_ABRUPTLY


def test_unknown_recipients() -> None:
    """Unknown recipients are refused at RCPT while the rest are delivered; all unknown fails the message."""
    world = world_with()
    session = open_session(SPEC, world, AT)
    assert session.server is not None
    assert send_message(session.server, [], "a@b", ["x", "y"], 1).kind == DELIVERED
    failed = send_message(session.server, [], "a@b", ["x"], 1)
    assert failed.kind == FAILED and failed.reply.startswith("550 5.1.10")


def test_transcript_comes_from_the_attempt() -> None:
    """The transcript lines are produced by the same stages, ending with the failure."""
    lines: list[str] = []
    open_session(SPEC, world_with(fault("service_unavailable")), AT, lines.append)
    assert lines[0] == "=== Trying mail.contoso.com:25..."
    assert any(line.startswith("<-  421") for line in lines)
    assert lines[-1].startswith("<** ")
