"""Tests for mfi_sim.world.dns: the caching resolver on the simulated clock, over the scenario's zones."""
from __future__ import annotations

import dns.message
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import CONTOSO, FABRIKAM
from mfi_sim.world.dns import (
    DNS_TIMEOUT,
    LOOKUP_TIME,
    NODATA,
    NOERROR,
    NXDOMAIN,
    SERVFAIL,
    TIMEOUT,
    CachedAnswer,
    Lookup,
    MxLookup,
    ZoneResolver,
)

@pytest.fixture
def resolver() -> ZoneResolver:
    return ZoneResolver.from_texts([CONTOSO, FABRIKAM])


class RecordingFaults:
    """A fault_for that injects the given fault per name and records every name it is asked about."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        return self.table.get(name)


def answered(response: dns.message.Message | None) -> dns.message.Message:
    """The response, asserting there was one (no timeout)."""
    assert response is not None
    return response


# -- address lookups and the cache -----------------------------------------------------------


def test_ttl_honoured_then_requeried(resolver: ZoneResolver) -> None:
    """A second lookup before the TTL is from cache with elapsed 0; after the TTL it queries again."""
    first = resolver.resolve_address("smtp.contoso.com", 0.0)
    assert first == Lookup("smtp.contoso.com", NOERROR, ("198.51.100.10",), LOOKUP_TIME, False)
    assert first.ok
    entry = resolver.cache_entry("smtp.contoso.com", "A")
    assert entry is not None
    assert entry[0] == CachedAnswer(NOERROR, ("198.51.100.10",))
    assert entry[1] == pytest.approx(LOOKUP_TIME + 300)

    cached = resolver.resolve_address("smtp.contoso.com", 299.0)
    assert cached.from_cache and cached.elapsed == 0.0 and cached.addresses == first.addresses

    again = resolver.resolve_address("smtp.contoso.com", 301.0)
    assert not again.from_cache and again.elapsed == LOOKUP_TIME


def test_names_are_case_insensitive_and_dot_tolerant(resolver: ZoneResolver) -> None:
    """SMTP.Contoso.COM. and smtp.contoso.com are the same name and share one cache entry."""
    first = resolver.resolve_address("SMTP.Contoso.COM.", 0.0)
    assert first.name == "smtp.contoso.com" and first.ok
    assert resolver.resolve_address("smtp.contoso.com", 1.0).from_cache


def test_addresses_in_zone_order(resolver: ZoneResolver) -> None:
    """All A records of a name are returned in zone order."""
    assert resolver.resolve_address("mx1.contoso.com", 0.0).addresses == ("192.0.2.10", "192.0.2.11")


def test_stale_cache_after_set_record(resolver: ZoneResolver) -> None:
    """After set_record the cached old address is served until its TTL runs out, then the new one."""
    assert resolver.resolve_address("smtp.contoso.com", 0.0).addresses == ("198.51.100.10",)
    resolver.set_record("smtp.contoso.com.", "A", "198.51.100.20", 60)

    zone_answer = resolver.query("smtp.contoso.com", "A")
    assert zone_answer is not None and zone_answer.answer[0][0].address == "198.51.100.20"

    stale = resolver.resolve_address("smtp.contoso.com", 200.0)
    assert stale.from_cache and stale.addresses == ("198.51.100.10",)

    fresh = resolver.resolve_address("smtp.contoso.com", 300.5)
    assert not fresh.from_cache and fresh.addresses == ("198.51.100.20",)
    entry = resolver.cache_entry("smtp.contoso.com", "A")
    assert entry is not None and entry[1] == pytest.approx(300.5 + LOOKUP_TIME + 60)


def test_set_record_creates_name_and_replaces_mx(resolver: ZoneResolver) -> None:
    """set_record creates a missing name and replaces a whole rdataset; relative names use the zone origin."""
    resolver.set_record("mail3.contoso.com", "A", "192.0.2.30", 300)
    resolver.set_record("contoso.com", "MX", "5 mail3", 300)
    assert "mail3.contoso.com" in resolver.names()
    assert resolver.resolve_mx("contoso.com", 0.0).exchanges == ((5, "mail3.contoso.com"),)


def test_set_record_rejects_bad_input(resolver: ZoneResolver) -> None:
    """set_record outside every zone, with a bad value or a bad TTL raises ValueError."""
    with pytest.raises(ValueError, match="outside every zone"):
        resolver.set_record("mail.northwind.example", "A", "192.0.2.1", 300)
    with pytest.raises(ValueError, match="bad A value"):
        resolver.set_record("smtp.contoso.com", "A", "not-an-ip", 300)
    with pytest.raises(ValueError, match="bad TTL"):
        resolver.set_record("smtp.contoso.com", "A", "192.0.2.1", -1)


@pytest.mark.parametrize(
    ("fault", "rcode", "elapsed"),
    [("nxdomain", NXDOMAIN, LOOKUP_TIME), ("servfail", SERVFAIL, LOOKUP_TIME), ("timeout", TIMEOUT, DNS_TIMEOUT)],
)
def test_cached_answer_survives_fault_until_expiry(resolver: ZoneResolver, fault: str, rcode: str,
                                                   elapsed: float) -> None:
    """During a fault a cached answer keeps working (fault not consulted); after expiry the fault shows."""
    resolver.resolve_address("smtp.contoso.com", 0.0)
    fault_for = RecordingFaults({"smtp.contoso.com": fault})

    during = resolver.resolve_address("smtp.contoso.com", 100.0, fault_for)
    assert during.ok and during.from_cache
    assert fault_for.asked == []

    after = resolver.resolve_address("smtp.contoso.com", 400.0, fault_for)
    assert after.rcode == rcode
    assert after.addresses == ()
    assert not after.ok and not after.from_cache
    assert after.elapsed == elapsed
    assert fault_for.asked == ["smtp.contoso.com"]


def test_nxdomain_negatively_cached_for_soa_minimum(resolver: ZoneResolver) -> None:
    """NXDOMAIN is cached for min(SOA TTL, SOA MINIMUM) = MINIMUM 300 s in contoso.com."""
    first = resolver.resolve_address("nope.contoso.com", 0.0)
    assert first.rcode == NXDOMAIN and first.elapsed == LOOKUP_TIME
    entry = resolver.cache_entry("nope.contoso.com", "A")
    assert entry is not None and entry[1] == pytest.approx(LOOKUP_TIME + 300)

    resolver.set_record("nope.contoso.com", "A", "192.0.2.77", 300)
    cached = resolver.resolve_address("nope.contoso.com", 299.0)
    assert cached.rcode == NXDOMAIN and cached.from_cache and cached.elapsed == 0.0
    assert resolver.resolve_address("nope.contoso.com", 301.0).addresses == ("192.0.2.77",)


def test_negative_ttl_is_soa_ttl_when_smaller(resolver: ZoneResolver) -> None:
    """In fabrikam.com the SOA TTL (120) is below MINIMUM (900), so NXDOMAIN is cached for 120 s."""
    resolver.resolve_address("nope.fabrikam.com", 0.0)
    entry = resolver.cache_entry("nope.fabrikam.com", "A")
    assert entry is not None and entry[1] == pytest.approx(LOOKUP_TIME + 120)


def test_nodata_is_negatively_cached(resolver: ZoneResolver) -> None:
    """A name without an A record gives NODATA, cached like NXDOMAIN."""
    lookup = resolver.resolve_address("txtonly.contoso.com", 0.0)
    assert lookup.rcode == NODATA and not lookup.ok
    assert resolver.resolve_address("txtonly.contoso.com", 10.0).from_cache


def test_injected_nxdomain_is_cached_like_a_real_one(resolver: ZoneResolver) -> None:
    """An injected NXDOMAIN carries the zone SOA, so it outlives the fault for the negative TTL."""
    resolver.resolve_address("smtp.contoso.com", 0.0, RecordingFaults({"smtp.contoso.com": "nxdomain"}))
    later = resolver.resolve_address("smtp.contoso.com", 100.0)
    assert later.rcode == NXDOMAIN and later.from_cache
    assert resolver.resolve_address("smtp.contoso.com", 301.0).ok


@pytest.mark.parametrize("fault", ["servfail", "timeout"])
def test_servfail_and_timeout_not_cached(resolver: ZoneResolver, fault: str) -> None:
    """SERVFAIL and timeouts leave no cache entry: the next lookup queries again and succeeds."""
    failed = resolver.resolve_address("smtp.contoso.com", 0.0, RecordingFaults({"smtp.contoso.com": fault}))
    assert not failed.ok
    assert resolver.cache_entry("smtp.contoso.com", "A") is None
    retry = resolver.resolve_address("smtp.contoso.com", 1.0)
    assert retry.ok and not retry.from_cache


def test_cname_chase_caches_for_shortest_ttl(resolver: ZoneResolver) -> None:
    """A CNAME chain resolves to the final addresses and is cached for the minimum TTL along it (30 s)."""
    lookup = resolver.resolve_address("alias.contoso.com", 0.0)
    assert lookup.name == "alias.contoso.com"
    assert lookup.addresses == ("198.51.100.10",)
    assert lookup.elapsed == LOOKUP_TIME  # one query: the server follows the chain
    entry = resolver.cache_entry("alias.contoso.com", "A")
    assert entry is not None and entry[1] == pytest.approx(LOOKUP_TIME + 30)


def test_cname_loop_resolves_to_servfail(resolver: ZoneResolver) -> None:
    """A CNAME loop is a SERVFAIL lookup, not an exception, and is not cached."""
    lookup = resolver.resolve_address("loop1.contoso.com", 0.0)
    assert lookup.rcode == SERVFAIL
    assert resolver.cache_entry("loop1.contoso.com", "A") is None


@pytest.mark.parametrize(("literal", "address"), [("192.0.2.7", "192.0.2.7"), ("[192.0.2.7]", "192.0.2.7"),
                                                  ("2001:db8::1", "2001:db8::1")])
def test_ip_literal_needs_no_query(resolver: ZoneResolver, literal: str, address: str) -> None:
    """An IP literal resolves to itself at once, without a query or a fault check."""
    fault_for = RecordingFaults({})
    lookup = resolver.resolve_address(literal, 0.0, fault_for)
    assert lookup == Lookup(address, NOERROR, (address,), 0.0, False)
    assert fault_for.asked == []


def test_name_outside_zones_is_nxdomain_not_cached(resolver: ZoneResolver) -> None:
    """A name outside every zone resolves NXDOMAIN; with no SOA it is not negatively cached."""
    lookup = resolver.resolve_address("mail.northwind.example", 0.0)
    assert lookup.rcode == NXDOMAIN and lookup.elapsed == LOOKUP_TIME
    assert resolver.cache_entry("mail.northwind.example", "A") is None


def test_bad_name_is_value_error(resolver: ZoneResolver) -> None:
    """An empty or malformed name is a caller bug: ValueError."""
    with pytest.raises(ValueError):
        resolver.resolve_address("", 0.0)
    with pytest.raises(ValueError, match="bad DNS name"):
        resolver.resolve_address("a..contoso.com", 0.0)


# -- MX --------------------------------------------------------------------------------------


def test_mx_sorted_by_preference_then_host(resolver: ZoneResolver) -> None:
    """Exchanges come sorted by preference, ties broken by host name."""
    mx = resolver.resolve_mx("Contoso.com.", 0.0)
    assert mx == MxLookup("contoso.com", NOERROR,
                          ((10, "mx0b.contoso.com"), (10, "mx1.contoso.com"), (20, "mx2.contoso.com")),
                          LOOKUP_TIME, False)
    assert mx.ok and not mx.implicit
    cached = resolver.resolve_mx("contoso.com", 100.0)
    assert cached.from_cache and cached.elapsed == 0.0 and cached.exchanges == mx.exchanges


def test_implicit_mx_when_domain_has_address_only(resolver: ZoneResolver) -> None:
    """A domain with an A record but no MX gets the implicit MX (0, domain) (RFC 5321 section 5.1)."""
    mx = resolver.resolve_mx("fabrikam.com", 0.0)
    assert mx.rcode == NODATA
    assert mx.exchanges == ((0, "fabrikam.com"),)
    assert mx.implicit
    assert mx.elapsed == pytest.approx(2 * LOOKUP_TIME)  # the MX query and the A query
    again = resolver.resolve_mx("fabrikam.com", 50.0)
    assert again.from_cache and again.elapsed == 0.0 and again.exchanges == mx.exchanges


def test_no_mx_and_no_address_gives_no_exchanges(resolver: ZoneResolver) -> None:
    """A domain with neither MX nor A has no exchanges at all."""
    mx = resolver.resolve_mx("txtonly.contoso.com", 0.0)
    assert mx.rcode == NODATA and mx.exchanges == () and not mx.ok


def test_null_mx_gives_no_exchanges(resolver: ZoneResolver) -> None:
    """A null MX ("0 .", RFC 7505) is NOERROR with no exchanges."""
    mx = resolver.resolve_mx("nomail.fabrikam.com", 0.0)
    assert mx.rcode == NOERROR and mx.exchanges == ()


def test_mx_fault_after_expiry(resolver: ZoneResolver) -> None:
    """A cached MX answer survives a SERVFAIL fault until its TTL (3600 s) runs out."""
    resolver.resolve_mx("contoso.com", 0.0)
    fault_for = RecordingFaults({"contoso.com": "servfail"})
    assert resolver.resolve_mx("contoso.com", 3000.0, fault_for).ok
    failed = resolver.resolve_mx("contoso.com", 3601.0, fault_for)
    assert failed.rcode == SERVFAIL and failed.exchanges == ()


# -- routes ----------------------------------------------------------------------------------


def test_route_falls_through_to_second_mx(resolver: ZoneResolver) -> None:
    """First MX host NXDOMAIN, second resolves: endpoints come from the second, failures list the first."""
    route = resolver.resolve_route(["gone.fabrikam.com"], use_mx=True, now=0.0)
    assert route.endpoints == (("mail.fabrikam.com", "203.0.113.25"),)
    (failure,) = route.failures
    assert isinstance(failure, Lookup)
    assert failure.name == "nowhere.fabrikam.com" and failure.rcode == NXDOMAIN
    assert route.elapsed == pytest.approx(3 * LOOKUP_TIME)  # MX, nowhere A, mail A
    assert route.ok


def test_route_mx_in_preference_order(resolver: ZoneResolver) -> None:
    """With MX, endpoints follow exchange preference, each host's addresses in zone order."""
    route = resolver.resolve_route(["contoso.com"], use_mx=True, now=0.0)
    assert route.endpoints == (
        ("mx0b.contoso.com", "192.0.2.9"),
        ("mx1.contoso.com", "192.0.2.10"),
        ("mx1.contoso.com", "192.0.2.11"),
        ("mx2.contoso.com", "192.0.2.20"),
    )
    assert route.failures == ()


def test_route_implicit_mx_reuses_address_lookup(resolver: ZoneResolver) -> None:
    """An implicit MX route costs the MX and one A query, not a second A query."""
    route = resolver.resolve_route(["fabrikam.com"], use_mx=True, now=0.0)
    assert route.endpoints == (("fabrikam.com", "203.0.113.5"),)
    assert route.elapsed == pytest.approx(2 * LOOKUP_TIME)


def test_route_domain_without_mail_records_lists_both_failures(resolver: ZoneResolver) -> None:
    """No MX and no A: failures hold the NODATA MX lookup, then the failed address lookup."""
    route = resolver.resolve_route(["txtonly.contoso.com"], use_mx=True, now=0.0)
    assert route.endpoints == ()
    assert [(type(f).__name__, f.rcode) for f in route.failures] == [("MxLookup", NODATA), ("Lookup", NODATA)]
    assert not route.ok


def test_route_smart_hosts_in_given_order(resolver: ZoneResolver) -> None:
    """Smart hosts keep the given order; a failing host is skipped and recorded; IP literals pass as is."""
    fault_for = RecordingFaults({"mx2.contoso.com": "timeout"})
    route = resolver.resolve_route(["mx2.contoso.com", "smtp.contoso.com", "192.0.2.200"], use_mx=False,
                                   now=0.0, fault_for=fault_for)
    assert route.endpoints == (("smtp.contoso.com", "198.51.100.10"), ("192.0.2.200", "192.0.2.200"))
    assert [(f.rcode, f.elapsed) for f in route.failures] == [(TIMEOUT, DNS_TIMEOUT)]
    assert route.elapsed == pytest.approx(DNS_TIMEOUT + LOOKUP_TIME)
    entry = resolver.cache_entry("smtp.contoso.com", "A")
    assert entry is not None and entry[1] == pytest.approx(DNS_TIMEOUT + LOOKUP_TIME + 300)  # clock advanced


def test_route_all_cached_costs_nothing(resolver: ZoneResolver) -> None:
    """A route whose every piece is cached takes no simulated time."""
    resolver.resolve_route(["contoso.com"], use_mx=True, now=0.0)
    assert resolver.resolve_route(["contoso.com"], use_mx=True, now=30.0).elapsed == 0.0


@given(st.lists(st.floats(min_value=0.0, max_value=2000.0, allow_nan=False), min_size=1, max_size=30))
def test_cache_hit_exactly_while_fresh(times: list[float]) -> None:
    """Property: a lookup is from cache exactly when it falls before the last query's arrival plus the TTL."""
    resolver = ZoneResolver.from_texts([CONTOSO])
    expires_at = None
    for now in sorted(times):
        lookup = resolver.resolve_address("smtp.contoso.com", now)
        assert lookup.ok
        if expires_at is not None and now < expires_at:
            assert lookup.from_cache and lookup.elapsed == 0.0
        else:
            assert not lookup.from_cache and lookup.elapsed == LOOKUP_TIME
            expires_at = now + LOOKUP_TIME + 300
