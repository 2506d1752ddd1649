"""Where the scenario's addresses live in the lab: each on its own loopback address, 127.0.0.2 upwards.

Every IPv4 address the world at T can hand a client gets one: the [[servers]] first, in scenario order, then
any other address in the zones, in the service's DNS cache or given as a smart host (nothing serves those,
so in the lab their connections time out, as in the simulation). The DNS server sits on 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import dns.rdatatype

from ..world.dns import CachedAnswer
from .world_at import WorldAtT

__all__ = ["DNS_ADDRESS", "FIRST_SERVER_ADDRESS", "loopback_map", "world_addresses"]

DNS_ADDRESS = "127.0.0.1"
FIRST_SERVER_ADDRESS = ipaddress.IPv4Address("127.0.0.2")
_LAST_LOOPBACK = ipaddress.IPv4Address("127.255.255.254")


def world_addresses(world: WorldAtT) -> list[str]:
    """Every IPv4 address a client may be sent to at T: servers first, then the rest in a stable order."""
    out: list[str] = []

    def add(values: Iterable[str]) -> None:
        for value in values:
            address = _ipv4(value)
            if address is not None and address not in out:
                out.append(address)

    add(s.address for s in world.servers())
    resolver = world.world.resolver
    others: set[str] = set()
    for name in resolver.names():
        response = resolver.query(name, "A")
        if response is not None:
            others.update(rd.to_text() for rrset in response.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A)
        cached = resolver.cache_entry(name, "A")
        if cached is not None and isinstance(cached[0], CachedAnswer):
            others.update(str(a) for a in cached[0].data)
    others.update(h.strip("[]") for h in world.connector_hosts())
    add(sorted((a for a in others if _ipv4(a) is not None), key=lambda a: ipaddress.IPv4Address(a)))
    return out


def loopback_map(addresses: Iterable[str]) -> dict[str, str]:
    """Scenario address -> its own loopback address, 127.0.0.2 upwards, in the given order."""
    out: dict[str, str] = {}
    next_address = FIRST_SERVER_ADDRESS
    for address in addresses:
        if address in out:
            continue
        if next_address > _LAST_LOOPBACK:
            raise ValueError("more addresses than the loopback network holds")
        out[address] = str(next_address)
        next_address += 1
    return out


def _ipv4(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    return str(address) if address.version == 4 else None
