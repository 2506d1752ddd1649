"""What a lab server does, as data: the endpoint's kind, and per connection the reply or cut at each stage.

A fault in force at T becomes server behaviour here (SPEC 2.2 fault kinds). Connect-level faults shape the
endpoint for the lab's whole life, since one socket cannot both refuse and accept: `connection_refused`
leaves nothing listening, `connect_timeout` leaves a listener whose SYNs are never answered. Session-level
faults are drawn per connection with their probability, as the simulation draws them per attempt. No I/O.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..scenario.schema import Fault
from ..world.servers import ServerState

__all__ = ["Endpoint", "CLOSE", "SERVICE_UNAVAILABLE", "TOO_BUSY", "CertificateChoice", "SessionPlan",
           "endpoint_kind", "plan_session", "silent_endpoint"]


class Endpoint(Enum):
    """How a server's address and port behave at the TCP level."""

    LISTENING = "listening"     # an SMTP server accepts
    REFUSED = "refused"         # nothing listens: the SYN is answered by a RST
    SILENT = "silent"           # the SYN gets no answer: the connection times out


#: Marker for "the server closes the connection here, without a reply".
CLOSE = "<close>"
#: RFC 5321 section 3.8: a server that cannot serve answers the greeting with 421 and closes.
SERVICE_UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"
#: The greeting when more sessions are open than the server's concurrency (RFC 5321 section 4.2.3, 421).
TOO_BUSY = "421 4.3.2 Too many connections, try again later"

_CERTIFICATE_FAULTS = ("certificate_untrusted", "certificate_expired", "certificate_name_mismatch")


class CertificateChoice(Enum):
    """Which certificate a STARTTLS handshake presents (or that the handshake breaks)."""

    NORMAL = "normal"
    EXPIRED = "certificate_expired"
    NAME_MISMATCH = "certificate_name_mismatch"
    UNTRUSTED = "certificate_untrusted"
    BROKEN = "tls_handshake_failure"


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What one connection meets at each stage; None means the normal reply, CLOSE a cut connection."""

    banner: str | None = None
    ehlo: str | None = None
    starttls: bool = True              # whether EHLO offers STARTTLS
    starttls_reply: str | None = None  # a refusal of the STARTTLS command (454, 5xx), if any
    certificate: CertificateChoice = CertificateChoice.NORMAL
    mail: str | None = None
    rcpt: str | None = None
    data: str | None = None


def endpoint_kind(faults: Sequence[Fault]) -> Endpoint:
    """The endpoint of a server with these faults in force (any probability above zero counts)."""
    kinds = {f.kind for f in faults if f.probability > 0}
    if "connect_timeout" in kinds:
        return Endpoint.SILENT
    if "connection_refused" in kinds:
        return Endpoint.REFUSED
    return Endpoint.LISTENING


def silent_endpoint() -> Endpoint:
    """The endpoint of an address the zones name but no [[servers]] entry serves: in the simulation nothing
    answers there (450 4.4.315), so in the lab its SYNs go unanswered too."""
    return Endpoint.SILENT


def plan_session(server: ServerState, faults: Sequence[Fault], rng: random.Random) -> SessionPlan:
    """The plan of one connection: each fault fires with its probability, drawn from `rng`; the server's
    configured replies apply at every connection."""
    fired = [f for f in faults if f.probability >= 1.0 or (f.probability > 0 and rng.random() < f.probability)]
    replies = dict(server.config.replies)
    stage_reply: dict[str, str] = {}
    closed_at: str | None = None
    for f in fired:
        if f.kind == "smtp_reply" and f.stage is not None and f.reply is not None:
            stage_reply.setdefault(f.stage, f.reply)
        elif f.kind == "connection_closed":
            closed_at = closed_at or (f.stage or "data")
    kinds = {f.kind for f in fired}

    def at(stage: str) -> str | None:
        if closed_at == stage:
            return CLOSE
        return stage_reply.get(stage, replies.get(stage))

    banner = at("banner")
    if "service_unavailable" in kinds and banner != CLOSE:
        banner = SERVICE_UNAVAILABLE
    return SessionPlan(banner=banner, ehlo=at("ehlo"),
                       starttls=server.config.starttls and "tls_not_offered" not in kinds,
                       starttls_reply=at("starttls"), certificate=_certificate(kinds), mail=at("mail"), rcpt=at("rcpt"), data=at("data"))


def _certificate(kinds: set[str]) -> CertificateChoice:
    if "tls_handshake_failure" in kinds:
        return CertificateChoice.BROKEN
    for kind in _CERTIFICATE_FAULTS:   # the simulation's precedence (attempt.py): untrusted, expired, name
        if kind in kinds:
            return CertificateChoice(kind)
    return CertificateChoice.NORMAL
