"""DNS answers of a lab, as the service's resolver sees the world at T, with addresses moved to loopback.

A name and type the simulated service holds in its resolver cache at T is answered from that cache with
the remaining TTL (so an MX record that changed after it was cached keeps being served, as in the
dns-stale-cache scenario); anything else is answered by the scenario's zones as they are at T, with the
`dns_failure` faults in force at T: NXDOMAIN, SERVFAIL, or no answer at all (None). IPv4 addresses are
rewritten to their loopback stand-ins; IPv6 records are left out (loopback has no room for them).
Messages are dnspython's (`dns.message`); there is no I/O here.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from ..world.dns import NODATA, NOERROR, NXDOMAIN, CachedAnswer
from .world_at import WorldAtT

__all__ = ["LabDns"]

_A, _AAAA, _MX, _SOA = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX, dns.rdatatype.SOA
_CACHED_TYPES = {_A: "A", _MX: "MX"}


class LabDns:
    """Answers one query at a time from the world at T; `answer` returns None for a query that times out."""

    def __init__(self, world: WorldAtT, loopback: Mapping[str, str], rng: random.Random) -> None:
        self.world = world
        self.loopback = dict(loopback)
        self.rng = rng
        self._faults = world.dns_faults()

    def answer(self, request: dns.message.Message) -> dns.message.Message | None:
        """The response to `request`, or None when the world at T leaves it unanswered."""
        response = dns.message.make_response(request, recursion_available=True)
        if request.opcode() != dns.opcode.QUERY or len(request.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP if request.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return response
        question = request.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if not self._from_cache(response, question.name, name, question.rdtype):
            fault = self._fault(name)
            found = self.world.world.resolver.query(name, dns.rdatatype.to_text(question.rdtype), fault)
            if found is None:
                return None
            response.set_rcode(found.rcode())
            for section in ("answer", "authority", "additional"):
                getattr(response, section).extend(getattr(found, section))
        self._to_loopback(response, question.name)
        return response

    def _fault(self, name: str) -> str | None:
        """The DNS fault that fires for this query (each drawn with its probability), as the simulation does."""
        for fault in self._faults.get(name, ()):
            p = fault.probability
            if p >= 1.0 or (p > 0.0 and self.rng.random() < p):
                return fault.error
        return None

    def _from_cache(self, response: dns.message.Message, qname: dns.name.Name, name: str,
                    rdtype: dns.rdatatype.RdataType) -> bool:
        """Fills `response` from the service's resolver cache at T; False when nothing fresh is cached."""
        kind = _CACHED_TYPES.get(rdtype)
        resolver = self.world.world.resolver
        entry = resolver.cache_entry(name, kind) if kind is not None else None
        if entry is None or entry[1] <= self.world.at:
            return False
        answer, expires_at = entry
        if not isinstance(answer, CachedAnswer):
            return False
        ttl = max(1, math.ceil(expires_at - self.world.at))
        rcode, data = answer.rcode, answer.data
        if rcode == NOERROR and data:
            texts = [str(a) for a in data] if rdtype == _A else [f"{pref} {host}." for pref, host in data]
            response.answer.append(dns.rrset.from_text_list(qname, ttl, "IN", rdtype, texts))
            return True
        if rcode not in (NXDOMAIN, NODATA):
            return False
        if rcode == NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self._add_soa(response, qname, ttl)
        return True

    def _add_soa(self, response: dns.message.Message, qname: dns.name.Name, ttl: int | None = None) -> None:
        """The SOA of the zone holding `qname` in the authority section (a negative answer, RFC 2308)."""
        zone = self.world.world.resolver.zones.zone_for(qname)
        soa = zone.get_rdataset(zone.origin, _SOA) if zone is not None and zone.origin is not None else None
        if zone is not None and zone.origin is not None and soa is not None:
            cap = soa.ttl if ttl is None else min(ttl, soa.ttl)
            response.authority.append(dns.rrset.from_rdata_list(zone.origin, cap, list(soa)))

    def _to_loopback(self, response: dns.message.Message, qname: dns.name.Name) -> None:
        """IPv4 addresses become their loopback stand-ins (one the lab does not serve is left out); IPv6 goes."""
        for section in (response.answer, response.additional):
            kept = []
            for rrset in section:
                if rrset.rdtype == _AAAA:
                    continue
                if rrset.rdtype == _A:
                    texts = [self.loopback[rd.address] for rd in rrset if rd.address in self.loopback]
                    if not texts:
                        continue
                    rrset = dns.rrset.from_text_list(rrset.name, rrset.ttl, "IN", "A", texts)
                kept.append(rrset)
            section[:] = kept
        if (response.rcode() == dns.rcode.NOERROR and not response.answer and not response.authority
                and response.question[0].rdtype == _AAAA):
            self._add_soa(response, qname)
