"""The lab's DNS server, asked with dnspython over UDP and TCP on loopback: the zones at T, moved to loopback,
the service's cached answers, and each DNS fault as NXDOMAIN, SERVFAIL or silence."""
from __future__ import annotations

from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from lab_support import HOST, lab_scenario, running_lab
from mfi_sim.lab.controller import LabMap
from mfi_sim.scenario import load_scenario

TIMEOUT = 2.0


def _ask(lab: LabMap, name: str, rdtype: str, tcp: bool = False, timeout: float = TIMEOUT) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, lab.dns[0], timeout=timeout, port=lab.dns[1])


@pytest.fixture(scope="module")
def healthy() -> Iterator[LabMap]:
    with running_lab(lab_scenario()) as lab:
        yield lab


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_addresses_are_moved_to_loopback(healthy: LabMap, tcp: bool) -> None:
    """mail.contoso.com's A record points at the lab's stand-in for 198.51.100.10, over UDP and TCP."""
    answer = _ask(healthy, HOST, "A", tcp)
    assert answer.rcode() == dns.rcode.NOERROR
    addresses = [rd.address for rrset in answer.answer for rd in rrset]
    assert addresses == [healthy.place("198.51.100.10").address]
    assert answer.answer[0].ttl <= 300


def test_mx_and_negative_answers(healthy: LabMap) -> None:
    """MX comes from the zone; a name that does not exist is NXDOMAIN with the zone's SOA; AAAA is empty."""
    mx = _ask(healthy, "contoso.com", "MX")
    assert [rd.exchange.to_text() for rd in mx.answer[0]] == ["mail.contoso.com."]
    missing = _ask(healthy, "nothing.contoso.com", "A", tcp=True)
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA
    v6 = _ask(healthy, HOST, "AAAA")
    assert v6.rcode() == dns.rcode.NOERROR and not v6.answer


@pytest.mark.parametrize(("error", "rcode"), [("nxdomain", dns.rcode.NXDOMAIN), ("servfail", dns.rcode.SERVFAIL)])
def test_dns_fault_answers(error: str, rcode: dns.rcode.Rcode) -> None:
    """A dns_failure in force at T answers the name with NXDOMAIN or SERVFAIL, over both transports."""
    scenario = lab_scenario(f'kind = "dns_failure"\nerror = "{error}"', target=HOST)
    with running_lab(scenario) as lab:
        assert _ask(lab, HOST, "A").rcode() == rcode
        assert _ask(lab, HOST, "A", tcp=True).rcode() == rcode
        assert _ask(lab, "contoso.com", "MX").rcode() == dns.rcode.NOERROR   # other names are untouched


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dns_timeout_is_silence(tcp: bool) -> None:
    """A dns_failure with error timeout leaves the query unanswered: the client times out."""
    scenario = lab_scenario('kind = "dns_failure"\nerror = "timeout"', target=HOST)
    with running_lab(scenario) as lab:
        with pytest.raises(dns.exception.Timeout):
            _ask(lab, HOST, "A", tcp, timeout=0.5)


def test_stale_cache_is_served_as_the_service_sees_it() -> None:
    """dns-stale-cache at 2h30m: the MX moved to mx2 at 2h, but the service's cache still holds mx1 (TTL 4h),
    whose address is gone (NXDOMAIN); a fresh name (mx2) is answered from the zones."""
    with running_lab(load_scenario("dns-stale-cache"), at=9000.0) as lab:
        mx = _ask(lab, "fabrikam.com", "MX")
        assert [rd.exchange.to_text() for rd in mx.answer[0]] == ["mx1.fabrikam.com."]
        assert mx.answer[0].ttl < 14400
        assert _ask(lab, "mx1.fabrikam.com", "A").rcode() == dns.rcode.NXDOMAIN
        mx2 = _ask(lab, "mx2.fabrikam.com", "A", tcp=True)
        assert [rd.address for rd in mx2.answer[0]] == [lab.place("203.0.113.20").address]
