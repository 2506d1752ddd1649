"""Clients we did not write see each failure of a lab server: Python's smtplib with ssl, and openssl s_client.

Every lab here is one scenario server with one fault in force at T; each test connects on loopback with
a timeout of a few seconds and stops the lab (every socket closed) when it ends.
"""
from __future__ import annotations

import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from helpers import scenario_text
from lab_support import HOST, SERVER, lab_scenario, running_lab
from mfi_sim import loads_scenario
from mfi_sim.lab.controller import LabMap
from mfi_sim.scenario.schema import Scenario

TIMEOUT = 3.0
MESSAGE = "From: a@contoso.onmicrosoft.com\r\nSubject: lab\r\n\r\nhello\r\n"
VALIDATING = {"tls": "DomainValidation", "connector": f'tls_domain = "{HOST}"'}


class _ResolvedSMTP(smtplib.SMTP):
    """smtplib connected by host name to the address that name resolves to in the lab, so that starttls()
    verifies the certificate for the name, as a client that looked the name up in the lab's DNS does."""

    def __init__(self, address: str, *args: Any, **kwargs: Any) -> None:
        self.lab_address = address
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self.lab_address, port, timeout)  # type: ignore[misc]


def _session(lab: LabMap, timeout: float = TIMEOUT) -> smtplib.SMTP:
    place = lab.place(SERVER)
    return _ResolvedSMTP(place.address, HOST, place.port, timeout=timeout)


def _verifying(lab: LabMap) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.ca_file))


def _starttls(lab: LabMap, smtp: smtplib.SMTP) -> None:
    """STARTTLS verifying the certificate for HOST against the lab's CA file."""
    smtp.starttls(context=_verifying(lab))


def test_healthy_server_delivers_over_verified_tls() -> None:
    """No fault: the greeting names the host, STARTTLS verifies against the lab CA file, the message goes."""
    with running_lab(lab_scenario(**VALIDATING)) as lab, _session(lab) as smtp:
        code, banner = smtp.ehlo("outbound.example")
        assert code == 250 and banner.startswith(HOST.encode()) and smtp.has_extn("starttls")
        _starttls(lab, smtp)
        assert smtp.sendmail("a@contoso.onmicrosoft.com", ["b@contoso.com"], MESSAGE) == {}


def test_connection_refused() -> None:
    """connection_refused: nothing listens, the connect is refused at once."""
    with running_lab(lab_scenario('kind = "connection_refused"')) as lab:
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            _session(lab)
        assert time.monotonic() - started < 1.0


def test_connect_timeout() -> None:
    """connect_timeout: the SYN is never answered, the client's connect times out."""
    with running_lab(lab_scenario('kind = "connect_timeout"')) as lab:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _session(lab, timeout=0.5)
        assert time.monotonic() - started >= 0.45


def test_address_without_server_times_out() -> None:
    """An address the zones name but no server serves (ns1) times out too, as in the simulation."""
    with running_lab(lab_scenario()) as lab:
        place = lab.place("198.51.100.53")
        assert place.server is None
        with pytest.raises(TimeoutError):
            smtplib.SMTP(place.address, place.port, timeout=0.5)


@pytest.mark.parametrize(("fault", "code"), [
    ('kind = "service_unavailable"', 421),
    ('kind = "smtp_reply"\nstage = "banner"\nreply = "554 5.3.2 Not accepting mail"', 554),
])
def test_greeting_refusals(fault: str, code: int) -> None:
    """service_unavailable greets with 421; an smtp_reply at the banner greets with that reply."""
    with running_lab(lab_scenario(fault)) as lab:
        with pytest.raises(smtplib.SMTPConnectError) as err:
            _session(lab)
        assert err.value.smtp_code == code


def test_connection_closed_at_banner() -> None:
    """connection_closed at the banner: the socket closes before any greeting."""
    with running_lab(lab_scenario('kind = "connection_closed"\nstage = "banner"')) as lab:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            _session(lab)


def test_connection_closed_at_ehlo() -> None:
    """connection_closed at EHLO: the greeting comes, then EHLO gets no answer but a closed socket."""
    with running_lab(lab_scenario('kind = "connection_closed"\nstage = "ehlo"')) as lab, _session(lab) as smtp:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.ehlo("outbound.example")


def test_connection_closed_at_data() -> None:
    """connection_closed at DATA: MAIL and RCPT pass, the socket closes once the message is sent."""
    with running_lab(lab_scenario('kind = "connection_closed"\nstage = "data"')) as lab, _session(lab) as smtp:
        smtp.ehlo("outbound.example")
        assert smtp.mail("a@contoso.onmicrosoft.com")[0] == 250
        assert smtp.rcpt("b@contoso.com")[0] == 250
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.data(MESSAGE)


@pytest.mark.parametrize(("stage", "reply", "error"), [
    ("ehlo", "550 5.7.1 Not welcome", None),
    ("mail", "550 5.7.1 Service unavailable; client host blocked", smtplib.SMTPSenderRefused),
    ("rcpt", "451 4.7.500 Server busy, try again later", smtplib.SMTPRecipientsRefused),
    ("data", "554 5.6.0 Message rejected", smtplib.SMTPDataError),
])
def test_smtp_reply_at_each_stage(stage: str, reply: str, error: type[Exception] | None) -> None:
    """smtp_reply: exactly that reply, at exactly that stage."""
    fault = f'kind = "smtp_reply"\nstage = "{stage}"\nreply = "{reply}"'
    with running_lab(lab_scenario(fault)) as lab, _session(lab) as smtp:
        code, text = smtp.ehlo("outbound.example")
        if error is None:
            assert (code, text.decode()) == (int(reply[:3]), reply[4:])
            return
        assert code == 250
        with pytest.raises(error) as err:
            smtp.sendmail("a@contoso.onmicrosoft.com", ["b@contoso.com"], MESSAGE)
        assert reply[4:] in str(err.value)


def test_tls_not_offered() -> None:
    """tls_not_offered: EHLO lists no STARTTLS, and smtplib refuses to start TLS."""
    with running_lab(lab_scenario('kind = "tls_not_offered"', tls="EncryptionOnly")) as lab, _session(lab) as smtp:
        smtp.ehlo("outbound.example")
        assert not smtp.has_extn("starttls")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            smtp.starttls()


def test_starttls_refused() -> None:
    """smtp_reply at STARTTLS: STARTTLS is offered, and the command gets that reply instead of 220."""
    fault = 'kind = "smtp_reply"\nstage = "starttls"\nreply = "454 4.7.0 TLS not available due to local problem"'
    with running_lab(lab_scenario(fault, tls="EncryptionOnly")) as lab, _session(lab) as smtp:
        smtp.ehlo("outbound.example")
        assert smtp.has_extn("starttls")
        with pytest.raises(smtplib.SMTPResponseException) as err:
            smtp.starttls()
        assert err.value.smtp_code == 454


def test_tls_handshake_failure() -> None:
    """tls_handshake_failure: STARTTLS is offered and accepted, then the handshake breaks."""
    with running_lab(lab_scenario('kind = "tls_handshake_failure"', tls="EncryptionOnly")) as lab, \
            _session(lab) as smtp:
        smtp.ehlo("outbound.example")
        assert smtp.has_extn("starttls")
        unverified = ssl.create_default_context()
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)) as err:
            smtp.starttls(context=unverified)
        assert not isinstance(err.value, ssl.SSLCertVerificationError)


NOT_YET_VALID = ('certificate = { names = ["mail.contoso.com"], not_before = "2026-03-02T09:00:00Z", '
                 'not_after = "2027-01-01T00:00:00Z" }')


def _scenario_with_certificate(certificate: str) -> Scenario:
    """The test scenario, validating, with its server's certificate replaced."""
    text = scenario_text(duration="2h", rate="60/h", connector=f'tls = "DomainValidation"\ntls_domain = "{HOST}"')
    start = text.index("certificate = {")
    end = text.index("\n", start)
    return loads_scenario(text[:start] + certificate + "\nstarttls = true" + text[end:])


CERTIFICATE_CASES = [
    (lambda: lab_scenario('kind = "certificate_expired"', **VALIDATING), 10, "certificate has expired"),
    (lambda: lab_scenario('kind = "certificate_untrusted"', **VALIDATING), 20,
     "unable to get local issuer certificate"),
    (lambda: lab_scenario('kind = "certificate_name_mismatch"', **VALIDATING), 62, "Hostname mismatch"),
    (lambda: _scenario_with_certificate(NOT_YET_VALID), 9, "certificate is not yet valid"),
]


@pytest.mark.parametrize(("make", "verify_code", "reason"), CERTIFICATE_CASES,
                         ids=["expired", "untrusted", "misnamed", "not-yet-valid"])
def test_certificate_faults_fail_verification(make: Callable[[], Scenario], verify_code: int, reason: str) -> None:
    """Each certificate fault gives a verify error with its own reason, against the lab's CA file (the
    not-yet-valid certificate starts 1h after the scenario start; the lab serves T = 10 min)."""
    with running_lab(make()) as lab, _session(lab) as smtp:
        smtp.ehlo("outbound.example")
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            _starttls(lab, smtp)
        assert err.value.verify_code == verify_code
        assert reason in err.value.verify_message


def test_concurrency_turns_extra_sessions_away() -> None:
    """A server with concurrency 1 greets a second simultaneous session with 421."""
    with running_lab(lab_scenario(server="concurrency = 1")) as lab, _session(lab) as first:
        first.ehlo("outbound.example")
        with pytest.raises(smtplib.SMTPConnectError) as err:
            _session(lab)
        assert err.value.smtp_code == 421


OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (Debian package openssl)")
@pytest.mark.parametrize(("fault", "expected", "ok"), [
    ("", "Verification: OK", True),
    ('kind = "certificate_expired"', "certificate has expired", False),
    ('kind = "certificate_untrusted"', "unable to get local issuer certificate", False),
    ('kind = "certificate_name_mismatch"', "hostname mismatch", False),
], ids=["valid", "expired", "untrusted", "misnamed"])
def test_openssl_s_client_sees_the_certificate(fault: str, expected: str, ok: bool) -> None:
    """openssl s_client -starttls smtp -verify_hostname: verification passes, or fails with the reason."""
    with running_lab(lab_scenario(fault, **VALIDATING)) as lab:
        place = lab.place(SERVER)
        out = subprocess.run([str(OPENSSL), "s_client", "-starttls", "smtp", "-connect", f"{place.address}:{place.port}",
                              "-verify_hostname", HOST, "-CAfile", str(lab.ca_file), "-verify_return_error", "-brief"],
                             input="", capture_output=True, text=True, timeout=10)
    assert expected in out.stdout + out.stderr
    assert (out.returncode == 0) is ok
