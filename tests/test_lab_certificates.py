"""Lab certificates: the scenario's names and validity moved from instant T onto the real clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509

from mfi_sim.lab.certificates import MISMATCH_NAME, CertificateSpec, LabAuthorities, certificate_spec, moved
from mfi_sim.lab.policy import CertificateChoice
from mfi_sim.scenario.schema import Certificate, Server
from mfi_sim.world.servers import ServerState

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
HOUR = 3600.0


def _server(not_before: float, not_after: float, trusted: bool = True) -> ServerState:
    cert = Certificate(("mail.contoso.com", "*.contoso.com"), not_before, not_after, trusted)
    return ServerState(Server("198.51.100.10", 25, "mail.contoso.com", True, cert, 20, 0.2), cert)


def test_valid_at_t_is_valid_now() -> None:
    """A certificate valid from 1h before T until 5h after is valid from 1h ago until 5h from now."""
    spec = certificate_spec(_server(2 * HOUR, 8 * HOUR), CertificateChoice.NORMAL, 3 * HOUR, NOW)
    assert spec == CertificateSpec(("mail.contoso.com", "*.contoso.com"), NOW - timedelta(hours=1),
                                   NOW + timedelta(hours=5), True)


def test_expired_and_not_yet_valid_keep_their_margin() -> None:
    """Expired 2h before T: expired 2h ago. Valid only 30 min after T: valid only in 30 min."""
    expired = certificate_spec(_server(-HOUR * 1000, HOUR), CertificateChoice.NORMAL, 3 * HOUR, NOW)
    assert expired.not_after == NOW - timedelta(hours=2)
    early = certificate_spec(_server(3.5 * HOUR, 100 * HOUR), CertificateChoice.NORMAL, 3 * HOUR, NOW)
    assert early.not_before == NOW + timedelta(minutes=30)
    assert moved(0.0, 0.0, NOW) == NOW


def test_fault_certificates() -> None:
    """Faults: expired since the fault began, untrusted authority, a name that matches nothing."""
    server = _server(-HOUR * 1000, HOUR * 1000)
    expired = certificate_spec(server, CertificateChoice.EXPIRED, 3 * HOUR, NOW, fault_start=HOUR)
    assert expired.not_after == NOW - timedelta(hours=2) and expired.not_before < expired.not_after
    just = certificate_spec(server, CertificateChoice.EXPIRED, 3 * HOUR, NOW, fault_start=3 * HOUR)
    assert just.not_after == NOW - timedelta(minutes=1)
    assert not certificate_spec(server, CertificateChoice.UNTRUSTED, 0.0, NOW).trusted
    assert certificate_spec(server, CertificateChoice.NAME_MISMATCH, 0.0, NOW).names == (MISMATCH_NAME,)
    assert not certificate_spec(_server(0, HOUR, trusted=False), CertificateChoice.NORMAL, 0.0, NOW).trusted


@pytest.fixture(scope="module")
def authorities() -> LabAuthorities:
    return LabAuthorities()


@pytest.mark.parametrize("trusted", [True, False])
def test_issued_certificate_carries_the_spec(authorities: LabAuthorities, trusted: bool) -> None:
    """The issued certificate has the names as SANs, the validity to the second, and the right issuer."""
    spec = CertificateSpec(("mail.contoso.com", "*.contoso.com"), NOW - timedelta(days=2), NOW + timedelta(hours=3),
                           trusted)
    leaf = authorities.issue(spec)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.contoso.com", "*.contoso.com"]
    assert cert.not_valid_before_utc == spec.not_before and cert.not_valid_after_utc == spec.not_after
    ca = authorities.trusted if trusted else authorities.untrusted
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    assert cert.issuer == ca_cert.subject
