"""One SMTP delivery attempt as pure logic: the stages turn the world's state at an instant into an Outcome.

Stages (RFC 5321 section 3, RFC 3207 for STARTTLS): resolve the smart host or MX (DNS), open TCP to port 25,
read the greeting, EHLO, STARTTLS, check the certificate per the connector's TLS setting, then MAIL / RCPT /
DATA per message. A session-level failure carries one of the catalogue codes (450 4.4.312 ... 450 4.7.320)
or the destination's own reply; a simulated failure is a value, never an exception. The SimPy side only waits.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import codes
from .scenario.schema import Fault
from .world.dns import Route, ZoneResolver
from .world.servers import ServerState
from .world.tls import TLS_REQUIRED, certificate_problem

__all__ = ["Outcome", "MessageResult", "World", "open_session", "send_message", "CONNECT_TIMEOUT",
           "REFUSED_AFTER", "TLS_FAILURE_AFTER", "SERVICE_HOSTNAME", "SessionSpec", "DELIVERED", "DEFERRED", "FAILED", "DROPPED"]

#: The name the simulated service uses in EHLO and as Reporting-MTA (a reserved example name, RFC 2606).
SERVICE_HOSTNAME = "outbound.protection.mfi-sim.example"
#: Seconds before an unanswered TCP SYN is given up (the attempt's cost when the connection times out).
CONNECT_TIMEOUT = 30.0
#: Seconds until a refused connection (RST) is known: about one round trip.
REFUSED_AFTER = 0.05
#: Seconds until a greeting, EHLO or TLS failure is known: a few round trips.
TLS_FAILURE_AFTER = 0.2

# Per-message results (send_message).
DELIVERED, DEFERRED, FAILED, DROPPED = "delivered", "deferred", "failed", "dropped"

_SERVICE_UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"


class World(Protocol):
    """What an attempt may look at: DNS, servers, and the faults that fire for this attempt."""

    resolver: ZoneResolver

    def server_at(self, address: str, port: int) -> ServerState | None: ...

    def firing(self, target: str, now: float) -> Sequence[Fault]: ...

    def dns_fault(self, name: str, now: float) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """The connector settings an attempt needs (its current smart hosts may differ from the scenario's)."""

    hosts: tuple[str, ...]
    use_mx: bool
    port: int
    tls: str
    tls_domain: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How opening a session ended: ok with a server, or a code and a reply, after `elapsed` seconds."""

    ok: bool
    code: str | None            # catalogue code, or the reply's own "NNN X.Y.Z" for other errors
    detail: str                 # the [Message=...] part, or the destination's reply
    server_name: str | None
    ip: str | None
    port: int
    elapsed: float
    server: ServerState | None = None
    tls: bool = False
    permanent: bool = False

    @property
    def last_error(self) -> str | None:
        """The deferral text in the service's format (SPEC 1.1), or None for success."""
        if self.ok or self.code is None:
            return None
        return codes.deferral_text(self.code, self.detail, self.server_name, self.ip, self.port)


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What happened to one message inside an open session."""

    kind: str                   # DELIVERED, DEFERRED (4xx), FAILED (5xx), DROPPED (connection lost)
    reply: str = "250 2.6.0 Queued mail for delivery"
    code: str | None = None
    stage: str | None = None
    rejected_invalid: bool = True   # whether the invalid recipients were refused at RCPT this time


def _reply_code(reply: str) -> str:
    """ "550 5.7.1 No relay" -> "550 5.7.1"; "451 try later" -> "451"."""
    parts = reply.split()
    if len(parts) > 1 and codes.enhanced_of(parts[1]):
        return f"{parts[0]} {parts[1]}"
    return parts[0]


def open_session(spec: SessionSpec, world: World, now: float,
                 say: Callable[[str], None] | None = None) -> Outcome:
    """Resolve, connect, greet, EHLO, STARTTLS and check the certificate, trying endpoints in order.

    Connection failures (timeout, refusal, 421 greeting) fall through to the next endpoint, as an MTA fails
    over between MX hosts; the outcome is that of the last endpoint tried. `say` receives transcript lines.
    """
    route: Route = world.resolver.resolve_route(spec.hosts, spec.use_mx, now,
                                                lambda name: world.dns_fault(name, now))
    elapsed = route.elapsed
    if say:
        for failed in route.failures:
            say(f"*** DNS lookup of {getattr(failed, 'name', getattr(failed, 'domain', '?'))} failed: "
                f"{failed.rcode}")
    if not route.endpoints:
        failed_lookup = route.failures[-1] if route.failures else None
        rcode = failed_lookup.rcode if failed_lookup else "NXDOMAIN"
        name = (getattr(failed_lookup, "name", None) or getattr(failed_lookup, "domain", None)
                or (spec.hosts[0] if spec.hosts else None))
        reason = {"NXDOMAIN": "SMTPSEND.DNS.NonExistentDomain; nonexistent domain",
                  "SERVFAIL": "SMTPSEND.DNS.ServerFailure; the DNS server failed to answer",
                  "TIMEOUT": "SMTPSEND.DNS.Timeout; no DNS server answered in time",
                  "NODATA": "SMTPSEND.DNS.NoData; the name has no address records"}.get(rcode, rcode)
        return Outcome(False, codes.DNS_QUERY_FAILED, f"DNS query failed. The error was: {reason}", name, None,
                       spec.port, elapsed)
    last: Outcome | None = None
    for host, ip in route.endpoints:
        outcome = _try_endpoint(spec, world, host, ip, now + elapsed, say)
        elapsed += outcome.elapsed
        last = outcome
        if outcome.ok or outcome.code not in (codes.CONNECTION_TIMED_OUT, codes.CONNECTION_REFUSED,
                                              codes.CANNOT_CONNECT) or outcome.permanent:
            break
    assert last is not None
    return Outcome(last.ok, last.code, last.detail, last.server_name, last.ip, last.port, elapsed, last.server,
                   last.tls, last.permanent)


def _try_endpoint(spec: SessionSpec, world: World, host: str, ip: str, now: float,
                  say: Callable[[str], None] | None) -> Outcome:
    port = spec.port

    def fail(code: str, detail: str, after: float, permanent: bool = False) -> Outcome:
        if say:
            say(f"<** {detail}")
        return Outcome(False, code, detail, host, ip, port, after, permanent=permanent)

    if say:
        say(f"=== Trying {host}:{port}...")
    server = world.server_at(ip, port)
    firing = {f.kind: f for f in world.firing(ip, now)} if server is not None else {}
    if server is None or "connect_timeout" in firing:
        return fail(codes.CONNECTION_TIMED_OUT, "Socket error code 10060 (no answer to the connection request)",
                    CONNECT_TIMEOUT)
    if "connection_refused" in firing:
        return fail(codes.CONNECTION_REFUSED, "Socket error code 10061 (connection actively refused)",
                    REFUSED_AFTER)
    if say:
        say(f"=== Connected to {ip}.")

    # Greeting (RFC 5321 section 4.2: 220 ready, 421 not available, 554 no service).
    closed = firing.get("connection_closed")
    if closed is not None and closed.stage == "banner":
        return fail(codes.CLOSED_ABRUPTLY, "The connection was closed before the server's greeting",
                    TLS_FAILURE_AFTER)
    reply = _SERVICE_UNAVAILABLE if "service_unavailable" in firing else _stage_reply(server, firing, "banner")
    if reply is not None:
        if say:
            say(f"<-  {reply}")
        return fail(_pre_session_code(reply), reply, TLS_FAILURE_AFTER)
    hostname = server.config.hostname
    if say:
        say(f"<-  220 {hostname} Microsoft ESMTP MAIL Service ready")
        say(f"->  EHLO {SERVICE_HOSTNAME}")

    # EHLO (RFC 5321 section 4.1.1.1); STARTTLS advertised per RFC 3207 section 4.
    if closed is not None and closed.stage == "ehlo":
        return fail(codes.CLOSED_ABRUPTLY, "The connection was closed after EHLO", TLS_FAILURE_AFTER)
    reply = _stage_reply(server, firing, "ehlo")
    if reply is not None:
        if say:
            say(f"<-  {reply}")
        return fail(_pre_session_code(reply), reply, TLS_FAILURE_AFTER)
    offered = server.config.starttls and "tls_not_offered" not in firing
    if say:
        say(f"<-  250-{hostname} Hello" + ("\n<-  250-STARTTLS" if offered else "") + "\n<-  250 SIZE 157286400")
    required = spec.tls in TLS_REQUIRED
    tls = False
    if not offered:
        if required:
            return fail(codes.CANNOT_CONNECT, "STARTTLS is required to send mail, but the server does not offer it",
                        TLS_FAILURE_AFTER)
    else:
        if say:
            say("->  STARTTLS")
        reply = _stage_reply(server, firing, "starttls")
        if reply is not None and (reply.startswith("5") or required):
            if say:
                say(f"<-  {reply}")
            return fail(codes.CANNOT_CONNECT, reply, TLS_FAILURE_AFTER)
        if reply is not None:
            if say:
                say(f"<-  {reply}")
                say("*** STARTTLS refused for now; opportunistic TLS goes on in plain text")
        elif "tls_handshake_failure" in firing:
            if required:
                if say:
                    say("<-  220 2.0.0 SMTP server ready")
                return fail(codes.CANNOT_CONNECT, "TLS negotiation failed with the destination server",
                            TLS_FAILURE_AFTER)
            if say:
                say("*** TLS handshake failed; opportunistic TLS falls back to plain text")
        else:
            tls = True
            if say:
                say("<-  220 2.0.0 SMTP server ready")
                say("=== TLS started")
            forced = next((k for k in ("certificate_untrusted", "certificate_expired", "certificate_name_mismatch")
                           if k in firing), None)
            problem = certificate_problem(server.certificate, spec.tls, spec.tls_domain, now, forced)
            if problem is not None:
                return fail(codes.CERTIFICATE_FAILED, f"TLS certificate validation failed: {problem}",
                            TLS_FAILURE_AFTER)
    return Outcome(True, None, "", host, ip, port, 0.0, server=server, tls=tls)


def _stage_reply(server: ServerState, firing: dict[str, Fault], stage: str) -> str | None:
    fault = firing.get("smtp_reply")
    if fault is not None and fault.stage == stage:
        return fault.reply
    return server.reply_for(stage)


def _pre_session_code(reply: str) -> str:
    """The code of an error reply before the session is established (greeting, EHLO): a 5xx or 421 is
    450 4.4.317, retried until expiry (SPEC 1.2, 2026-12); any other 4xx is the server's own reply code."""
    if reply.startswith("5") or reply.startswith("421"):
        return codes.CANNOT_CONNECT
    return _reply_code(reply)


def send_message(server: ServerState, firing: Sequence[Fault], sender: str, recipients: Sequence[str],
                 invalid: int, say: Callable[[str], None] | None = None) -> MessageResult:
    """MAIL, RCPT for each recipient (the first `invalid` do not exist there), DATA; the message's result.

    A 4xx at any stage defers the message (RFC 5321 section 4.2.5), a 5xx fails it, a dropped connection
    loses the session (450 4.4.318); unknown recipients get 550 5.1.10 while the others go through.
    """
    by_kind = {f.kind: f for f in firing}

    def reply_at(stage: str) -> str | None:
        fault = by_kind.get("smtp_reply")
        if fault is not None and fault.stage == stage:
            return fault.reply
        return server.reply_for(stage)

    def result(stage: str, reply: str, rejected_invalid: bool = False) -> MessageResult:
        if say:
            say(f"<** {reply}")
        kind = FAILED if reply.startswith("5") else DEFERRED
        return MessageResult(kind, reply, _reply_code(reply), stage, rejected_invalid)

    if say:
        say(f"->  MAIL FROM:<{sender}>")
    reply = reply_at("mail")
    if reply is not None:
        return result("mail", reply)
    if say:
        say("<-  250 2.1.0 Sender OK")
    reply = reply_at("rcpt")
    for i, rcpt in enumerate(recipients):
        if say:
            say(f"->  RCPT TO:<{rcpt}>")
            if reply is None:
                say("<-  550 5.1.10 Recipient not found" if i < invalid else "<-  250 2.1.5 Recipient OK")
    if reply is not None:
        return result("rcpt", reply)
    if invalid >= len(recipients):
        return MessageResult(FAILED, codes.RECIPIENT_NOT_FOUND, "550 5.1.10", "rcpt", True)
    if say:
        say("->  DATA")
    closed = by_kind.get("connection_closed")
    if closed is not None and closed.stage == "data":
        if say:
            say("<** The connection was closed during DATA")
        return MessageResult(DROPPED, "The connection was closed while the message was being sent",
                             codes.CLOSED_ABRUPTLY, "data", True)
    reply = reply_at("data")
    if reply is not None:
        return result("data", reply, True)
    if say:
        say("<-  250 2.6.0 Queued mail for delivery")
    return MessageResult(DELIVERED)


def message_stage_faults(server: ServerState, firing: Sequence[Fault]) -> bool:
    """Whether anything can happen to a message after the session opened (else every message goes through)."""
    if any(s in ("mail", "rcpt", "data") for s, _ in server.config.replies):
        return True
    return any((f.kind == "smtp_reply" and f.stage in ("mail", "rcpt", "data"))
               or (f.kind == "connection_closed" and f.stage == "data") for f in firing)
