"""Tests for mfi_sim.world.zones: the scenario's zones answering real DNS queries."""
from __future__ import annotations

import random

import dns.message
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from helpers import CONTOSO, FABRIKAM
from mfi_sim.world.dns import ZoneResolver
from mfi_sim.world.zones import DnsFault


@pytest.fixture
def resolver() -> ZoneResolver:
    return ZoneResolver.from_texts([CONTOSO, FABRIKAM])


def answered(response: dns.message.Message | None) -> dns.message.Message:
    """The response, asserting there was one (no timeout)."""
    assert response is not None
    return response


# -- the authoritative side ------------------------------------------------------------------


def test_query_answers_a_record_as_real_message(resolver: ZoneResolver) -> None:
    """A query is answered from the zone text with a real dns.message.Message, NOERROR and the zone TTL."""
    response = resolver.query("smtp.contoso.com", "A")
    assert isinstance(response, dns.message.Message)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.question[0].name.to_text() == "smtp.contoso.com."
    (rrset,) = response.answer
    assert rrset.rdtype == dns.rdatatype.A
    assert rrset.ttl == 300
    assert [rd.address for rd in rrset] == ["198.51.100.10"]
    assert response.authority == []


def test_query_nxdomain_carries_soa(resolver: ZoneResolver) -> None:
    """A missing name gives NXDOMAIN with the zone's SOA in the authority section."""
    response = resolver.query("nope.contoso.com", "A")
    assert response is not None
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    (soa,) = response.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text() == "contoso.com."


def test_query_nodata_carries_soa(resolver: ZoneResolver) -> None:
    """A name without the asked type gives NOERROR, an empty answer and the SOA."""
    response = resolver.query("txtonly.contoso.com", "A")
    assert response is not None
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_query_empty_non_terminal_is_nodata(resolver: ZoneResolver) -> None:
    """A name with no records but names below it exists (RFC 8020): NODATA, not NXDOMAIN."""
    response = resolver.query("deep.contoso.com", "A")
    assert response is not None
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_query_follows_cname_chain(resolver: ZoneResolver) -> None:
    """The answer holds every CNAME of the chain, then the final A RRset."""
    response = resolver.query("alias.contoso.com", "A")
    assert response is not None
    assert [(rr.name.to_text(), rr.rdtype) for rr in response.answer] == [
        ("alias.contoso.com.", dns.rdatatype.CNAME),
        ("relay.contoso.com.", dns.rdatatype.CNAME),
        ("smtp.contoso.com.", dns.rdatatype.A),
    ]


def test_query_cname_loop_is_servfail(resolver: ZoneResolver) -> None:
    """A CNAME loop inside the zones is answered SERVFAIL."""
    response = resolver.query("loop1.contoso.com", "A")
    assert response is not None
    assert response.rcode() == dns.rcode.SERVFAIL


def test_query_outside_every_zone_is_nxdomain_without_soa(resolver: ZoneResolver) -> None:
    """A name no zone holds (really REFUSED) is answered NXDOMAIN with no SOA."""
    response = resolver.query("mail.northwind.example", "A")
    assert response is not None
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.authority == []


@pytest.mark.parametrize(
    ("fault", "rcode"),
    [("nxdomain", dns.rcode.NXDOMAIN), ("servfail", dns.rcode.SERVFAIL), (DnsFault.SERVFAIL, dns.rcode.SERVFAIL)],
)
def test_query_fault_rcodes(resolver: ZoneResolver, fault: str, rcode: dns.rcode.Rcode) -> None:
    """An injected nxdomain or servfail fault replaces the zone's answer with that rcode."""
    response = resolver.query("smtp.contoso.com", "A", fault)
    assert response is not None
    assert response.rcode() == rcode
    assert response.answer == []


def test_query_timeout_fault_gives_no_answer(resolver: ZoneResolver) -> None:
    """A timeout fault means no response at all."""
    assert resolver.query("smtp.contoso.com", "A", "timeout") is None


def test_query_unknown_fault_or_type_is_value_error(resolver: ZoneResolver) -> None:
    """An unknown fault name or record type is a bug in the caller: ValueError."""
    with pytest.raises(ValueError, match="unknown DNS fault"):
        resolver.query("smtp.contoso.com", "A", "flaky")
    with pytest.raises(ValueError, match="unknown DNS record type"):
        resolver.query("smtp.contoso.com", "BOGUS")


def test_query_is_deterministic_and_keeps_zone_order(resolver: ZoneResolver) -> None:
    """Responses do not depend on global random state: ids are a counter, rdata keep zone order."""
    random.seed(1)
    first = [rd.address for rd in answered(resolver.query("mx1.contoso.com", "A")).answer[0]]
    assert first == ["192.0.2.10", "192.0.2.11"]
    for seed in range(20):
        random.seed(seed)
        again = answered(resolver.query("mx1.contoso.com", "A"))
        assert [rd.address for rd in again.answer[0]] == first
    ids = [answered(ZoneResolver.from_texts([CONTOSO]).query("smtp.contoso.com", "A")).id for _ in range(2)]
    assert ids[0] == ids[1]


# -- zone parsing ----------------------------------------------------------------------------


def test_names_lists_every_owner(resolver: ZoneResolver) -> None:
    """names() holds every owner name of every zone, lower case, no trailing dot."""
    names = resolver.names()
    assert {"contoso.com", "mx1.contoso.com", "a.b.deep.contoso.com", "fabrikam.com", "mail.fabrikam.com"} <= names
    assert all(not n.endswith(".") and n == n.lower() for n in names)


def test_bad_zone_text_names_line_and_problem() -> None:
    """A bad record gives a one-line ValueError with the zone number, line and dnspython's message."""
    text = "$ORIGIN contoso.com.\n@ 300 IN SOA ns1 h 1 2 3 4 60\nmail 300 IN FOO 192.0.2.1\n"
    with pytest.raises(ValueError) as info:
        ZoneResolver.from_texts([CONTOSO, text])
    message = str(info.value)
    assert "zone text 2:3" in message
    assert "FOO" in message
    assert "\n" not in message


def test_zone_text_without_origin_is_value_error() -> None:
    """Zone text with no $ORIGIN is rejected with a message that says so."""
    with pytest.raises(ValueError, match=r"zone text 1: no \$ORIGIN"):
        ZoneResolver.from_texts(["@ 300 IN SOA ns1.x. h.x. 1 2 3 4 60\n"])


def test_zone_without_soa_is_value_error() -> None:
    """A zone without an SOA at its origin is rejected: negative answers need it."""
    with pytest.raises(ValueError, match="no SOA"):
        ZoneResolver.from_texts(["$ORIGIN contoso.com.\nmail 300 IN A 192.0.2.1\n"])


def test_duplicate_zone_is_value_error() -> None:
    """The same origin given twice is rejected."""
    with pytest.raises(ValueError, match="twice"):
        ZoneResolver.from_texts([CONTOSO, CONTOSO])


def test_relativized_zone_objects_are_accepted_and_not_mutated() -> None:
    """Zones built by dnspython with relativize=True work, and set_record leaves the caller's zone alone."""
    zone = dns.zone.from_text(CONTOSO)
    resolver = ZoneResolver([zone])
    assert resolver.resolve_mx("contoso.com", 0.0).exchanges[0] == (10, "mx0b.contoso.com")
    resolver.set_record("smtp.contoso.com", "A", "198.51.100.99", 300)
    unchanged = zone.get_rdataset("smtp", "A")
    assert unchanged is not None and [rd.address for rd in unchanged] == ["198.51.100.10"]


