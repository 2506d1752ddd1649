"""Certificates a lab server presents: the scenario's names and validity, moved from instant T onto now.

Real clients check validity against the real clock, so the instant T of the scenario is mapped onto the
moment the lab starts: a certificate that is valid at T is valid now, one that expired at T (or is not yet
valid) is so now by the same margin. Two authorities are made per lab (trustme): the trusted one, whose
certificate the lab writes as the CA file clients are given, and an untrusted one that is in no bundle.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..world.servers import ServerState
from .policy import CertificateChoice

if TYPE_CHECKING:   # trustme is imported when a lab starts, so commands that simulate stay fast
    import trustme

__all__ = ["CertificateSpec", "MISMATCH_NAME", "EXPIRED_AT_LEAST", "certificate_spec", "moved",
           "LabAuthorities"]

#: The only name in a certificate served for `certificate_name_mismatch` (RFC 6761 ".invalid": no host).
MISMATCH_NAME = "certificate-name-mismatch.invalid"
#: The least margin by which a certificate served for `certificate_expired` has expired (clocks drift).
EXPIRED_AT_LEAST = timedelta(minutes=1)
#: Validity of the certificate a server without one in the scenario presents (it needs one for TLS).
_STAND_IN_VALIDITY = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class CertificateSpec:
    """What a certificate to issue holds: names, real validity, and which authority signs it."""

    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    trusted: bool


def moved(offset_s: float, at: float, now: datetime) -> datetime:
    """The real time that stands `offset_s - at` seconds from now: a scenario time mapped from T onto now."""
    return now + timedelta(seconds=offset_s - at)


def certificate_spec(server: ServerState, choice: CertificateChoice, at: float, now: datetime,
                     fault_start: float | None = None) -> CertificateSpec:
    """The certificate `server` presents for `choice` at instant `at`, with `now` standing for T.

    A server without a certificate in the scenario presents one from the untrusted authority (the simulation
    fails a validating connector with "no certificate"; a real TLS server always presents one). For
    `certificate_expired` the certificate expired when the fault began (at least a minute ago).
    """
    cert = server.certificate
    if cert is None:
        spec = CertificateSpec((server.config.hostname,), now - timedelta(days=1), now + _STAND_IN_VALIDITY, False)
    else:
        spec = CertificateSpec(cert.names, moved(cert.not_before, at, now), moved(cert.not_after, at, now),
                               cert.trusted)
    if choice is CertificateChoice.UNTRUSTED:
        return CertificateSpec(spec.names, spec.not_before, spec.not_after, False)
    if choice is CertificateChoice.NAME_MISMATCH:
        return CertificateSpec((MISMATCH_NAME,), spec.not_before, spec.not_after, spec.trusted)
    if choice is CertificateChoice.EXPIRED:
        since = max(timedelta(seconds=at - (fault_start if fault_start is not None else at)), EXPIRED_AT_LEAST)
        not_after = min(spec.not_after, now - since)
        return CertificateSpec(spec.names, min(spec.not_before, not_after - timedelta(days=1)), not_after,
                               spec.trusted)
    return spec


class LabAuthorities:
    """The trusted and the untrusted certificate authority of one lab, and the TLS contexts they sign for."""

    def __init__(self) -> None:
        import trustme

        self.trusted = trustme.CA(organization_name="mfi-sim lab", organization_unit_name="trusted lab CA")
        self.untrusted = trustme.CA(organization_name="mfi-sim lab",
                                    organization_unit_name="untrusted CA, in no bundle")
        self._contexts: dict[CertificateSpec, ssl.SSLContext] = {}

    def write_ca_file(self, path: Path) -> None:
        """The PEM bundle clients are told to trust: the trusted authority only."""
        self.trusted.cert_pem.write_to_path(str(path))

    def issue(self, spec: CertificateSpec) -> trustme.LeafCert:
        ca = self.trusted if spec.trusted else self.untrusted
        return ca.issue_cert(*spec.names, common_name=spec.names[0] if spec.names else None,
                             organization_name="mfi-sim lab", organization_unit_name="lab server",
                             not_before=spec.not_before, not_after=spec.not_after)

    def server_context(self, spec: CertificateSpec | None) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate issued for `spec`; None gives a context with no
        certificate at all, whose every handshake fails (the server breaks the TLS negotiation)."""
        if spec is not None and spec in self._contexts:
            return self._contexts[spec]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if spec is not None:
            self.issue(spec).configure_cert(ctx)
            self._contexts[spec] = ctx
        return ctx
