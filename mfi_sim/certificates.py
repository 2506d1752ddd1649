"""The certificate check a connector makes after STARTTLS, by its TLS setting: a pure function of the
certificate's facts and the clock, used alike for simulated certificates and real ones from a handshake.

TLS settings are the connector's (SPEC 1.3): `None` (opportunistic), `EncryptionOnly`, `CertificateValidation`
(a trusted, currently valid chain), `DomainValidation` (that, plus a name matching `tls_domain`).
"""
from __future__ import annotations

from typing import Protocol

__all__ = ["TLS_REQUIRED", "VALIDATES", "CertificateFacts", "name_matches", "certificate_problem",
           "NO_CERTIFICATE", "UNTRUSTED", "EXPIRED", "NOT_YET_VALID", "name_mismatch"]

#: Connector TLS settings that refuse to send in clear text (RFC 3207 STARTTLS must succeed).
TLS_REQUIRED = frozenset({"EncryptionOnly", "CertificateValidation", "DomainValidation"})
#: Connector TLS settings that check the certificate at all.
VALIDATES = frozenset({"CertificateValidation", "DomainValidation"})

NO_CERTIFICATE = "the server presented no certificate"
UNTRUSTED = "the certificate chain does not lead to a trusted root authority"
EXPIRED = "the certificate has expired"
NOT_YET_VALID = "the certificate is not valid yet"


def name_mismatch(wanted: str) -> str:
    """The problem text for a certificate that does not cover `wanted`."""
    return f"the certificate subject does not match {wanted}"


class CertificateFacts(Protocol):
    """What the check reads from a certificate: its names, validity window (seconds, in the caller's
    timebase) and whether its chain leads to a trusted root."""

    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def not_before(self) -> float: ...
    @property
    def not_after(self) -> float: ...
    @property
    def trusted(self) -> bool: ...


def name_matches(pattern: str, name: str) -> bool:
    """Whether a certificate name (possibly "*.example.com") covers `name` (RFC 6125 section 6.4.3)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def certificate_problem(cert: CertificateFacts | None, mode: str, tls_domain: str | None,
                        now: float) -> str | None:
    """Why the certificate fails the connector's check at `now`, or None when it passes (or is not checked)."""
    if mode not in VALIDATES:
        return None
    if cert is None:
        return NO_CERTIFICATE
    if not cert.trusted:
        return UNTRUSTED
    if now >= cert.not_after:
        return EXPIRED
    if now < cert.not_before:
        return NOT_YET_VALID
    if mode == "DomainValidation":
        wanted = tls_domain or ""
        if not any(name_matches(n, wanted) for n in cert.names):
            return name_mismatch(wanted)
    return None
