"""The authoritative side of simulated DNS: the scenario's zones, answering real dnspython queries.

A query is a real ``dns.message`` query answered from dnspython zones and round-tripped through wire
format. CNAMEs are followed inside the zones; NXDOMAIN and NODATA carry the zone's SOA (RFC 2308).
Simplifications, on purpose: no delegation (an NS record below an origin is plain data), no wildcard
synthesis; a name outside every zone, which a real server would REFUSE, is answered NXDOMAIN with no SOA,
because in the simulated world nothing else exists. Nothing here reads a clock or draws random numbers
(query ids come from a counter; answers are rendered without dnspython's RRset shuffle).
"""
from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

if TYPE_CHECKING:
    import dns.message   # imported where a query is answered: loading a scenario needs none

__all__ = ["Zones", "DnsFault", "MAX_CNAME_CHAIN", "name_text", "to_name", "rdtype_of", "one_line"]

MAX_CNAME_CHAIN: Final = 8
"""CNAMEs followed before the answer is declared a loop (SERVFAIL); RFC 1034 section 3.6.2."""

_IN: Final = dns.rdataclass.IN
_CNAME: Final = dns.rdatatype.CNAME
_SOA: Final = dns.rdatatype.SOA


class DnsFault(StrEnum):
    """A fault the scenario injects into one query; the answer it produces."""

    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"


class Zones:
    """The zones of a scenario, each an own absolute-name copy, so ``set_record`` never changes a zone
    object the caller holds."""

    def __init__(self, zones: Sequence[dns.zone.Zone]) -> None:
        own: list[dns.zone.Zone] = []
        origins: set[dns.name.Name] = set()
        for zone in zones:
            if zone.origin is None:
                raise ValueError("zone has no origin")
            origin = name_text(zone.origin)
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
        self._next_id = 0

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> Zones:
        """Parse each zone text (its ``$ORIGIN`` given in the text); ValueError on a bad zone."""
        return cls([parse_zone(text, number) for number, text in enumerate(texts, start=1)])

    def names(self) -> set[str]:
        """Every owner name in every zone, lower case without trailing dot."""
        return {name_text(name) for zone in self._zones for name in zone.nodes}

    def query(self, qname: str, rdtype: str, fault: str | None = None) -> dns.message.Message | None:
        """Answer one real DNS query from the zones; None when the query times out.

        Follows CNAMEs inside the zones (RFC 1034 section 4.3.2); the rcode is that of the last
        name in the chain (RFC 6604). NXDOMAIN and NODATA carry the zone's SOA in the authority
        section. A name outside every zone is answered NXDOMAIN without SOA (see the module
        docstring). Faults: "nxdomain" gives an NXDOMAIN exactly like a real one (with the SOA of
        the zone holding the name, hence negatively cached), "servfail" a SERVFAIL, "timeout" None.
        """
        name = to_name(qname)
        qtype = rdtype_of(rdtype)
        injected = _fault(fault)
        import dns.message

        request = dns.message.make_query(name, qtype, id=self._query_id())
        if injected is DnsFault.TIMEOUT:
            return None
        response = dns.message.make_response(request, recursion_available=True)
        if injected is DnsFault.SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif injected is DnsFault.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
            zone = self.zone_for(name)
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
            zone = self.zone_for(name)
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

    def set_record(self, name: str, rdtype: str, value: str, ttl: int) -> None:
        """Replace the records of one name and type in the zone holding the name.

        ``value`` is in presentation format; relative names in it are relative to the zone's
        origin. The name is created if needed. Caches are untouched: the old answer keeps being
        served until it expires.
        """
        owner = to_name(name)
        zone = self.zone_for(owner)
        if zone is None:
            raise ValueError(f"cannot set {name_text(owner)}: it is outside every zone")
        qtype = rdtype_of(rdtype)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 2**31 - 1:
            raise ValueError(f"bad TTL {ttl!r} for {name_text(owner)}: want an integer 0..2147483647")
        try:
            rdata = dns.rdata.from_text(_IN, qtype, value, origin=zone.origin, relativize=False)
        except (dns.exception.DNSException, ValueError) as exc:
            raise ValueError(f"bad {dns.rdatatype.to_text(qtype)} value {value!r} for "
                             f"{name_text(owner)}: {one_line(exc)}") from None
        zone.replace_rdataset(owner, dns.rdataset.from_rdata(ttl, rdata))

    def records(self, types: Sequence[str] = ("A", "MX", "CNAME")) -> list[tuple[str, str, int, str]]:
        """(name, type, TTL, value) of every record of those types as the zones hold them now, for display."""
        wanted = {rdtype_of(t) for t in types}
        return [(name_text(name), dns.rdatatype.to_text(rdataset.rdtype), rdataset.ttl, rdata.to_text())
                for zone in self._zones for name, node in sorted(zone.nodes.items())
                for rdataset in node.rdatasets if rdataset.rdtype in wanted for rdata in rdataset]

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        """The zone with the most specific origin containing ``name``, if any."""
        for zone in self._zones:
            if name.is_subdomain(_origin(zone)):
                return zone
        return None

    def _query_id(self) -> int:
        """A deterministic query id: a counter instead of dnspython's random one."""
        self._next_id = (self._next_id + 1) % 65536
        return self._next_id


def parse_zone(text: str, number: int = 1) -> dns.zone.Zone:
    """One zone text (its ``$ORIGIN`` given in the text) as a dnspython zone; ValueError, one line, when it
    is not a zone dnspython can read."""
    label = f"zone text {number}"
    try:
        return dns.zone.from_text(text, relativize=False, check_origin=False, filename=label)
    except dns.zone.UnknownOrigin:
        raise ValueError(f"{label}: no $ORIGIN line, so the zone's origin is unknown") from None
    except dns.exception.SyntaxError as exc:
        # dnspython's message already reads "<label>:<line>: <what>".
        raise ValueError(f"bad zone: {one_line(exc)}") from None
    except (dns.exception.DNSException, ValueError, UnicodeError, OverflowError) as exc:
        raise ValueError(f"bad zone: {label}: {one_line(exc)}") from None


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


def to_name(text: str) -> dns.name.Name:
    """An absolute dnspython name from text with or without the trailing dot."""
    stripped = text.strip()
    if stripped in ("", "."):
        raise ValueError("empty DNS name")
    try:
        return dns.name.from_text(stripped)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"bad DNS name {text!r}: {one_line(exc)}") from None


def name_text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def rdtype_of(text: str) -> dns.rdatatype.RdataType:
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


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
