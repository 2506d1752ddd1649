"""The classification table of a delivery attempt: what went wrong at which stage, and what the service makes of it.

One table, read by the SMTP client machine (smtp_client.py) whichever driver feeds it (the simulated world or
real sockets). A row says which catalogue code the failure carries (None: the server's own reply code), what it
does (defer the whole queue and try the next endpoint, defer the queue, defer or bounce one message) and the
[Message=...] text. Sources: the seed's code table (SPEC 1.1), RFC 5321 section 4.2 (reply classes), RFC 3207
(STARTTLS), and the 2026-12 correction of SPEC 1.2 (a 5xx or 421 before the session is established is 4.4.317).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from . import codes
from .reply import Reply

__all__ = ["Stage", "Failure", "Effect", "Rule", "RULES", "OPPORTUNISTIC", "rule_for", "reply_failure",
           "dns_failure", "MESSAGE_STAGES"]


class Stage(str, Enum):
    """Where an attempt stopped (the `stage` of probe's JSON and of the Outcome)."""

    DNS = "dns"
    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    CERTIFICATE = "certificate"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


MESSAGE_STAGES: Final = frozenset({Stage.MAIL, Stage.RCPT, Stage.DATA})


class Failure(str, Enum):
    """What went wrong, as data (a driver turns its errors or the world's faults into one of these)."""

    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"
    DNS_TIMEOUT = "TIMEOUT"
    NODATA = "NODATA"
    NULL_MX = "NOERROR"                 # the domain publishes "no mail here" (RFC 7505)
    TIMED_OUT = "timed_out"             # TCP SYN unanswered
    REFUSED = "refused"                 # TCP RST
    UNREACHABLE = "unreachable"         # ICMP host/network unreachable
    LOST = "lost"                       # the server closed the connection
    NO_ANSWER = "no_answer"             # connected, but no reply within the timeout
    REPLY_421 = "421"
    REPLY_4XX = "4xx"
    REPLY_5XX = "5xx"
    TLS_NOT_OFFERED = "tls_not_offered"
    TLS_FAILED = "tls_failed"
    CERTIFICATE = "certificate"


class Effect(str, Enum):
    """What a failure does to the queue and the message."""

    NEXT_ENDPOINT = "next"    # session-level: try the next MX / smart-host address; the last one defers the queue
    DEFER_QUEUE = "queue"     # session-level: the queue goes into Retry now
    DEFER_MESSAGE = "defer"   # this message waits on its own retry schedule (RFC 5321 section 4.2.5)
    BOUNCE = "bounce"         # this message gets an NDR with the server's reply


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: the code (None: the server's own), the effect, and the [Message=...] text ({reply} is the reply)."""

    code: str | None
    effect: Effect
    message: str

    def detail(self, reply: Reply | None, problem: str = "") -> str:
        """The [Message=...] text of this row for a given reply or certificate problem."""
        return self.message.format(reply=reply.text if reply is not None else "", problem=problem)


_DNS = "DNS query failed. The error was: SMTPSEND.DNS."
_REPLY = "{reply}"
_S, _F, _E = Stage, Failure, Effect
_317, _318 = codes.CANNOT_CONNECT, codes.CLOSED_ABRUPTLY

#: The table. Looked up by (stage, failure); a missing row is a bug in a driver, not a simulated failure.
RULES: Final[dict[tuple[Stage, Failure], Rule]] = {
    (_S.DNS, _F.NXDOMAIN): Rule(codes.DNS_QUERY_FAILED, _E.DEFER_QUEUE, _DNS + "NonExistentDomain; nonexistent domain"),
    (_S.DNS, _F.SERVFAIL): Rule(codes.DNS_QUERY_FAILED, _E.DEFER_QUEUE,
                                _DNS + "ServerFailure; the DNS server failed to answer"),
    (_S.DNS, _F.DNS_TIMEOUT): Rule(codes.DNS_QUERY_FAILED, _E.DEFER_QUEUE,
                                   _DNS + "Timeout; no DNS server answered in time"),
    (_S.DNS, _F.NODATA): Rule(codes.DNS_QUERY_FAILED, _E.DEFER_QUEUE, _DNS + "NoData; the name has no address records"),
    (_S.DNS, _F.NULL_MX): Rule(codes.DNS_QUERY_FAILED, _E.DEFER_QUEUE,
                               _DNS + "NullMx; the domain publishes that it accepts no mail"),
    (_S.CONNECT, _F.TIMED_OUT): Rule(codes.CONNECTION_TIMED_OUT, _E.NEXT_ENDPOINT,
                                     "Socket error code 10060 (no answer to the connection request)"),
    (_S.CONNECT, _F.UNREACHABLE): Rule(codes.CONNECTION_TIMED_OUT, _E.NEXT_ENDPOINT,
                                       "Socket error code 10065 (no route to the host)"),
    (_S.CONNECT, _F.REFUSED): Rule(codes.CONNECTION_REFUSED, _E.NEXT_ENDPOINT,
                                   "Socket error code 10061 (connection actively refused)"),
    (_S.BANNER, _F.LOST): Rule(_318, _E.DEFER_QUEUE, "The connection was closed before the server's greeting"),
    (_S.BANNER, _F.NO_ANSWER): Rule(_318, _E.DEFER_QUEUE, "The server sent no greeting before the timeout"),
    (_S.BANNER, _F.REPLY_421): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.BANNER, _F.REPLY_5XX): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.BANNER, _F.REPLY_4XX): Rule(None, _E.DEFER_QUEUE, _REPLY),
    (_S.EHLO, _F.LOST): Rule(_318, _E.DEFER_QUEUE, "The connection was closed after EHLO"),
    (_S.EHLO, _F.NO_ANSWER): Rule(_318, _E.DEFER_QUEUE, "The server did not answer EHLO before the timeout"),
    (_S.EHLO, _F.REPLY_421): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.EHLO, _F.REPLY_5XX): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.EHLO, _F.REPLY_4XX): Rule(None, _E.DEFER_QUEUE, _REPLY),
    (_S.STARTTLS, _F.TLS_NOT_OFFERED): Rule(_317, _E.NEXT_ENDPOINT,
                                            "STARTTLS is required to send mail, but the server does not offer it"),
    (_S.STARTTLS, _F.REPLY_421): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.STARTTLS, _F.REPLY_5XX): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.STARTTLS, _F.REPLY_4XX): Rule(_317, _E.NEXT_ENDPOINT, _REPLY),
    (_S.STARTTLS, _F.TLS_FAILED): Rule(_317, _E.NEXT_ENDPOINT, "TLS negotiation failed with the destination server"),
    (_S.STARTTLS, _F.LOST): Rule(_318, _E.DEFER_QUEUE, "The connection was closed during STARTTLS"),
    (_S.STARTTLS, _F.NO_ANSWER): Rule(_318, _E.DEFER_QUEUE, "The server did not answer STARTTLS before the timeout"),
    (_S.CERTIFICATE, _F.CERTIFICATE): Rule(codes.CERTIFICATE_FAILED, _E.DEFER_QUEUE,
                                           "TLS certificate validation failed: {problem}"),
    **{(stage, failure): rule for stage in (_S.MAIL, _S.RCPT, _S.DATA) for failure, rule in (
        (_F.REPLY_421, Rule(None, _E.DEFER_MESSAGE, _REPLY)),
        (_F.REPLY_4XX, Rule(None, _E.DEFER_MESSAGE, _REPLY)),
        (_F.REPLY_5XX, Rule(None, _E.BOUNCE, _REPLY)),
        (_F.NO_ANSWER, Rule(_318, _E.DEFER_QUEUE, f"The server did not answer {stage.value.upper()} before the "
                                                  "timeout")),
        (_F.LOST, Rule(_318, _E.DEFER_QUEUE, "The connection was closed while the message was being sent"
                       if stage is _S.DATA else f"The connection was closed after {stage.value.upper()}")))},
}

#: Rows that opportunistic TLS (connector setting `None`) shrugs off: the attempt goes on in clear text.
OPPORTUNISTIC: Final = frozenset({(_S.STARTTLS, _F.TLS_NOT_OFFERED), (_S.STARTTLS, _F.REPLY_4XX),
                                  (_S.STARTTLS, _F.TLS_FAILED)})


def rule_for(stage: Stage, failure: Failure) -> Rule:
    """The row for a failure at a stage."""
    return RULES[(stage, failure)]


def reply_failure(reply: Reply) -> Failure:
    """The failure an error reply is: 421 (closing), another 4xx, or a 5xx."""
    if reply.code == 421:
        return Failure.REPLY_421
    return Failure.REPLY_5XX if reply.code >= 500 else Failure.REPLY_4XX


def dns_failure(rcode: str) -> Failure:
    """The failure a lookup's rcode is (NXDOMAIN, SERVFAIL, TIMEOUT, NODATA; NOERROR with nothing: null MX)."""
    try:
        return Failure(rcode)
    except ValueError:
        return Failure.SERVFAIL
