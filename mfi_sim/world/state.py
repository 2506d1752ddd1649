"""The world one run sees: DNS, servers and faults, as the `attempt.World` protocol expects."""
from __future__ import annotations

from collections.abc import Sequence

from ..faults import KINDS, FaultSchedule, Target
from ..scenario.schema import Fault, Scenario
from .dns import ZoneResolver
from .servers import ServerState, build_servers


def zone_resolver(scenario: Scenario) -> ZoneResolver:
    """A fresh resolver over the scenario's zones, as the loader parsed them (parsed here only for a Scenario
    built by hand)."""
    if scenario.parsed_zones or not scenario.zones:
        return ZoneResolver(scenario.parsed_zones)
    return ZoneResolver.from_texts(list(scenario.zones))


class WorldState:
    """Mutable world of one run; admin actions change it, attempts read it."""

    def __init__(self, scenario: Scenario, faults: FaultSchedule) -> None:
        self.resolver = zone_resolver(scenario)
        self.servers = build_servers(scenario.servers)
        self.faults = faults
        self._by_address = {addr: st for (addr, _), st in self.servers.items()}
        self._probe: ZoneResolver | None = None     # a throwaway resolver for connection_limit

    def server_at(self, address: str, port: int) -> ServerState | None:
        return self.servers.get((address, port))

    def server(self, address: str) -> ServerState | None:
        return self._by_address.get(address)

    def firing(self, target: str, now: float) -> Sequence[Fault]:
        return self.faults.firing(target, now)

    def connection_limit(self, scenario: Scenario, hosts: tuple[str, ...], use_mx: bool, port: int,
                         wanted: int) -> int:
        """Parallel connections a connector can hold: its own limit, capped by the concurrency of the server its
        route reaches first (looked up on a throwaway resolver, so the run's DNS cache stays untouched)."""
        if self._probe is None:
            self._probe = zone_resolver(scenario)
        route = self._probe.resolve_route(hosts, use_mx, 0.0)
        for _, ip in route.endpoints:
            server = self.servers.get((ip, port))
            if server is not None:
                return max(1, min(wanted, server.config.concurrency))
        return wanted

    def dns_fault(self, name: str, now: float) -> str | None:
        """The DNS error a fault on `name` injects into this lookup (a kind that targets DNS names), or None."""
        for fault in self.faults.firing(name, now):
            if KINDS[fault.kind].target is Target.DNS:
                return fault.error
        return None
