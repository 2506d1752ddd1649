"""Simulated DNS: scenario zones answered by a caching resolver that runs on the simulated clock.

The authoritative data are real dnspython zones parsed from the scenario's zone texts. A query is a
real ``dns.message`` query answered from those zones and round-tripped through wire format, so
what the resolver reads is exactly what a stub would read from a recursive server.

The resolver keeps one plain dict cache keyed ``(name, rdtype)``. Positive answers live for the
smallest TTL along the CNAME chain; NXDOMAIN and NODATA answers live for ``min(SOA TTL, SOA
MINIMUM)`` (RFC 2308 section 5); SERVFAIL and timeouts are not cached. A cached answer is served
without consulting the fault schedule: it keeps working until its TTL runs out, and an admin's
``set_record`` is only seen once the old answer has expired.

Simulated failures are values (``Lookup.rcode``), never exceptions; ``ValueError`` is raised only
for bad input (zone text, names, record types, fault names). Time is whatever ``now`` the caller
passes; nothing here reads the wall clock or draws random numbers (query ids come from a counter
and answers are rendered without dnspython's RRset shuffle).

Simplifications, on purpose: zones have no delegation (an NS record below an origin is plain data)
and no wildcard synthesis; a name outside every zone, which a real authoritative server would
REFUSE, is answered NXDOMAIN with no SOA, because in the simulated world nothing else exists; such
an answer is therefore not negatively cached (RFC 2308 section 5).
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple, TypeAlias

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

__all__ = [
    "DNS_TIMEOUT",
    "LOOKUP_TIME",
    "MAX_CNAME_CHAIN",
    "NODATA",
    "NOERROR",
    "NXDOMAIN",
    "SERVFAIL",
    "TIMEOUT",
    "CachedAnswer",
    "DnsFault",
    "FaultFor",
    "Lookup",
    "MxLookup",
    "Route",
    "ZoneResolver",
    "no_fault",
]

LOOKUP_TIME: float = 0.02
"""Simulated seconds an uncached query takes."""

DNS_TIMEOUT: float = 15.0
"""Simulated seconds spent before a query is declared timed out."""

MAX_CNAME_CHAIN: Final = 8
"""CNAMEs followed before the answer is declared a loop (SERVFAIL); RFC 1034 section 3.6.2."""

# Result codes of a lookup: the DNS rcodes we use, plus two pseudo-codes.
NOERROR: Final = "NOERROR"
NXDOMAIN: Final = "NXDOMAIN"
SERVFAIL: Final = "SERVFAIL"
TIMEOUT: Final = "TIMEOUT"
"""Pseudo-code: no response within ``DNS_TIMEOUT``."""
NODATA: Final = "NODATA"
"""Pseudo-code: NOERROR with no record of the asked type (RFC 2308 section 2.2)."""

_IN: Final = dns.rdataclass.IN
_A: Final = dns.rdatatype.A
_MX: Final = dns.rdatatype.MX
_CNAME: Final = dns.rdatatype.CNAME
_SOA: Final = dns.rdatatype.SOA


class DnsFault(StrEnum):
    """A fault the scenario injects into one query; the answer it produces."""

    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"


FaultFor: TypeAlias = Callable[[str], str | None]
"""Given a normalised name about to be queried, the fault to inject (a ``DnsFault`` value) or None."""


def no_fault(name: str) -> None:
    """The default fault schedule: every query is answered from the zones."""
    return None


@dataclass(frozen=True, slots=True)
class Lookup:
    """Result of resolving one name to addresses."""

    name: str
    """The name asked, lower case, no trailing dot (or the IP literal, normalised)."""
    rcode: str
    """NOERROR, NXDOMAIN, SERVFAIL, TIMEOUT, or NODATA (the name exists but has no A record)."""
    addresses: tuple[str, ...]
    """IPv4 addresses in zone order; empty unless NOERROR."""
    elapsed: float
    """Simulated seconds spent; 0.0 when the answer came from cache or was an IP literal."""
    from_cache: bool

    @property
    def ok(self) -> bool:
        """True when the name resolved to at least one address."""
        return self.rcode == NOERROR and bool(self.addresses)


@dataclass(frozen=True, slots=True)
class MxLookup:
    """Result of resolving a mail domain's MX records (RFC 5321 section 5.1).

    ``rcode`` is the outcome of the MX query itself. When the domain exists without MX records
    (NODATA) and has an address, ``exchanges`` holds the implicit MX ``(0, domain)``; a NOERROR
    with no exchanges is a null MX (RFC 7505): the domain accepts no mail.
    """

    domain: str
    rcode: str
    exchanges: tuple[tuple[int, str], ...]
    """(preference, host), sorted by preference then host (host order replaces RFC 5321's
    random tie-break, for determinism)."""
    elapsed: float
    """Simulated seconds spent, including the address lookup behind an implicit MX."""
    from_cache: bool
    """True when every piece of the answer came from cache."""

    @property
    def ok(self) -> bool:
        """True when there is at least one exchange to try."""
        return bool(self.exchanges)

    @property
    def implicit(self) -> bool:
        """True when the exchange is the implicit MX of a domain with an address but no MX."""
        return self.rcode == NODATA and bool(self.exchanges)


@dataclass(frozen=True, slots=True)
class Route:
    """The ordered endpoints a connector tries, and the lookups that failed on the way."""

    endpoints: tuple[tuple[str, str], ...]
    """(host, ip) in the order to try; a (host, ip) pair appears once."""
    failures: tuple[Lookup | MxLookup, ...]
    """Lookups that failed, in the order tried."""
    elapsed: float
    """Sum of the elapsed time of every lookup made."""

    @property
    def ok(self) -> bool:
        """True when there is at least one endpoint to connect to."""
        return bool(self.endpoints)


class CachedAnswer(NamedTuple):
    """What the cache holds for one (name, rdtype): an rcode and its data.

    ``data`` is a tuple of addresses for A, of (preference, host) for MX; empty for negative
    answers (NXDOMAIN, NODATA).
    """

    rcode: str
    data: tuple[Any, ...]


class _CacheEntry(NamedTuple):
    answer: CachedAnswer
    expires_at: float


class ZoneResolver:
    """A caching resolver whose authoritative data are dnspython zones.

    The resolver works on its own (absolute-name) copies of the zones, so ``set_record`` never
    changes a zone object the caller holds.
    """

    def __init__(self, zones: Sequence[dns.zone.Zone]) -> None:
        own: list[dns.zone.Zone] = []
        origins: set[dns.name.Name] = set()
        for zone in zones:
            if zone.origin is None:
                raise ValueError("zone has no origin")
            origin = _name_text(zone.origin)
            if zone.rdclass != _IN:
                rdclass = dns.rdataclass.to_text(zone.rdclass)
                raise ValueError(f"zone {origin}: class {rdclass}, only IN is supported")
            if zone.origin in origins:
                raise ValueError(f"zone {origin} is given twice")
            if zone.get_rdataset(zone.origin, _SOA) is None:
                raise ValueError(f"zone {origin} has no SOA record at its origin "
                                 "(negative answers need it, RFC 2308)")
            origins.add(zone.origin)
            own.append(_absolute_copy(zone))
        # Most specific origin first, so the first zone containing a name is the one holding it.
        own.sort(key=lambda z: (-len(_origin(z)), _origin(z)))
        self._zones = own
        self._cache: dict[tuple[str, str], _CacheEntry] = {}
        self._next_id = 0
        # Routes built only from cached answers, valid until the first of those answers expires.
        self._routes: dict[tuple[tuple[str, ...], bool], tuple[Route, float]] = {}
        self._touched: list[float] | None = None

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> ZoneResolver:
        """Parse each zone text (its ``$ORIGIN`` given in the text); ValueError on a bad zone."""
        zones = []
        for number, text in enumerate(texts, start=1):
            label = f"zone text {number}"
            try:
                zone = dns.zone.from_text(text, relativize=False, check_origin=False, filename=label)
            except dns.zone.UnknownOrigin:
                raise ValueError(f"{label}: no $ORIGIN line, so the zone's origin is unknown") from None
            except dns.exception.SyntaxError as exc:
                # dnspython's message already reads "<label>:<line>: <what>".
                raise ValueError(f"bad zone: {_one_line(exc)}") from None
            except (dns.exception.DNSException, ValueError) as exc:
                raise ValueError(f"bad zone: {label}: {_one_line(exc)}") from None
            zones.append(zone)
        return cls(zones)

    def names(self) -> set[str]:
        """Every owner name in every zone, lower case without trailing dot."""
        return {_name_text(name) for zone in self._zones for name in zone.nodes}

    # -- the authoritative side -------------------------------------------------------------

    def query(self, qname: str, rdtype: str, fault: str | None = None) -> dns.message.Message | None:
        """Answer one real DNS query from the zones; None when the query times out.

        Follows CNAMEs inside the zones (RFC 1034 section 4.3.2); the rcode is that of the last
        name in the chain (RFC 6604). NXDOMAIN and NODATA carry the zone's SOA in the authority
        section. A name outside every zone is answered NXDOMAIN without SOA (see the module
        docstring). Faults: "nxdomain" gives an NXDOMAIN exactly like a real one (with the SOA of
        the zone holding the name, hence negatively cached), "servfail" a SERVFAIL, "timeout" None.
        """
        name = _to_name(qname)
        qtype = _rdtype(rdtype)
        injected = _fault(fault)
        request = dns.message.make_query(name, qtype, id=self._query_id())
        if injected is DnsFault.TIMEOUT:
            return None
        response = dns.message.make_response(request, recursion_available=True)
        if injected is DnsFault.SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif injected is DnsFault.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
            zone = self._zone_for(name)
            if zone is not None:
                response.authority.append(_soa_rrset(zone))
        else:
            self._answer(response, name, qtype)
        # No shuffle: rdata keep zone order, and no random state is touched.
        return dns.message.from_wire(response.to_wire(want_shuffle=False))

    def _answer(self, response: dns.message.Message, qname: dns.name.Name,
                qtype: dns.rdatatype.RdataType) -> None:
        name = qname
        seen = {name}
        for _ in range(MAX_CNAME_CHAIN + 1):
            zone = self._zone_for(name)
            if zone is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return
            node = zone.get_node(name)
            if node is None and not _is_empty_non_terminal(zone, name):
                response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(_soa_rrset(zone))
                return
            if node is not None:
                found = node.get_rdataset(_IN, qtype)
                if found is not None:
                    response.answer.append(dns.rrset.from_rdata_list(name, found.ttl, list(found)))
                    return
                alias = node.get_rdataset(_IN, _CNAME) if qtype != _CNAME else None
                if alias is not None:
                    response.answer.append(dns.rrset.from_rdata_list(name, alias.ttl, list(alias)))
                    name = alias[0].target
                    if name in seen:
                        break
                    seen.add(name)
                    continue
            response.authority.append(_soa_rrset(zone))  # NODATA (RFC 2308 section 2.2)
            return
        response.set_rcode(dns.rcode.SERVFAIL)  # CNAME loop or chain too long
        response.answer.clear()

    # -- the resolver side ------------------------------------------------------------------

    def resolve_address(self, name: str, now: float, fault_for: FaultFor = no_fault) -> Lookup:
        """Resolve a host name to its IPv4 addresses through the cache; an IP literal as is."""
        literal = _ip_literal(name)
        if literal is not None:
            return Lookup(literal, NOERROR, (literal,), 0.0, False)
        key = _normalize(name)
        cached = self._fresh(key, "A", now)
        if cached is not None:
            return Lookup(key, cached.rcode, cached.data, 0.0, True)
        answer, elapsed = self._ask(key, "A", now, fault_for)
        return Lookup(key, answer.rcode, answer.data, elapsed, False)

    def resolve_mx(self, domain: str, now: float, fault_for: FaultFor = no_fault) -> MxLookup:
        """Resolve a mail domain's exchanges through the cache, with the implicit MX rule."""
        return self._resolve_mx(domain, now, fault_for)[0]

    def _resolve_mx(self, domain: str, now: float, fault_for: FaultFor) -> tuple[MxLookup, Lookup | None]:
        """The MX lookup and, when the domain has no MX records, the address lookup behind it."""
        key = _normalize(domain)
        cached = self._fresh(key, "MX", now)
        if cached is not None:
            answer, elapsed, from_cache = cached, 0.0, True
        else:
            answer, elapsed = self._ask(key, "MX", now, fault_for)
            from_cache = False
        exchanges: tuple[tuple[int, str], ...] = answer.data
        implicit = None
        if answer.rcode == NODATA:  # RFC 5321 section 5.1: the domain itself, preference 0
            implicit = self.resolve_address(key, now + elapsed, fault_for)
            elapsed += implicit.elapsed
            from_cache = from_cache and implicit.from_cache
            if implicit.ok:
                exchanges = ((0, key),)
        return MxLookup(key, answer.rcode, exchanges, elapsed, from_cache), implicit

    def resolve_route(self, hosts: Sequence[str], use_mx: bool, now: float,
                      fault_for: FaultFor = no_fault) -> Route:
        """The (host, ip) endpoints a connector tries, in order; failed lookups are remembered.

        Smart hosts are resolved in the given order; with ``use_mx`` the hosts are domains whose
        exchanges are resolved by preference. Each lookup happens at ``now`` plus the time spent on
        the lookups before it.
        """
        key = (tuple(hosts), use_mx)
        memo = self._routes.get(key)
        if memo is not None and now < memo[1]:
            return memo[0]
        self._touched = []
        try:
            route = self._route(hosts, use_mx, now, fault_for)
            touched = self._touched
        finally:
            self._touched = None
        # Every lookup was cached or is now: until the first expiry, the same route comes from the cache alone.
        if all(t == t for t in touched):   # no NaN marker: nothing uncacheable (SERVFAIL, timeout) was seen
            valid_until = min(touched, default=math.inf)
            self._routes[key] = (Route(route.endpoints, route.failures, 0.0), valid_until)
        return route

    def _route(self, hosts: Sequence[str], use_mx: bool, now: float, fault_for: FaultFor) -> Route:
        endpoints: list[tuple[str, str]] = []
        failures: list[Lookup | MxLookup] = []
        elapsed = 0.0

        def take(lookup: Lookup) -> None:
            if not lookup.ok:
                failures.append(lookup)
                return
            for address in lookup.addresses:
                if (lookup.name, address) not in endpoints:
                    endpoints.append((lookup.name, address))

        for host in hosts:
            if not use_mx or _ip_literal(host) is not None:
                lookup = self.resolve_address(host, now + elapsed, fault_for)
                elapsed += lookup.elapsed
                take(lookup)
                continue
            mx, implicit = self._resolve_mx(host, now + elapsed, fault_for)
            elapsed += mx.elapsed  # includes the implicit address lookup
            if not mx.exchanges:
                failures.append(mx)
                if implicit is not None:
                    failures.append(implicit)
                continue
            for _, exchange in mx.exchanges:
                if implicit is not None and exchange == implicit.name:
                    take(implicit)
                    continue
                lookup = self.resolve_address(exchange, now + elapsed, fault_for)
                elapsed += lookup.elapsed
                take(lookup)
        return Route(tuple(endpoints), tuple(failures), elapsed)

    def _fresh(self, key: str, rdtype: str, now: float) -> CachedAnswer | None:
        """The cached answer if it has not expired; an expired entry is dropped."""
        entry = self._cache.get((key, rdtype))
        if entry is None:
            return None
        if entry.expires_at > now:
            if self._touched is not None:
                self._touched.append(entry.expires_at)
            return entry.answer
        del self._cache[(key, rdtype)]
        return None

    def _ask(self, key: str, rdtype: str, now: float, fault_for: FaultFor) -> tuple[CachedAnswer, float]:
        """Send one query, cache what may be cached, and return the answer and the time spent.

        The answer is cached at the instant it arrives, ``now + LOOKUP_TIME``.
        """
        response = self.query(key, rdtype, fault_for(key))
        if response is None:
            if self._touched is not None:
                self._touched.append(math.nan)
            return CachedAnswer(TIMEOUT, ()), DNS_TIMEOUT
        answer, ttl = _read_response(response, _rdtype(rdtype))
        expires = now + LOOKUP_TIME + ttl if ttl is not None else math.nan
        if ttl is not None:
            self._cache[(key, rdtype)] = _CacheEntry(answer, expires)
        if self._touched is not None:
            self._touched.append(expires)
        return answer, LOOKUP_TIME

    def cache_entry(self, name: str, rdtype: str) -> tuple[object, float] | None:
        """The stored (CachedAnswer, expires_at) for a name and type, possibly expired; for tests."""
        entry = self._cache.get((_normalize(name), dns.rdatatype.to_text(_rdtype(rdtype))))
        return None if entry is None else (entry.answer, entry.expires_at)

    # -- admin actions ----------------------------------------------------------------------

    def set_record(self, name: str, rdtype: str, value: str, ttl: int) -> None:
        """Replace the records of one name and type in the zone holding the name.

        ``value`` is in presentation format; relative names in it are relative to the zone's
        origin. The name is created if needed. Caches are untouched: the old answer keeps being
        served until it expires.
        """
        owner = _to_name(name)
        zone = self._zone_for(owner)
        if zone is None:
            raise ValueError(f"cannot set {_name_text(owner)}: it is outside every zone")
        qtype = _rdtype(rdtype)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 2**31 - 1:
            raise ValueError(f"bad TTL {ttl!r} for {_name_text(owner)}: want an integer 0..2147483647")
        try:
            rdata = dns.rdata.from_text(_IN, qtype, value, origin=zone.origin, relativize=False)
        except (dns.exception.DNSException, ValueError) as exc:
            raise ValueError(f"bad {dns.rdatatype.to_text(qtype)} value {value!r} for "
                             f"{_name_text(owner)}: {_one_line(exc)}") from None
        zone.replace_rdataset(owner, dns.rdataset.from_rdata(ttl, rdata))

    # -- helpers ----------------------------------------------------------------------------

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        """The zone with the most specific origin containing ``name``, if any."""
        for zone in self._zones:
            if name.is_subdomain(_origin(zone)):
                return zone
        return None

    def _query_id(self) -> int:
        """A deterministic query id: a counter instead of dnspython's random one."""
        self._next_id = (self._next_id + 1) % 65536
        return self._next_id


def _read_response(response: dns.message.Message,
                   qtype: dns.rdatatype.RdataType) -> tuple[CachedAnswer, int | None]:
    """The answer a response carries and how long it may be cached (None: not at all)."""
    name = response.question[0].name
    chain_ttls: list[int] = []
    final = None
    for _ in range(MAX_CNAME_CHAIN + 1):
        final = response.get_rrset(response.answer, name, _IN, qtype)
        if final is not None:
            break
        alias = response.get_rrset(response.answer, name, _IN, _CNAME)
        if alias is None:
            break
        chain_ttls.append(alias.ttl)
        name = alias[0].target
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return CachedAnswer(NXDOMAIN, ()), _negative_ttl(response, chain_ttls)
    if rcode != dns.rcode.NOERROR:
        return CachedAnswer(SERVFAIL, ()), None
    if final is None:
        return CachedAnswer(NODATA, ()), _negative_ttl(response, chain_ttls)
    ttl = min([final.ttl, *chain_ttls])
    if qtype == _MX:
        exchanges = sorted((rd.preference, _name_text(rd.exchange)) for rd in final
                           if rd.exchange != dns.name.root)  # "0 ." is a null MX, RFC 7505
        return CachedAnswer(NOERROR, tuple(exchanges)), ttl
    if qtype == _A:
        return CachedAnswer(NOERROR, tuple(rd.address for rd in final)), ttl
    return CachedAnswer(NOERROR, tuple(rd.to_text() for rd in final)), ttl


def _negative_ttl(response: dns.message.Message, chain_ttls: list[int]) -> int | None:
    """RFC 2308 section 5: min(SOA TTL, SOA MINIMUM); no SOA in authority means do not cache."""
    for rrset in response.authority:
        if rrset.rdtype == _SOA and len(rrset) > 0:
            return min([int(rrset.ttl), int(rrset[0].minimum), *chain_ttls])
    return None


def _soa_rrset(zone: dns.zone.Zone) -> dns.rrset.RRset:
    origin = _origin(zone)
    soa = zone.get_rdataset(origin, _SOA)
    assert soa is not None  # checked when the resolver was built
    return dns.rrset.from_rdata_list(origin, soa.ttl, list(soa))


def _is_empty_non_terminal(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """True when ``name`` has no records but names below it do: it exists (RFC 8020)."""
    return any(owner != name and owner.is_subdomain(name) for owner in zone.nodes)


def _absolute_copy(zone: dns.zone.Zone) -> dns.zone.Zone:
    """A copy of ``zone`` holding absolute names, so rdata can go into messages as they are."""
    return dns.zone.from_text(zone.to_text(), origin=zone.origin, rdclass=zone.rdclass,
                              relativize=False, check_origin=False)


def _origin(zone: dns.zone.Zone) -> dns.name.Name:
    assert zone.origin is not None  # checked when the resolver was built
    return zone.origin


def _to_name(text: str) -> dns.name.Name:
    """An absolute dnspython name from text with or without the trailing dot."""
    stripped = text.strip()
    if stripped in ("", "."):
        raise ValueError("empty DNS name")
    try:
        return dns.name.from_text(stripped)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"bad DNS name {text!r}: {_one_line(exc)}") from None


def _name_text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _normalize(text: str) -> str:
    """Lower case, no trailing dot: the form used for cache keys and results."""
    return _name_text(_to_name(text))


def _rdtype(text: str) -> dns.rdatatype.RdataType:
    try:
        return dns.rdatatype.from_text(text.strip().upper())
    except (dns.exception.DNSException, ValueError):
        raise ValueError(f"unknown DNS record type {text!r}") from None


def _fault(fault: str | None) -> DnsFault | None:
    if fault is None:
        return None
    try:
        return DnsFault(fault.lower())
    except ValueError:
        valid = ", ".join(f.value for f in DnsFault)
        raise ValueError(f"unknown DNS fault {fault!r}; expected one of {valid}") from None


def _ip_literal(text: str) -> str | None:
    """The normalised address if ``text`` is an IP literal (brackets allowed), else None."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        stripped = stripped[1:-1]
    try:
        return str(ipaddress.ip_address(stripped))
    except ValueError:
        return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
