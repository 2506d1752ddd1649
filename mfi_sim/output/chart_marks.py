"""What happened on one connector's route, as marks for its charts: the faults that touch it, the admin actions
that concern it, and the certificates on its route that expire during the run.

A connector's route is what it can reach: its smart hosts (or its domain's MX hosts), the names and addresses
they resolve to in the scenario's zones, before and after every DNS change and smart-host change the scenario
makes. A fault, action or certificate concerns a connector when its target is on that route; admin actions
named for a connector concern that connector only, and resolving an alert concerns every connector.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..result import Result
from ..scenario.names import is_ip
from ..scenario.schema import Action, Connector, Fault, Scenario
from ..units import format_duration

__all__ = ["Mark", "Route", "route_of", "faults_on", "marks_on", "draw", "legend_items", "describe"]

_ACTION_WORDS = {"fix_now": "Fix now", "disable_connector": "connector off", "enable_connector": "connector on",
                 "set_smart_hosts": "new smart hosts", "set_dns_record": "DNS change",
                 "renew_certificate": "certificate renewed", "clear_fault": "fault cleared",
                 "resolve_alert": "alert resolved"}


@dataclass(frozen=True, slots=True)
class Route:
    """The names and addresses a connector can reach over the run."""

    names: frozenset[str]
    addresses: frozenset[str]

    def touches(self, target: str) -> bool:
        return target in self.names or target in self.addresses


@dataclass(frozen=True, slots=True)
class Mark:
    """An instant to mark on a connector's chart: `kind` is "action" or "certificate"."""

    t: float
    kind: str
    label: str


def route_of(scenario: Scenario, conn: Connector) -> Route:
    """Every name and address the connector's route reaches at some point of the run (DNS and smart-host
    changes included), looked up on the scenario's zones without touching any run's resolver."""
    from ..world.dns import ZoneResolver

    resolver = ZoneResolver.from_texts(list(scenario.zones))
    host_sets = [conn.recipient_domains if conn.use_mx else conn.smart_hosts]
    host_sets += [a.smart_hosts for a in scenario.actions if a.do == "set_smart_hosts" and a.connector == conn.name]
    names: set[str] = set()
    addresses: set[str] = set()

    def reach() -> None:
        for hosts in host_sets:
            names.update(h for h in hosts if not is_ip(h))
            addresses.update(h for h in hosts if is_ip(h))
            route = resolver.resolve_route(hosts, conn.use_mx, 0.0)
            names.update(host for host, _ in route.endpoints)
            addresses.update(ip for _, ip in route.endpoints)

    reach()
    for a in scenario.actions:
        if a.do == "set_dns_record" and a.name and a.type and a.value is not None:
            fresh = ZoneResolver.from_texts(list(scenario.zones))
            for b in scenario.actions:
                if b.do == "set_dns_record" and b.at <= a.at and b.name and b.type and b.value is not None:
                    fresh.set_record(b.name, b.type, b.value, b.ttl)
            resolver = fresh
            reach()
    return Route(frozenset(names), frozenset(addresses))


def faults_on(result: Result, route: Route) -> list[tuple[int, Fault, float, float]]:
    """The run's fault windows whose target is on the route."""
    return [w for w in result.fault_windows if route.touches(w[1].target)]


def _concerns(action: Action, conn: Connector, route: Route, scenario: Scenario) -> bool:
    if action.connector is not None:
        return action.connector == conn.name
    if action.do == "set_dns_record":
        return action.name in route.names
    if action.do == "renew_certificate":
        return action.target in route.addresses
    if action.do == "clear_fault":
        return action.fault is not None and route.touches(scenario.faults[action.fault].target)
    return True       # resolve_alert: alerts can be tenant-wide


def _action_label(a: Action) -> str:
    what = _ACTION_WORDS.get(a.do, a.do.replace("_", " "))
    target = a.name or a.target or (f"fault {a.fault}" if a.fault is not None else "") or a.alert or ""
    return f"admin: {what}" + (f" ({target})" if target and a.connector is None else "")


def marks_on(result: Result, conn: Connector, route: Route) -> list[Mark]:
    """Admin actions that concern the connector, and certificate expiries on its route, within the run."""
    scenario = result.scenario
    marks = [Mark(a.at, "action", _action_label(a)) for a in scenario.actions
             if a.at <= result.duration and _concerns(a, conn, route, scenario)]
    for server in scenario.servers:
        cert = server.certificate
        if cert is None or not 0 < cert.not_after <= result.duration or server.address not in route.addresses:
            continue
        renewed = any(a.do == "renew_certificate" and a.target == server.address and a.at < cert.not_after
                      for a in scenario.actions)
        if not renewed:
            marks.append(Mark(cert.not_after, "certificate", f"certificate of {server.hostname} expires"))
    return sorted(marks, key=lambda m: (m.t, m.kind, m.label))


def describe(mark: Mark) -> str:
    """The mark with its time, for a tooltip or a caption."""
    return f"{mark.label} at +{format_duration(mark.t)}"


#: Colours of the marks (admin actions blue, certificate expiry purple-red), distinct from the chart's lines.
ACTION, CERTIFICATE = "#1e40af", "#be185d"


def draw(plot: Any, marks: list[Mark], first_row: float) -> list[str]:
    """A vertical line through the plot at each mark, and its label in its own row from `first_row` down."""
    from . import svg

    out = []
    for i, mark in enumerate(marks):
        colour = ACTION if mark.kind == "action" else CERTIFICATE
        x = plot.x(mark.t / 3600)
        out.append(svg.line(x, plot.top, x, plot.bottom, colour, 1.5, "2 3" if mark.kind == "action" else "6 2"))
        out.append(svg.label_within(plot, x + 4, x, first_row + 16 * i, describe(mark), colour, halo=True))
    return out


def legend_items(marks: list[Mark]) -> list[Any]:
    """Legend entries for the kinds of mark present."""
    from . import svg

    kinds = {m.kind for m in marks}
    return ([svg.LegendItem("vline", ACTION, "admin action")] if "action" in kinds else []) + \
        ([svg.LegendItem("vline", CERTIFICATE, "certificate expires")] if "certificate" in kinds else [])
