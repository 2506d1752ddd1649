"""The simulated driver of the SMTP client machine: the world's state at an instant answers the machine's actions.

The machine (smtp_client.py, transaction.py) decides and classifies; this driver only plays the destination:
DNS from the simulated resolver, TCP per the fault schedule, replies from the server's configuration and the
faults that fire, certificate facts from the scenario. A simulated failure is a value, never an exception; the
SimPy side only waits for `elapsed`. The queue calls `open_session` per connection and `send_message` per
message only while a message-stage fault or reply can fire (`message_stage_faults`), so the hot path stays short.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from . import codes
from .faults import NO_FAULTS, plan_for, strikes_a_message
from .reply import Reply
from .scenario.schema import Certificate, Fault
from .smtp_client import (DEFERRED, DELIVERED, DROPPED, FAILED, SERVICE_HOSTNAME, Connect, MessageResult, Ready,
                          Receive, Resolve, Send, Session, SessionSpec, StartTls, Transaction)
from .smtp_rules import Failure, Stage
from .world.dns import Lookup, Route, ZoneResolver
from .world.servers import ServerState

__all__ = ["Outcome", "MessageResult", "World", "open_session", "send_message", "CONNECT_TIMEOUT",
           "REFUSED_AFTER", "TLS_FAILURE_AFTER", "SERVICE_HOSTNAME", "SessionSpec", "DELIVERED", "DEFERRED", "FAILED",
           "DROPPED", "message_stage_faults"]

#: Seconds before an unanswered TCP SYN is given up (the attempt's cost when the connection times out).
CONNECT_TIMEOUT = 30.0
#: Seconds until a refused connection (RST) is known: about one round trip.
REFUSED_AFTER = 0.05
#: Seconds until a greeting, EHLO or TLS failure is known: a few round trips.
TLS_FAILURE_AFTER = 0.2

class World(Protocol):
    """What an attempt may look at: DNS, servers, and the faults that fire for this attempt."""

    resolver: ZoneResolver

    def server_at(self, address: str, port: int) -> ServerState | None: ...

    def firing(self, target: str, now: float) -> Sequence[Fault]: ...

    def dns_fault(self, name: str, now: float) -> str | None: ...


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
    stage: str | None = None    # where it stopped: dns, connect, banner, ehlo, starttls, certificate

    @property
    def last_error(self) -> str | None:
        """The deferral text in the service's format (SPEC 1.1), or None for success."""
        if self.ok or self.code is None:
            return None
        return codes.deferral_text(self.code, self.detail, self.server_name, self.ip, self.port)

    @property
    def destination(self) -> tuple[str, str]:
        """(server host name, server IP) attempted, as fields for message trace ("" when unknown)."""
        return self.server_name or "", self.ip or ""


# Replies a healthy simulated server gives, parsed once (aiosmtpd's StatusCode idea).
_STARTTLS_READY = Reply.of(220, "2.0.0", "SMTP server ready")
_SENDER_OK = Reply.of(250, "2.1.0", "Sender OK")
_RECIPIENT_OK = Reply.of(250, "2.1.5", "Recipient OK")
_START_INPUT = Reply.of(354, "", "Start mail input; end with <CRLF>.<CRLF>")
_QUEUED = Reply.of(250, "2.6.0", "Queued mail for delivery")
_UNKNOWN_RECIPIENT = Reply.parse(codes.RECIPIENT_NOT_FOUND)
_SERVICE_UNAVAILABLE = Reply.parse("421 4.3.2 Service not available, closing transmission channel")
_parsed: dict[str, Reply] = {}
_greetings: dict[tuple[str, bool], tuple[Reply, Reply]] = {}


def parsed(text: str) -> Reply:
    """A configured or injected reply text, parsed once per distinct text."""
    reply = _parsed.get(text)
    if reply is None:
        reply = _parsed[text] = Reply.parse(text)
    return reply


def _server_replies(hostname: str, starttls: bool) -> tuple[Reply, Reply]:
    """(greeting, EHLO reply) of a healthy server with this name, advertising STARTTLS or not."""
    key = (hostname, starttls)
    got = _greetings.get(key)
    if got is None:
        ehlo = (f"{hostname} Hello",) + (("STARTTLS",) if starttls else ()) + ("SIZE 157286400",)
        got = _greetings[key] = (Reply.of(220, "", f"{hostname} Microsoft ESMTP MAIL Service ready"),
                                 Reply(250, "", ehlo))
    return got


class _Peer:
    """The destination as the world shows it for one attempt: server, what the firing faults make it do (their
    kinds' plan, faults.py), and the time spent."""

    def __init__(self, world: World, now: float) -> None:
        self.world = world
        self.now = now
        self.elapsed = 0.0
        self.cost = 0.0                   # what the endpoint being tried costs if it fails
        self.endpoint: tuple[str, str] | None = None
        self.server: ServerState | None = None
        self.plan = NO_FAULTS
        self.tls_on = False

    def connect(self, session: Session, act: Connect) -> None:
        if self.endpoint == (act.host, act.ip):     # clear-text retry after opportunistic TLS failed: same draw
            self.tls_on = False
            session.connected()
            return
        self.elapsed += self.cost
        self.endpoint = (act.host, act.ip)
        server = self.server = self.world.server_at(act.ip, act.port)
        plan = self.plan = plan_for(self.world.firing(act.ip, self.now + self.elapsed)) if server is not None \
            else NO_FAULTS
        self.tls_on = False
        refusal = Failure.TIMED_OUT if server is None else plan.connect
        if refusal is None:
            self.cost = TLS_FAILURE_AFTER
            session.connected()
        else:
            self.cost = CONNECT_TIMEOUT if refusal is Failure.TIMED_OUT else REFUSED_AFTER
            session.connect_failed(refusal)

    def answer(self, session: Session, stage: Stage | None) -> None:
        """The server's answer to the greeting or a session command (or the connection drops)."""
        server, plan = self.server, self.plan
        assert server is not None and stage is not None
        if self.tls_on:                  # EHLO again inside TLS: the faults had their say before
            session.received(_server_replies(server.config.hostname, False)[1])
            return
        if stage.value in plan.closes_at:
            session.lost()
            return
        text = plan.reply(server, stage.value)
        if text is not None:
            session.received(parsed(text))
        elif stage is Stage.STARTTLS:
            session.received(_STARTTLS_READY)
        else:
            greeting, ehlo = _server_replies(server.config.hostname, server.config.starttls and plan.offers_starttls)
            session.received(greeting if stage is Stage.BANNER else ehlo)

    def handshake(self, session: Session) -> None:
        plan = self.plan
        if plan.breaks_handshake:
            session.tls_failed()
            return
        self.tls_on = True
        assert self.server is not None
        at = self.now + self.elapsed
        session.tls_started(_forced(self.server.certificate, plan.certificate, at), at)


def _forced(cert: Certificate | None, fault: str | None, at: float) -> Certificate | None:
    """The certificate the server presents when a certificate fault fires: untrusted, expired or misnamed."""
    if cert is None or fault is None:
        return cert
    if fault == "certificate_untrusted":
        return replace(cert, trusted=False)
    if fault == "certificate_expired":
        return replace(cert, not_after=min(cert.not_after, at))
    return replace(cert, names=())


def _route_failures(route: Route) -> list[tuple[str, str]]:
    return [(f.name if isinstance(f, Lookup) else f.domain, f.rcode) for f in route.failures]


def open_session(spec: SessionSpec, world: World, now: float,
                 say: Callable[[str], None] | None = None) -> Outcome:
    """Resolve, connect, greet, EHLO, STARTTLS and check the certificate, trying endpoints in order.

    Connection failures (timeout, refusal, 4.4.317) fall through to the next endpoint, as an MTA fails over
    between MX hosts; the outcome is that of the last endpoint tried. `say` receives transcript lines.
    """
    session = Session(spec.hosts, spec.use_mx, spec.port, spec.tls, spec.tls_domain, SERVICE_HOSTNAME, say)
    peer = _Peer(world, now)
    while True:
        act = session.next_action()
        kind = type(act)
        if kind is Send or kind is Receive:
            peer.answer(session, act.stage)  # type: ignore[union-attr]
        elif kind is Connect:
            peer.connect(session, act)  # type: ignore[arg-type]
        elif kind is StartTls:
            peer.handshake(session)
        elif kind is Resolve:
            route = world.resolver.resolve_route(spec.hosts, spec.use_mx, now, lambda n: world.dns_fault(n, now))
            peer.elapsed = route.elapsed
            session.routed(route.endpoints, _route_failures(route) if route.failures else ())
        else:
            return _outcome(session, peer, kind is Ready)


def _outcome(session: Session, peer: _Peer, ok: bool) -> Outcome:
    v = session.verdict
    assert v is not None
    if ok:
        return Outcome(True, None, "", v.host, v.ip, v.port, peer.elapsed, peer.server, v.tls)
    stage = v.stage.value if v.stage is not None else None
    ip = v.ip if v.stage is not Stage.DNS else None
    return Outcome(False, v.code, v.detail, v.host, ip, v.port, peer.elapsed + peer.cost, None, v.tls,
                   stage=stage)


def send_message(server: ServerState, firing: Sequence[Fault], sender: str, recipients: Sequence[str],
                 invalid: int, say: Callable[[str], None] | None = None) -> MessageResult:
    """MAIL, RCPT for each recipient (the first `invalid` do not exist there), DATA; the message's result.

    A 4xx at any stage defers the message (RFC 5321 section 4.2.5), a 5xx fails it, a dropped connection
    loses the session (450 4.4.318); unknown recipients get 550 5.1.10 while the others go through.
    """
    plan = plan_for(firing)
    rcpt_fault = plan.reply(server, "rcpt")
    t = Transaction(sender, recipients, "", say)
    rcpt = 0
    while t.result is None:
        act = t.next_action()
        if act.content:
            if "data" in plan.closes_at:
                t.lost()
                continue
            text = plan.reply(server, "data")
            t.received(parsed(text) if text is not None else _QUEUED)
        elif act.stage is Stage.RCPT:
            t.received(parsed(rcpt_fault) if rcpt_fault is not None
                       else _UNKNOWN_RECIPIENT if rcpt < invalid else _RECIPIENT_OK)
            rcpt += 1
        elif act.stage is Stage.MAIL:
            text = plan.reply(server, "mail")
            t.received(parsed(text) if text is not None else _SENDER_OK)
        else:
            t.received(_START_INPUT)
    result = t.result
    if result.stage == "mail" or (result.stage == "rcpt" and rcpt_fault is not None):
        return replace(result, rejected_invalid=False)
    return result


def message_stage_faults(server: ServerState, firing: Sequence[Fault]) -> bool:
    """Whether anything can happen to a message after the session opened (else every message goes through)."""
    if any(s in ("mail", "rcpt", "data") for s, _ in server.config.replies):
        return True
    return any(strikes_a_message(f) for f in firing)
