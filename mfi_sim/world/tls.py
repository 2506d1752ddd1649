"""Certificate checks a connector makes after STARTTLS, by its TLS setting; pure functions of the clock."""
from __future__ import annotations

from ..scenario.schema import Certificate

#: Connector TLS settings that refuse to send in clear text (RFC 3207 STARTTLS must succeed).
TLS_REQUIRED = frozenset({"EncryptionOnly", "CertificateValidation", "DomainValidation"})
#: Connector TLS settings that check the certificate at all.
VALIDATES = frozenset({"CertificateValidation", "DomainValidation"})


def name_matches(pattern: str, name: str) -> bool:
    """Whether a certificate name (possibly "*.example.com") covers `name` (RFC 6125 section 6.4.3)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def certificate_problem(cert: Certificate | None, mode: str, tls_domain: str | None, now: float,
                        forced: str | None = None) -> str | None:
    """Why the certificate fails the connector's check at `now`, or None when it passes (or is not checked).

    `forced` is a fault kind ("certificate_expired", "certificate_name_mismatch", "certificate_untrusted")
    that makes the server present a bad certificate for this attempt.
    """
    if mode not in VALIDATES:
        return None
    if cert is None:
        return "the server presented no certificate"
    if forced == "certificate_untrusted" or not cert.trusted:
        return "the certificate chain does not lead to a trusted root authority"
    if forced == "certificate_expired" or now >= cert.not_after:
        return "the certificate has expired"
    if now < cert.not_before:
        return "the certificate is not valid yet"
    if mode == "DomainValidation":
        wanted = tls_domain or ""
        if forced == "certificate_name_mismatch" or not any(name_matches(n, wanted) for n in cert.names):
            return f"the certificate subject does not match {wanted}"
    return None
