"""The lab's server policy: each fault kind in force at T becomes the right endpoint or per-connection plan."""
from __future__ import annotations

import random

import pytest

from mfi_sim.lab.policy import (CLOSE, SERVICE_UNAVAILABLE, CertificateChoice, Endpoint, SessionPlan,
                                endpoint_kind, plan_session)
from mfi_sim.scenario.schema import Certificate, Fault, Server
from mfi_sim.world.servers import ServerState


def _server(*, starttls: bool = True, replies: tuple[tuple[str, str], ...] = ()) -> ServerState:
    cert = Certificate(("mail.contoso.com",), -86400.0, 86400.0, True)
    return ServerState(Server("198.51.100.10", 25, "mail.contoso.com", starttls, cert, 20, 0.2, replies), cert)


def _fault(kind: str, probability: float = 1.0, **fields: str) -> Fault:
    return Fault(kind, "198.51.100.10", 0.0, None, probability, **fields)  # type: ignore[arg-type]


def test_connect_level_faults_shape_the_endpoint() -> None:
    """connection_refused leaves nothing listening, connect_timeout a silent listener, others a server."""
    assert endpoint_kind([_fault("connection_refused")]) is Endpoint.REFUSED
    assert endpoint_kind([_fault("connect_timeout")]) is Endpoint.SILENT
    assert endpoint_kind([_fault("connect_timeout"), _fault("connection_refused")]) is Endpoint.SILENT
    assert endpoint_kind([_fault("tls_not_offered")]) is Endpoint.LISTENING
    assert endpoint_kind([_fault("connection_refused", 0.0)]) is Endpoint.LISTENING


@pytest.mark.parametrize(("fault", "expected"), [
    (_fault("service_unavailable"), SessionPlan(banner=SERVICE_UNAVAILABLE)),
    (_fault("connection_closed", stage="banner"), SessionPlan(banner=CLOSE)),
    (_fault("connection_closed", stage="ehlo"), SessionPlan(ehlo=CLOSE)),
    (_fault("connection_closed", stage="data"), SessionPlan(data=CLOSE)),
    (_fault("smtp_reply", stage="banner", reply="554 5.3.2 No service"), SessionPlan(banner="554 5.3.2 No service")),
    (_fault("smtp_reply", stage="ehlo", reply="550 5.7.1 Go away"), SessionPlan(ehlo="550 5.7.1 Go away")),
    (_fault("smtp_reply", stage="starttls", reply="454 4.7.0 TLS not available"),
     SessionPlan(starttls_reply="454 4.7.0 TLS not available")),
    (_fault("smtp_reply", stage="mail", reply="550 5.7.1 Blocked"), SessionPlan(mail="550 5.7.1 Blocked")),
    (_fault("smtp_reply", stage="rcpt", reply="451 4.7.500 Busy"), SessionPlan(rcpt="451 4.7.500 Busy")),
    (_fault("smtp_reply", stage="data", reply="554 5.6.0 Bad"), SessionPlan(data="554 5.6.0 Bad")),
    (_fault("tls_not_offered"), SessionPlan(starttls=False)),
    (_fault("tls_handshake_failure"), SessionPlan(certificate=CertificateChoice.BROKEN)),
    (_fault("certificate_expired"), SessionPlan(certificate=CertificateChoice.EXPIRED)),
    (_fault("certificate_name_mismatch"), SessionPlan(certificate=CertificateChoice.NAME_MISMATCH)),
    (_fault("certificate_untrusted"), SessionPlan(certificate=CertificateChoice.UNTRUSTED)),
])
def test_each_session_fault_becomes_its_plan(fault: Fault, expected: SessionPlan) -> None:
    """Every session-level fault kind changes exactly the stage it names."""
    assert plan_session(_server(), [fault], random.Random(1)) == expected


def test_precedence_follows_the_simulation() -> None:
    """A cut at the banner beats a 421, which beats a banner reply; untrusted beats expired beats mismatch."""
    rng = random.Random(1)
    both = [_fault("service_unavailable"), _fault("connection_closed", stage="banner")]
    assert plan_session(_server(), both, rng).banner == CLOSE
    reply = [_fault("smtp_reply", stage="banner", reply="554 no"), _fault("service_unavailable")]
    assert plan_session(_server(), reply, rng).banner == SERVICE_UNAVAILABLE
    certs = [_fault("certificate_name_mismatch"), _fault("certificate_expired"), _fault("certificate_untrusted")]
    assert plan_session(_server(), certs, rng).certificate is CertificateChoice.UNTRUSTED


def test_configured_replies_and_no_starttls() -> None:
    """A server's own replies apply at every connection; a server without STARTTLS never offers it."""
    plan = plan_session(_server(starttls=False, replies=(("rcpt", "550 5.1.1 Unknown"),)), [], random.Random(1))
    assert plan == SessionPlan(starttls=False, rcpt="550 5.1.1 Unknown")


def test_probability_is_drawn_per_connection() -> None:
    """A fault with probability 0.5 fires on some connections and not others, reproducibly from the seed."""
    fault = [_fault("service_unavailable", 0.5)]
    draws = [plan_session(_server(), fault, rng).banner for rng in [random.Random(7)] for _ in range(40)]
    fired = draws.count(SERVICE_UNAVAILABLE)
    assert 5 < fired < 35
    again = [plan_session(_server(), fault, rng).banner for rng in [random.Random(7)] for _ in range(40)]
    assert again == draws
