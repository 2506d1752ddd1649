"""A delivery attempt made with clients we did not write, for the differential test: dnspython's resolver,
Python's smtplib and ssl. What they observe (the stage and the kind of failure) is classified by the
simulation's own table (`smtp_rules.RULES`), so the code comes from the one place that defines codes.

It follows the service's steps: resolve (MX or smart hosts), connect, greeting, EHLO, STARTTLS as the
connector's TLS setting asks (opportunistic `None` goes on in clear text when STARTTLS is missing or
refused with a 4xx, and connects again in clear text when the handshake fails), the certificate check of
the setting, then MAIL, RCPT and DATA for one test message.
"""
from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver

from mfi_sim.attempt import SessionSpec
from mfi_sim.reply import Reply
from mfi_sim.smtp_rules import OPPORTUNISTIC, Effect, Failure, Stage, rule_for

EHLO_NAME = "outbound.protection.mfi-sim.example"
SENDER = "postmaster@contoso.onmicrosoft.com"
MESSAGE = "From: postmaster@contoso.onmicrosoft.com\r\nSubject: differential test\r\n\r\nhello\r\n"


@dataclass(frozen=True, slots=True)
class Observation:
    """Where an attempt stopped and why (the reply, when the server gave one)."""

    stage: Stage
    failure: Failure
    reply: Reply | None = None

    @property
    def code(self) -> str | None:
        rule = rule_for(self.stage, self.failure)
        return rule.code if rule.code is not None else (self.reply.short_code if self.reply else None)


class ResolvedSMTP(smtplib.SMTP):
    """smtplib connected by host name to the address the name resolved to, so that starttls() verifies the
    certificate for that name (smtplib checks the name it connected to)."""

    def __init__(self, address: str, *args: Any, **kwargs: Any) -> None:
        self.lab_address = address
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self.lab_address, port, timeout)  # type: ignore[misc]


class _Reconnect(Exception):
    """Opportunistic TLS whose handshake failed: the connection is spoiled, so the client connects again and
    sends in clear text (as the simulation's 'falls back to plain text')."""


class _Stop(Exception):
    def __init__(self, observation: Observation) -> None:
        super().__init__(observation)
        self.observation = observation


def _reply(code: int, text: bytes | str) -> Reply:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return Reply.parse(f"{code} {body.splitlines()[0] if body else ''}".rstrip())


def _refused(stage: Stage, code: int, text: bytes | str) -> _Stop:
    reply = _reply(code, text)
    failure = Failure.REPLY_421 if code == 421 else Failure.REPLY_5XX if code >= 500 else Failure.REPLY_4XX
    return _Stop(Observation(stage, failure, reply))


def resolve(spec: SessionSpec, nameserver: tuple[str, int], loopback: dict[str, str],
            timeout: float) -> list[tuple[str, str]] | Observation:
    """(host, address) endpoints in the order to try, or the DNS failure; IP literals go to their stand-ins."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [nameserver[0]], nameserver[1]
    resolver.lifetime = resolver.timeout = timeout
    out: list[tuple[str, str]] = []
    try:
        for host in spec.hosts:
            if _is_ip(host):
                out.append((host, loopback.get(host, host)))
                continue
            names = [host]
            if spec.use_mx:
                try:
                    mx = resolver.resolve(host, "MX")
                    names = [r.exchange.to_text(omit_final_dot=True) for r in sorted(mx, key=lambda r: r.preference)]
                except dns.resolver.NoAnswer:
                    pass   # RFC 5321 section 5.1: the implicit MX is the domain itself
            for name in names:
                out += [(name, r.address) for r in resolver.resolve(name, "A")]
    except dns.resolver.NXDOMAIN:
        return Observation(Stage.DNS, Failure.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return Observation(Stage.DNS, Failure.NODATA)
    except (dns.resolver.LifetimeTimeout, dns.exception.Timeout):
        return Observation(Stage.DNS, Failure.DNS_TIMEOUT)
    except dns.resolver.NoNameservers:
        return Observation(Stage.DNS, Failure.SERVFAIL)
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def attempt(spec: SessionSpec, nameserver: tuple[str, int], loopback: dict[str, str], port: int, ca_file: Path,
            recipient: str, timeout: float) -> Observation | None:
    """One attempt with one test message: None when it is delivered, else where and why it stopped. A
    failure whose rule says "next endpoint" moves on to the next address, as the service fails over."""
    endpoints = resolve(spec, nameserver, loopback, timeout)
    if isinstance(endpoints, Observation):
        return endpoints
    last: Observation | None = None
    for host, address in endpoints:
        try:
            try:
                _session(spec, host, address, port, ca_file, recipient, timeout)
            except _Reconnect:
                _session(spec, host, address, port, ca_file, recipient, timeout, plain=True)
            return None
        except _Stop as stop:
            last = stop.observation
            if rule_for(last.stage, last.failure).effect is not Effect.NEXT_ENDPOINT:
                return last
    return last


def _session(spec: SessionSpec, host: str, address: str, port: int, ca_file: Path, recipient: str,
             timeout: float, plain: bool = False) -> None:
    name = spec.tls_domain if spec.tls == "DomainValidation" and spec.tls_domain else host
    try:
        smtp = ResolvedSMTP(address, name, port, local_hostname=EHLO_NAME, timeout=timeout)
    except ConnectionRefusedError:
        raise _Stop(Observation(Stage.CONNECT, Failure.REFUSED)) from None
    except (TimeoutError, socket.timeout):
        raise _Stop(Observation(Stage.CONNECT, Failure.TIMED_OUT)) from None
    except smtplib.SMTPConnectError as err:
        raise _refused(Stage.BANNER, err.smtp_code, err.smtp_error) from None
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        raise _Stop(Observation(Stage.BANNER, Failure.LOST)) from None
    try:
        _ehlo(smtp)
        if not plain:
            _starttls(smtp, spec, ca_file)
        _message(smtp, recipient)
    finally:
        smtp.close()


def _ehlo(smtp: smtplib.SMTP) -> None:
    try:
        code, text = smtp.ehlo()
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        raise _Stop(Observation(Stage.EHLO, Failure.LOST)) from None
    if code != 250:
        raise _refused(Stage.EHLO, code, text)


def _shrugged(spec: SessionSpec, stop: _Stop) -> bool:
    """Whether opportunistic TLS goes on in clear text after this STARTTLS failure."""
    return spec.tls == "None" and (stop.observation.stage, stop.observation.failure) in OPPORTUNISTIC


def _starttls(smtp: smtplib.SMTP, spec: SessionSpec, ca_file: Path) -> None:
    try:
        if not smtp.has_extn("starttls"):
            raise _Stop(Observation(Stage.STARTTLS, Failure.TLS_NOT_OFFERED))
        try:
            smtp.starttls(context=_context(spec, ca_file))
        except smtplib.SMTPResponseException as err:
            raise _refused(Stage.STARTTLS, err.smtp_code, err.smtp_error) from None
        except ssl.SSLCertVerificationError:
            raise _Stop(Observation(Stage.CERTIFICATE, Failure.CERTIFICATE)) from None
        except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError):
            raise _Stop(Observation(Stage.STARTTLS, Failure.TLS_FAILED)) from None
    except _Stop as stop:
        if not _shrugged(spec, stop):
            raise
        if stop.observation.failure is Failure.TLS_FAILED:
            raise _Reconnect() from None
        return
    _ehlo(smtp)


def _context(spec: SessionSpec, ca_file: Path) -> ssl.SSLContext:
    """What the connector's TLS setting checks: nothing (None, EncryptionOnly), the chain and dates
    (CertificateValidation), and the name too (DomainValidation)."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if spec.tls in ("None", "EncryptionOnly"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif spec.tls == "CertificateValidation":
        ctx.check_hostname = False
    return ctx


def _message(smtp: smtplib.SMTP, recipient: str) -> None:
    for stage, send in ((Stage.MAIL, lambda: smtp.mail(SENDER)), (Stage.RCPT, lambda: smtp.rcpt(recipient))):
        try:
            code, text = send()
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            raise _Stop(Observation(stage, Failure.LOST)) from None
        if code >= 400:
            raise _refused(stage, code, text)
    try:
        code, text = smtp.data(MESSAGE)   # raises for a refused DATA command, returns the final reply
    except smtplib.SMTPDataError as err:
        raise _refused(Stage.DATA, err.smtp_code, err.smtp_error) from None
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        raise _Stop(Observation(Stage.DATA, Failure.LOST)) from None
    if code >= 400:
        raise _refused(Stage.DATA, code, text)
    smtp.quit()
