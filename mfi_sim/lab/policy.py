"""What a lab server does, as data: the endpoint's kind, and per connection the reply or cut at each stage.

A fault in force at T becomes server behaviour here, through the fault registry's own effects (faults.py,
`plan_for`: the same rules the simulated destination follows). Connect-level faults shape the
endpoint for the lab's whole life, since one socket cannot both refuse and accept: `connection_refused`
leaves nothing listening, `connect_timeout` leaves a listener whose SYNs are never answered. Session-level
faults are drawn per connection with their probability, as the simulation draws them per attempt. No I/O.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..faults import PeerPlan, plan_for
from ..scenario.schema import Fault
from ..smtp_rules import Failure
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
#: RFC 5321 section 3.8: a server that cannot serve answers the greeting with 421 and closes (the reply the
#: fault registry gives `service_unavailable`).
SERVICE_UNAVAILABLE = plan_for([Fault("service_unavailable", "", 0.0, None, 1.0)]).replies["banner"]
#: The greeting when more sessions are open than the server's concurrency (RFC 5321 section 4.2.3, 421).
TOO_BUSY = "421 4.3.2 Too many connections, try again later"


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
    """The endpoint of a server with these faults in force (any probability above zero counts), by the fault
    registry's own effects (faults.plan_for): an unanswered SYN hides a refusal."""
    connect = plan_for([f for f in faults if f.probability > 0]).connect
    if connect is Failure.TIMED_OUT:
        return Endpoint.SILENT
    if connect is Failure.REFUSED:
        return Endpoint.REFUSED
    return Endpoint.LISTENING


def silent_endpoint() -> Endpoint:
    """The endpoint of an address the zones name but no [[servers]] entry serves: in the simulation nothing
    answers there (450 4.4.315), so in the lab its SYNs go unanswered too."""
    return Endpoint.SILENT


def plan_session(server: ServerState, faults: Sequence[Fault], rng: random.Random) -> SessionPlan:
    """The plan of one connection: each fault fires with its probability, drawn from `rng`, and the fault
    registry says what the firing ones make the server do (faults.plan_for, the simulation's own rules);
    the server's configured replies apply at every connection. A cut at a stage comes before a reply there."""
    fired = [f for f in faults if f.probability >= 1.0 or (f.probability > 0 and rng.random() < f.probability)]
    peer = plan_for(fired)

    def at(stage: str) -> str | None:
        return CLOSE if stage in peer.closes_at else peer.reply(server, stage)

    return SessionPlan(banner=at("banner"), ehlo=at("ehlo"),
                       starttls=server.config.starttls and peer.offers_starttls,
                       starttls_reply=at("starttls"), certificate=_certificate(peer), mail=at("mail"),
                       rcpt=at("rcpt"), data=at("data"))


def _certificate(peer: PeerPlan) -> CertificateChoice:
    if peer.breaks_handshake:
        return CertificateChoice.BROKEN
    return CertificateChoice(peer.certificate) if peer.certificate is not None else CertificateChoice.NORMAL
