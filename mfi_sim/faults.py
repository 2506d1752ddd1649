"""Fault kinds as one registry, and the fault schedule: which injected faults are in force, and which fire.

Each kind (SPEC 2.2's fault table) declares what it targets (a server address or a DNS name), the stage where
it strikes, the code the service reports for it, its own scenario fields, and what it makes the destination
do (`apply` onto a `PeerPlan`). The loader, the field catalogue, the simulated world and the attempt read
this registry; adding a kind touches this file and its tests. The schedule draws each active fault's
per-attempt probability from one seeded stream.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final

from . import codes
from .smtp_rules import MESSAGE_STAGES, Failure, Stage

if TYPE_CHECKING:
    from .scenario.schema import Fault
    from .world.servers import ServerState

__all__ = ["FaultSchedule", "ScheduledFault", "Target", "FaultField", "FaultKind", "KINDS", "PeerPlan",
           "NO_FAULTS", "plan_for", "stage_of", "strikes_a_message", "fault_label", "kind_words", "DNS_ERRORS", "CERTIFICATE_FAULTS",
           "REPLY_STAGES"]


class Target(str, Enum):
    """What a fault's `target` names."""

    SERVER = "server address"
    DNS = "DNS name"


@dataclass(frozen=True, slots=True)
class FaultField:
    """One of a kind's own scenario fields: its values (None: an SMTP error reply), default (None: required)."""

    name: str
    choices: tuple[str, ...] | None
    default: str | None
    meaning: str


@dataclass(slots=True)
class PeerPlan:
    """What the destination does for one attempt once the firing faults have had their say."""

    connect: Failure | None = None          # TIMED_OUT or REFUSED instead of accepting
    closes_at: set[str] = field(default_factory=set)
    replies: dict[str, str] = field(default_factory=dict)   # stage -> injected error reply
    offers_starttls: bool = True
    breaks_handshake: bool = False
    certificate: str | None = None           # the certificate fault whose certificate is presented

    def reply(self, server: ServerState, stage: str) -> str | None:
        """The error reply at `stage`: an injected one, else the server's configured one, else None."""
        injected = self.replies.get(stage)
        return injected if injected is not None else server.reply_for(stage)


@dataclass(frozen=True, slots=True)
class FaultKind:
    """One fault kind: target, stage (None: its `stage` field says), code (None: the reply's own), fields, effect."""

    name: str
    target: Target
    stage: Stage | None
    code: str | None
    fields: tuple[FaultField, ...]
    apply: Callable[[Fault, PeerPlan], None]

    @property
    def words(self) -> str:
        """The kind in words, for the timeline and reports ("connection refused")."""
        return self.name.replace("_", " ")


DNS_ERRORS: Final = ("nxdomain", "servfail", "timeout")
#: Certificate faults, strongest first: when several fire, the first one's certificate is presented.
CERTIFICATE_FAULTS: Final = ("certificate_untrusted", "certificate_expired", "certificate_name_mismatch")
_CLOSE_STAGES = ("banner", "ehlo", "data")
#: Stages where a server can answer with an error reply (a server's `replies`, an `smtp_reply` fault).
REPLY_STAGES: Final = ("banner", "ehlo", "starttls", "mail", "rcpt", "data")


def _nothing(fault: Fault, plan: PeerPlan) -> None:
    """DNS faults act in the resolver, not at the server."""


def _timeout(fault: Fault, plan: PeerPlan) -> None:
    plan.connect = Failure.TIMED_OUT            # an unanswered SYN hides anything else


def _refused(fault: Fault, plan: PeerPlan) -> None:
    if plan.connect is None:
        plan.connect = Failure.REFUSED


def _unavailable(fault: Fault, plan: PeerPlan) -> None:
    plan.replies["banner"] = "421 4.3.2 Service not available, closing transmission channel"


def _no_starttls(fault: Fault, plan: PeerPlan) -> None:
    plan.offers_starttls = False


def _breaks_handshake(fault: Fault, plan: PeerPlan) -> None:
    plan.breaks_handshake = True


def _certificate(fault: Fault, plan: PeerPlan) -> None:
    current = plan.certificate
    if current is None or CERTIFICATE_FAULTS.index(fault.kind) < CERTIFICATE_FAULTS.index(current):
        plan.certificate = fault.kind


def _closes(fault: Fault, plan: PeerPlan) -> None:
    plan.closes_at.add(fault.stage or "data")


def _replies(fault: Fault, plan: PeerPlan) -> None:
    if fault.stage is not None and fault.reply is not None:
        plan.replies.setdefault(fault.stage, fault.reply)   # an earlier [[faults]] entry wins


_CERT = "A certificate that fails the connector's check: {}"
KINDS: Final[dict[str, FaultKind]] = {k.name: k for k in (
    FaultKind("dns_failure", Target.DNS, Stage.DNS, codes.DNS_QUERY_FAILED,
              (FaultField("error", DNS_ERRORS, "nxdomain", "`nxdomain`, `servfail` or `timeout`"),),
              _nothing),
    FaultKind("connect_timeout", Target.SERVER, Stage.CONNECT, codes.CONNECTION_TIMED_OUT, (), _timeout),
    FaultKind("connection_refused", Target.SERVER, Stage.CONNECT, codes.CONNECTION_REFUSED, (), _refused),
    FaultKind("service_unavailable", Target.SERVER, Stage.BANNER, codes.CANNOT_CONNECT, (), _unavailable),
    FaultKind("tls_not_offered", Target.SERVER, Stage.STARTTLS, codes.CANNOT_CONNECT, (), _no_starttls),
    FaultKind("tls_handshake_failure", Target.SERVER, Stage.STARTTLS, codes.CANNOT_CONNECT, (),
              _breaks_handshake),
    FaultKind("certificate_expired", Target.SERVER, Stage.CERTIFICATE, codes.CERTIFICATE_FAILED, (),
              _certificate),
    FaultKind("certificate_name_mismatch", Target.SERVER, Stage.CERTIFICATE, codes.CERTIFICATE_FAILED, (),
              _certificate),
    FaultKind("certificate_untrusted", Target.SERVER, Stage.CERTIFICATE, codes.CERTIFICATE_FAILED, (),
              _certificate),
    FaultKind("connection_closed", Target.SERVER, None, codes.CLOSED_ABRUPTLY,
              (FaultField("stage", _CLOSE_STAGES, "data", "where the connection is cut"),), _closes),
    FaultKind("smtp_reply", Target.SERVER, None, None,
              (FaultField("stage", REPLY_STAGES, None, "where the reply is given"),
               FaultField("reply", None, None, "the reply, e.g. `451 4.7.500 Server busy`")), _replies),
)}

#: The plan of an attempt no fault touches (shared: never mutate it).
NO_FAULTS: Final = PeerPlan()


def plan_for(firing: Sequence[Fault]) -> PeerPlan:
    """What the destination does when these faults fire (scenario order), by each kind's effect."""
    if not firing:
        return NO_FAULTS
    plan = PeerPlan()
    for f in firing:
        KINDS[f.kind].apply(f, plan)
    return plan


def stage_of(fault: Fault) -> str:
    """The stage where a fault strikes: its kind's, or its own `stage` field."""
    stage = KINDS[fault.kind].stage
    return stage.value if stage is not None else (fault.stage or "data")


def strikes_a_message(fault: Fault) -> bool:
    """Whether the fault acts after the session opened, on MAIL, RCPT or DATA."""
    return stage_of(fault) in MESSAGE_STAGES


def kind_words(kind: str) -> str:
    """A kind in words ("connection refused")."""
    known = KINDS.get(kind)
    return known.words if known is not None else kind.replace("_", " ")


def fault_label(f: Fault, chance: bool = True) -> str:
    """One fault in words, as the timeline and the report show it: "connection closed at ehlo on 198.51.100.10,
    50% of attempts"."""
    detail = f" ({f.error})" if f.error else (f" at {f.stage}" if f.stage else "")
    odds = f", {f.probability:.0%} of attempts" if chance and f.probability < 1 else ""
    return f"{kind_words(f.kind)}{detail} on {f.target}{odds}"


@dataclass(slots=True)
class ScheduledFault:
    """A fault with its window; `end` moves earlier when an admin clears it."""

    index: int
    fault: Fault
    start: float
    end: float

    def active(self, now: float) -> bool:
        return self.start <= now < self.end


class FaultSchedule:
    """Faults by target; `firing` draws each active fault's per-attempt probability from one seeded stream."""

    def __init__(self, faults: tuple[Fault, ...], rng: random.Random) -> None:
        self.faults = [ScheduledFault(i, f, f.start, f.end if f.end is not None else math.inf)
                       for i, f in enumerate(faults)]
        self._by_target: dict[str, list[ScheduledFault]] = {}
        for sf in self.faults:
            self._by_target.setdefault(sf.fault.target, []).append(sf)
        self._rng = rng

    def active(self, target: str, now: float) -> list[Fault]:
        """Faults on `target` whose window contains `now`, in scenario order."""
        return [sf.fault for sf in self._by_target.get(target, ()) if sf.start <= now < sf.end]

    def firing(self, target: str, now: float) -> list[Fault]:
        """Active faults on `target` that fire for this attempt (probability drawn; 1.0 draws nothing)."""
        out = []
        for sf in self._by_target.get(target, ()):
            if sf.start <= now < sf.end:
                p = sf.fault.probability
                if p >= 1.0 or (p > 0.0 and self._rng.random() < p):
                    out.append(sf.fault)
        return out

    def clear(self, index: int, now: float) -> bool:
        """Ends fault `index` at `now`; False if it was not in force."""
        sf = self.faults[index]
        if sf.end <= now:
            return False
        sf.end = max(now, sf.start)
        return True
