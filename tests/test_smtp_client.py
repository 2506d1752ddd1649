"""The SMTP client machine, driven by scripted inputs with no socket and no simulated world (h11's test style)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from mfi_sim import codes
from mfi_sim.certificates import EXPIRED, UNTRUSTED
from mfi_sim.reply import Reply
from mfi_sim.smtp_client import Connect, Done, Ready, Receive, Resolve, Send, Session, StartTls
from mfi_sim.smtp_rules import RULES, Failure, Stage

EHLO_TLS = Reply.from_lines(["250-mx.example Hello", "250-STARTTLS", "250 SIZE 1000"])
EHLO_PLAIN = Reply.from_lines(["250-mx.example Hello", "250 SIZE 1000"])
HELLO = Reply.parse("220 mx.example ready")
TLS_GO = Reply.parse("220 2.0.0 go ahead")


@dataclass(frozen=True)
class Cert:
    names: tuple[str, ...] = ("mx.example",)
    not_before: float = 0.0
    not_after: float = 1000.0
    trusted: bool = True


def session(tls: str = "None", domain: str | None = None, hosts: tuple[str, ...] = ("mx.example",)) -> Session:
    lines: list[str] = []
    s = Session(hosts, False, 25, tls, domain, "me.example", lines.append)
    s.lines = lines  # type: ignore[attr-defined]
    return s


def open_to_ehlo(s: Session, endpoints: tuple[tuple[str, str], ...] = (("mx.example", "192.0.2.1"),)) -> None:
    assert isinstance(s.next_action(), Resolve)
    s.routed(endpoints, [])
    assert s.next_action() == Connect(endpoints[0][0], endpoints[0][1], 25)
    s.connected()
    assert s.next_action() == Receive(Stage.BANNER)
    s.received(HELLO)
    assert s.next_action() == Send(Stage.EHLO, "EHLO me.example")


def test_happy_path_with_starttls_and_a_message() -> None:
    """Greeting, EHLO, STARTTLS, EHLO again (RFC 3207 4.2), then MAIL/RCPT/DATA/content and QUIT."""
    s = session("CertificateValidation")
    open_to_ehlo(s)
    s.received(EHLO_TLS)
    assert s.next_action() == Send(Stage.STARTTLS, "STARTTLS")
    s.received(TLS_GO)
    assert s.next_action() == StartTls("mx.example")
    s.tls_started(Cert(), now=10.0)
    assert s.next_action() == Send(Stage.EHLO, "EHLO me.example")
    s.received(EHLO_PLAIN)
    assert isinstance(s.next_action(), Ready) and s.verdict is not None and s.verdict.ok and s.verdict.tls
    s.submit("a@me.example", ["b@mx.example"], "Subject: t\r\n\r\nhi\r\n")
    for expected, reply in [("MAIL FROM:<a@me.example>", "250 ok"), ("RCPT TO:<b@mx.example>", "250 ok"),
                            ("DATA", "354 go"), (None, "250 2.6.0 queued")]:
        act = s.next_action()
        assert isinstance(act, Send) and (expected is None and act.content or act.line == expected)
        s.received(Reply.parse(reply))
    assert s.message is not None and s.message.kind == "delivered"
    s.quit()
    assert s.next_action() == Send(None, "QUIT")
    s.received(Reply.parse("221 bye"))
    assert isinstance(s.next_action(), Done)


@pytest.mark.parametrize("stage_replies,code", [
    (["554 5.7.1 go away"], codes.CANNOT_CONNECT),
    (["421 4.3.2 busy"], codes.CANNOT_CONNECT),
    (["451 4.4.1 later"], "451 4.4.1"),
])
def test_greeting_replies_by_the_table(stage_replies: list[str], code: str) -> None:
    """A 5xx or 421 greeting is 4.4.317 with the reply as [Message=...]; another 4xx is the server's own code."""
    s = session()
    s.routed([("mx.example", "192.0.2.1")], [])
    s.connected()
    s.received(Reply.parse(stage_replies[0]))
    act = s.next_action()
    assert isinstance(act, Done)
    v = act.verdict
    assert (v.code, v.stage, v.detail) == (code, Stage.BANNER, stage_replies[0])
    assert v.last_error is not None and f"[Message={stage_replies[0]}]" in v.last_error


def test_dns_failure_names_the_lookup() -> None:
    """No endpoint: 4.4.312 at stage dns, naming the failed lookup, with the table's reason."""
    s = session()
    s.routed([], [("mx.example", "SERVFAIL")])
    v = s.verdict
    assert v is not None and v.code == codes.DNS_QUERY_FAILED and v.stage is Stage.DNS and v.host == "mx.example"
    assert "ServerFailure" in v.detail and "*** DNS lookup of mx.example failed: SERVFAIL" in s.lines  # type: ignore[attr-defined]


def test_fall_through_to_next_endpoint_then_success() -> None:
    """A refused first endpoint falls through to the second (RFC 5321 5.1); the verdict is the second's."""
    s = session()
    s.routed([("a.example", "192.0.2.1"), ("b.example", "192.0.2.2")], [])
    s.connect_failed(Failure.REFUSED)
    assert s.next_action() == Connect("b.example", "192.0.2.2", 25)
    s.connected()
    s.received(HELLO)
    s.received(EHLO_PLAIN)
    assert isinstance(s.next_action(), Ready) and s.verdict is not None and s.verdict.host == "b.example"


def test_closed_abruptly_does_not_fall_through() -> None:
    """A connection lost after EHLO is 4.4.318 and stops there, even with another endpoint left."""
    s = session()
    s.routed([("a.example", "192.0.2.1"), ("b.example", "192.0.2.2")], [])
    s.connected()
    s.received(HELLO)
    s.lost()
    v = s.verdict
    assert v is not None and (v.code, v.stage, v.ip) == (codes.CLOSED_ABRUPTLY, Stage.EHLO, "192.0.2.1")


@pytest.mark.parametrize("tls,expect", [("None", "ready"), ("EncryptionOnly", codes.CANNOT_CONNECT)])
def test_starttls_not_offered(tls: str, expect: str) -> None:
    """Without STARTTLS in EHLO, opportunistic TLS goes on in clear text; a required setting fails with 4.4.317."""
    s = session(tls)
    open_to_ehlo(s)
    s.received(EHLO_PLAIN)
    act = s.next_action()
    if expect == "ready":
        assert isinstance(act, Ready) and s.verdict is not None and not s.verdict.tls
    else:
        assert isinstance(act, Done) and act.verdict.code == expect and act.verdict.stage is Stage.STARTTLS


def test_opportunistic_handshake_failure_reconnects_in_clear_text() -> None:
    """A broken handshake under TLS None reconnects to the same endpoint and skips STARTTLS (RFC 3207 4.1)."""
    s = session()
    open_to_ehlo(s)
    s.received(EHLO_TLS)
    s.received(TLS_GO)
    s.tls_failed()
    assert s.next_action() == Connect("mx.example", "192.0.2.1", 25)
    s.connected()
    s.received(HELLO)
    s.received(EHLO_TLS)
    assert isinstance(s.next_action(), Ready)


@pytest.mark.parametrize("tls,domain,cert,problem", [
    ("CertificateValidation", None, Cert(trusted=False), UNTRUSTED),
    ("CertificateValidation", None, Cert(not_after=5.0), EXPIRED),
    ("DomainValidation", "other.example", Cert(), "the certificate subject does not match other.example"),
    ("EncryptionOnly", None, Cert(trusted=False), None),
    ("CertificateValidation", None, Cert(names=("x",)), None),
])
def test_certificate_check_per_tls_mode(tls: str, domain: str | None, cert: Cert, problem: str | None) -> None:
    """The certificate's facts are checked per TLS setting; a failure is 4.7.320 at stage certificate."""
    s = session(tls, domain)
    open_to_ehlo(s)
    s.received(EHLO_TLS)
    s.received(TLS_GO)
    s.tls_started(cert, now=10.0)
    if problem is None:
        assert s.next_action() == Send(Stage.EHLO, "EHLO me.example")
        return
    v = s.verdict
    assert v is not None and v.code == codes.CERTIFICATE_FAILED and v.stage is Stage.CERTIFICATE
    assert v.detail.endswith(problem)


def test_library_verification_failure_is_a_certificate_failure() -> None:
    """When the TLS library's own chain check refuses the certificate, a validating connector reports 4.7.320."""
    s = session("CertificateValidation")
    open_to_ehlo(s)
    s.received(EHLO_TLS)
    s.received(TLS_GO)
    s.tls_failed(problem=EXPIRED)
    assert s.verdict is not None and s.verdict.code == codes.CERTIFICATE_FAILED


def test_message_lost_during_data_ends_the_session() -> None:
    """A connection lost after the content is 4.4.318, DROPPED, and the session is over."""
    s = session()
    open_to_ehlo(s)
    s.received(EHLO_PLAIN)
    s.submit("a@x", ["b@y"], "x")
    for reply in ("250 ok", "250 ok", "354 go"):
        s.received(Reply.parse(reply))
    s.lost()
    assert s.message is not None and s.message.kind == "dropped" and s.message.code == codes.CLOSED_ABRUPTLY
    assert isinstance(s.next_action(), Done) and s.verdict is not None and s.verdict.stage is Stage.DATA


def test_every_rule_is_reachable_by_stage() -> None:
    """Each table row names a stage the machine has and a code from the catalogue (or the server's own)."""
    for (stage, _), rule in RULES.items():
        assert isinstance(stage, Stage)
        assert rule.code is None or rule.code in codes.CATALOGUE
