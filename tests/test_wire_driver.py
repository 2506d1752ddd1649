"""The real-socket driver against real servers on 127.0.0.1: aiosmtpd with trustme certificates, and raw sockets
for what aiosmtpd will not do (a rude greeting, silence). Each test is bounded and cleans up."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiosmtpd")
trustme = pytest.importorskip("trustme")

from aiosmtpd.controller import Controller  # noqa: E402

from mfi_sim import codes  # noqa: E402
from mfi_sim.certificates import EXPIRED, UNTRUSTED  # noqa: E402
from mfi_sim.probe import report_of, test_message  # noqa: E402
from mfi_sim.smtp_client import SessionSpec  # noqa: E402
from mfi_sim.wire_driver import WireOptions, deliver  # noqa: E402

HOST = "mail.contoso.test"
CA = trustme.CA()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.6.0 Queued mail for delivery"


@contextmanager
def smtp_server(names: tuple[str, ...] = (HOST,), ca: Any = CA, **cert: Any) -> Iterator[tuple[int, Inbox]]:
    """aiosmtpd on 127.0.0.1 offering STARTTLS with a certificate for `names` issued by `ca`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, **cert).configure_cert(ctx)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname=HOST, tls_context=ctx,
                            ready_timeout=5)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@contextmanager
def raw_server(talk: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection TCP server on 127.0.0.1 that runs `talk` on the accepted socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = int(listener.getsockname()[1])

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            talk(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(5)


def spec(port: int, tls: str = "None", domain: str | None = None) -> SessionSpec:
    return SessionSpec(("127.0.0.1",), False, port, tls, domain)


@pytest.fixture()
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(path))
    return str(path)


def test_delivers_a_test_message_over_validated_tls(ca_file: str) -> None:
    """A healthy server: STARTTLS, a chain the CA file trusts, the right name; the test message arrives."""
    with smtp_server() as (port, inbox):
        message = test_message("probe@contoso.test", ("bob@contoso.test",))
        result = deliver(spec(port, "DomainValidation", HOST), WireOptions(timeout=5, ca_file=ca_file), message)
    report = report_of(result)
    assert report.ok and report.tls and report.code is None and report.stage is None
    assert inbox.messages and inbox.messages[0][1] == ["bob@contoso.test"]
    assert b"connector validation test message" in inbox.messages[0][2]
    assert "->  QUIT" in result.transcript and any(line.startswith("=== TLS started") for line in result.transcript)


def test_refused(ca_file: str) -> None:
    """Nothing listens: the real RST is 4.4.316 at stage connect."""
    report = report_of(deliver(spec(free_port()), WireOptions(timeout=5)))
    assert (report.code, report.stage, report.ip) == (codes.CONNECTION_REFUSED, "connect", "127.0.0.1")


@pytest.mark.parametrize("issuer,extra,problem", [
    (trustme.CA(), {}, UNTRUSTED),
    (CA, {"not_after": dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)}, EXPIRED),
])
def test_certificate_failures_come_from_the_real_handshake(ca_file: str, issuer: Any, extra: dict[str, Any],
                                                           problem: str) -> None:
    """OpenSSL's own verdict on the chain and dates becomes 4.7.320 with the same words as the simulation."""
    with smtp_server(ca=issuer, **extra) as (port, _):
        report = report_of(deliver(spec(port, "CertificateValidation"), WireOptions(timeout=5, ca_file=ca_file)))
    assert (report.code, report.stage) == (codes.CERTIFICATE_FAILED, "certificate")
    assert report.last_error is not None and problem in report.last_error


def test_name_mismatch_is_checked_by_the_machine(ca_file: str) -> None:
    """A trusted certificate for another name fails DomainValidation only."""
    with smtp_server(names=("other.contoso.test",)) as (port, _):
        bad = report_of(deliver(spec(port, "DomainValidation", HOST), WireOptions(timeout=5, ca_file=ca_file)))
        good = report_of(deliver(spec(port, "CertificateValidation"), WireOptions(timeout=5, ca_file=ca_file)))
    assert bad.code == codes.CERTIFICATE_FAILED and "does not match mail.contoso.test" in (bad.last_error or "")
    assert good.ok


def test_rude_greeting_is_4_4_317() -> None:
    """A 554 greeting is 450 4.4.317 with the reply in [Message=...], at stage banner (SPEC 1.2, 2026-12)."""
    with raw_server(lambda c: (c.sendall(b"554 5.7.1 Go away\r\n"), c.recv(100))) as port:
        report = report_of(deliver(spec(port), WireOptions(timeout=5)))
    assert (report.code, report.stage) == (codes.CANNOT_CONNECT, "banner")
    assert "[Message=554 5.7.1 Go away]" in (report.last_error or "")


def test_silent_server_is_closed_abruptly_after_the_timeout() -> None:
    """A server that accepts and never greets: no answer within the timeout is 4.4.318 at stage banner."""
    with raw_server(lambda c: c.recv(100)) as port:
        report = report_of(deliver(spec(port), WireOptions(timeout=0.5)))
    assert (report.code, report.stage) == (codes.CLOSED_ABRUPTLY, "banner")


def test_dns_silence_is_4_4_312() -> None:
    """A DNS server that never answers: 4.4.312 (timeout) at stage dns, with no connection tried."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        ns = f"127.0.0.1:{silent.getsockname()[1]}"
        report = report_of(deliver(SessionSpec(("mail.contoso.test",), False, 25, "None", None),
                                   WireOptions(timeout=0.5, nameserver=ns)))
    assert (report.code, report.stage, report.server) == (codes.DNS_QUERY_FAILED, "dns", "mail.contoso.test")
    assert "Timeout" in (report.last_error or "")
