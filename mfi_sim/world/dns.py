"""Simulated DNS, the resolver side: a caching resolver on the simulated clock, over the zones of zones.py.

Every uncached lookup sends a real query to the zones and reads the real response. The cache is one
plain dict keyed ``(name, rdtype)``: positive answers live for the smallest TTL along the CNAME chain;
NXDOMAIN and NODATA for ``min(SOA TTL, SOA MINIMUM)`` (RFC 2308 section 5); SERVFAIL and timeouts are
not cached. A cached answer is served without consulting the fault schedule, so it keeps working until
its TTL runs out, and an admin's ``set_record`` is seen only once the old answer has expired.

Simulated failures are values (``Lookup.rcode``), never exceptions; ``ValueError`` is raised only for bad
input (zone text, names, record types, fault names). Time is whatever ``now`` the caller passes.
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

if TYPE_CHECKING:
    import dns.message

from .zones import MAX_CNAME_CHAIN, DnsFault, Zones, name_text, rdtype_of, to_name

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

    def __init__(self, zones: Sequence[dns.zone.Zone] | Zones) -> None:
        self.zones = zones if isinstance(zones, Zones) else Zones(zones)
        self._cache: dict[tuple[str, str], _CacheEntry] = {}
        # Routes built only from cached answers, valid until the first of those answers expires.
        self._routes: dict[tuple[tuple[str, ...], bool], tuple[Route, float]] = {}
        self._touched: list[float] | None = None

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> ZoneResolver:
        """A resolver over zones parsed from text (their ``$ORIGIN`` in the text); ValueError on a bad zone."""
        return cls(Zones.from_texts(texts))

    def names(self) -> set[str]:
        """Every owner name in every zone, lower case without trailing dot."""
        return self.zones.names()

    def query(self, qname: str, rdtype: str, fault: str | None = None) -> dns.message.Message | None:
        """One real query answered by the zones (see zones.Zones.query)."""
        return self.zones.query(qname, rdtype, fault)

    def set_record(self, name: str, rdtype: str, value: str, ttl: int) -> None:
        """An admin's DNS change in the zones; caches keep the old answer until it expires."""
        self.zones.set_record(name, rdtype, value, ttl)

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
        answer, ttl = _read_response(response, rdtype_of(rdtype))
        expires = now + LOOKUP_TIME + ttl if ttl is not None else math.nan
        if ttl is not None:
            self._cache[(key, rdtype)] = _CacheEntry(answer, expires)
        if self._touched is not None:
            self._touched.append(expires)
        return answer, LOOKUP_TIME

    def cache_entry(self, name: str, rdtype: str) -> tuple[object, float] | None:
        """The stored (CachedAnswer, expires_at) for a name and type, possibly expired; for tests."""
        entry = self._cache.get((_normalize(name), dns.rdatatype.to_text(rdtype_of(rdtype))))
        return None if entry is None else (entry.answer, entry.expires_at)

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
        exchanges = sorted((rd.preference, name_text(rd.exchange)) for rd in final
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


def _normalize(text: str) -> str:
    """Lower case, no trailing dot: the form used for cache keys and results."""
    return name_text(to_name(text))


def _ip_literal(text: str) -> str | None:
    """The normalised address if ``text`` is an IP literal (brackets allowed), else None."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        stripped = stripped[1:-1]
    try:
        return str(ipaddress.ip_address(stripped))
    except ValueError:
        return None
