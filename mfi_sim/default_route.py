"""Where mail for a connector's domains goes while the connector is turned off: the default route.

A disabled outbound connector no longer holds mail (SPEC 1.4, 2026-12). Each message for one of its domains
then takes the route the service would take with no connector: the recipient domain's MX in the scenario's
DNS. Two outcomes end the message at once instead:
- the domain is Authoritative (set_accepted_domain): the recipient has no mailbox in the cloud, so the
  service rejects it with 550 5.1.10 (RecipientNotFound);
- the MX points back at the service itself (the tenant's `inbound_host`): the message would loop between
  the service and itself until its hop count runs out, and gets the loop NDR 554 5.4.14.
Otherwise the message is sent to the MX host over SMTP, as a connector with `use_mx` would.
"""
from __future__ import annotations

from collections.abc import Mapping

from .world.dns import ZoneResolver

__all__ = ["DefaultRoute", "AUTHORITATIVE", "INTERNAL_RELAY", "DOMAIN_TYPES", "REJECT", "LOOP", "MX", "LOOP_REPLY"]

#: Accepted domain types, as Set-AcceptedDomain -DomainType names them.
AUTHORITATIVE, INTERNAL_RELAY = "Authoritative", "InternalRelay"
DOMAIN_TYPES = (AUTHORITATIVE, INTERNAL_RELAY)
#: What happens to a message on the default route.
REJECT, LOOP, MX = "reject", "loop", "mx"
#: The service's NDR when a message loops back to it until its hop count is exceeded.
LOOP_REPLY = "554 5.4.14 Hop count exceeded - possible mail loop"


def _name(host: str) -> str:
    return host.rstrip(".").lower()


class DefaultRoute:
    """Decides, per recipient domain and instant, what the default route does with a message."""

    def __init__(self, resolver: ZoneResolver, inbound_host: str | None, accepted: Mapping[str, str]) -> None:
        self.resolver = resolver
        self.inbound_host = _name(inbound_host) if inbound_host else None
        self.accepted = accepted        # domain -> accepted domain type (missing: InternalRelay)

    def fate(self, domain: str, t: float) -> str:
        """REJECT (Authoritative domain), LOOP (its MX is the service's own inbound host) or MX (send there)."""
        if self.accepted.get(_name(domain)) == AUTHORITATIVE:
            return REJECT
        if self.inbound_host is not None:
            lookup = self.resolver.resolve_mx(domain, t)
            if any(_name(host) == self.inbound_host for _, host in lookup.exchanges):
                return LOOP
        return MX
