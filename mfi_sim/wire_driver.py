"""The real-socket driver of the SMTP client machine: blocking TCP with real timeouts, Python's `ssl`, dnspython.

It does what the machine asks (smtp_client.Session) and feeds back what really happened; it decides nothing.
Certificate facts come from the real handshake: under the TLS settings that validate, OpenSSL checks the chain
and dates against the CA file (or the system's roots) and the machine checks names; under `None` and
`EncryptionOnly` nothing is verified, as the service does not verify there either.
"""
from __future__ import annotations

import errno
import socket
import ssl
import time
from dataclasses import dataclass

from .certificates import EXPIRED, NOT_YET_VALID, UNTRUSTED, VALIDATES
from .real_dns import make_resolver, route
from .reply import Reply, ReplyError
from .smtp_client import (SERVICE_HOSTNAME, Connect, Done, MessageResult, Ready, Receive, Resolve, Send, Session,
                          SessionSpec, StartTls, Verdict)
from .smtp_rules import Failure

__all__ = ["WireOptions", "WireResult", "TestMessage", "deliver"]

#: OpenSSL verification results (X509_V_ERR_*) that mean the dates, not the chain, are wrong.
_X509_NOT_YET_VALID, _X509_EXPIRED = 9, 10
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True, slots=True)
class WireOptions:
    """How to reach the world: timeout per step (seconds), DNS server (IP[:PORT]), CA bundle for validation."""

    timeout: float = 30.0
    nameserver: str | None = None
    ca_file: str | None = None
    helo: str = SERVICE_HOSTNAME


@dataclass(frozen=True, slots=True)
class TestMessage:
    """A message to send once the session is open (the service's connector validation sends one)."""

    sender: str
    recipients: tuple[str, ...]
    content: str

    __test__ = False  # not a pytest class


@dataclass(frozen=True, slots=True)
class WireResult:
    """How the real attempt went: the session's verdict, the message's result (if one was sent), the transcript."""

    verdict: Verdict
    message: MessageResult | None
    transcript: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Facts:
    """A real peer certificate's facts, in seconds since the epoch."""

    names: tuple[str, ...]
    not_before: float
    not_after: float
    trusted: bool


class _Connection:
    """One TCP (later TLS) connection: send lines, read one parsed reply at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def close(self) -> None:
        for closing in (self.file.close, self.sock.close):
            try:
                closing()
            except OSError:
                pass

    def send(self, act: Send) -> None:
        if act.content:
            # RFC 5321 section 4.5.2: a leading dot is doubled; the content ends with CRLF.CRLF.
            lines = act.line.replace("\r\n", "\n").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            body = "".join(("." + x if x.startswith(".") else x) + "\r\n" for x in lines)
            self.sock.sendall((body + ".\r\n").encode("utf-8"))
        else:
            self.sock.sendall(act.line.encode("ascii") + b"\r\n")

    def read_reply(self) -> Reply:
        """One reply (all its lines); EOFError when the server closed, TimeoutError when it went silent."""
        lines: list[str] = []
        while True:
            raw = self.file.readline(4096)
            if not raw:
                raise EOFError
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return Reply.from_lines(lines)


def _facts(tls: ssl.SSLSocket) -> _Facts | None:
    """The verified peer certificate's names and dates (getpeercert is only filled once verified)."""
    cert = tls.getpeercert()
    if not cert:
        return None
    names = tuple(str(pair[1]) for pair in cert.get("subjectAltName", ()) if pair[0] == "DNS")
    if not names:
        names = tuple(str(pair[1]) for rdn in cert.get("subject", ()) for pair in rdn if pair[0] == "commonName")
    return _Facts(names, float(ssl.cert_time_to_seconds(str(cert["notBefore"]))),
                  float(ssl.cert_time_to_seconds(str(cert["notAfter"]))), True)


def _context(mode: str, ca_file: str | None) -> ssl.SSLContext:
    """Verification per TLS setting: the chain and dates under the validating settings, nothing otherwise."""
    if mode in VALIDATES:
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.check_hostname = False          # the machine checks names, and only under DomainValidation
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Driver:
    """Runs one Session over real sockets."""

    def __init__(self, spec: SessionSpec, options: WireOptions, message: TestMessage | None) -> None:
        self.spec = spec
        self.options = options
        self.message = message
        self.sent = False
        self.lines: list[str] = []
        self.session = Session(spec.hosts, spec.use_mx, spec.port, spec.tls, spec.tls_domain, options.helo,
                               self.lines.append)
        self.conn: _Connection | None = None

    def run(self) -> WireResult:
        try:
            while True:
                act = self.session.next_action()
                if isinstance(act, Done):
                    return WireResult(act.verdict, self.session.message, tuple(self.lines))
                self._do(act)
        finally:
            self._close()

    def _do(self, act: Resolve | Connect | Receive | Send | StartTls | Ready) -> None:
        session = self.session
        if isinstance(act, Resolve):
            resolver = make_resolver(self.options.nameserver, self.options.timeout)
            endpoints, failures = route(act.hosts, act.use_mx, resolver)
            session.routed(endpoints, failures)
        elif isinstance(act, Connect):
            self._connect(act)
        elif isinstance(act, (Receive, Send)):
            self._exchange(act)
        elif isinstance(act, StartTls):
            self._start_tls(act.host)
        elif self.message is not None and not self.sent:
            self.sent = True
            session.submit(self.message.sender, self.message.recipients, self.message.content)
        else:
            session.quit()

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self, act: Connect) -> None:
        self._close()
        try:
            sock = socket.create_connection((act.ip, act.port), timeout=self.options.timeout)
        except ConnectionRefusedError:
            self.session.connect_failed(Failure.REFUSED)
        except TimeoutError:
            self.session.connect_failed(Failure.TIMED_OUT)
        except OSError as exc:
            self.lines.append(f"*** {exc.strerror or exc}")
            unreachable = exc.errno in _UNREACHABLE
            self.session.connect_failed(Failure.UNREACHABLE if unreachable else Failure.TIMED_OUT)
        else:
            self.conn = _Connection(sock)
            self.session.connected()

    def _exchange(self, act: Receive | Send) -> None:
        conn = self.conn
        assert conn is not None
        try:
            if isinstance(act, Send):
                conn.send(act)
            reply = conn.read_reply()
        except TimeoutError:
            self.session.lost(Failure.NO_ANSWER)
        except ReplyError as exc:
            self.lines.append(f"*** {exc}")
            self.session.lost(Failure.LOST)
        except (EOFError, OSError):
            self.session.lost(Failure.LOST)
        else:
            self.session.received(reply)

    def _start_tls(self, host: str) -> None:
        conn = self.conn
        assert conn is not None
        ctx = _context(self.spec.tls, self.options.ca_file)
        conn.file.close()
        try:
            tls = ctx.wrap_socket(conn.sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            code = exc.verify_code
            problem = EXPIRED if code == _X509_EXPIRED else NOT_YET_VALID if code == _X509_NOT_YET_VALID \
                else UNTRUSTED
            self.session.tls_failed(problem, f"TLS handshake: certificate verify failed: {exc.verify_message}")
        except (ssl.SSLError, OSError) as exc:
            self.session.tls_failed(None, f"TLS handshake failed: {exc}")
        else:
            self.conn = _Connection(tls)
            cipher = tls.cipher()
            note = f" ({tls.version()}, {cipher[0]})" if cipher else ""
            self.session.tls_started(_facts(tls), time.time(), note)


def deliver(spec: SessionSpec, options: WireOptions, message: TestMessage | None = None) -> WireResult:
    """One real attempt as the service makes it: resolve, connect, greet, EHLO, STARTTLS, check the certificate,
    optionally send `message`, QUIT. Never raises for what the network or the server does."""
    return _Driver(spec, options, message).run()

