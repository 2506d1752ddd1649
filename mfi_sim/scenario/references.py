"""Cross-references between a scenario's tables: every name one table gives (a domain, a host, an address, a
connector, a fault number) must be one another table defines. Each check raises the loader's one-line error,
naming the file, line and field of the reference that does not resolve."""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..faults import KINDS, Target
from . import schema as s
from .names import is_ip
from .reader import Context

__all__ = ["routed_domains", "check_smart_hosts", "check_traffic", "check_faults", "check_actions"]


def routed_domains(ctx: Context, connectors: tuple[s.Connector, ...]) -> dict[str, str]:
    """Each recipient domain and the one connector that routes it (a domain routed twice is an error)."""
    seen: dict[str, str] = {}
    for i, c in enumerate(connectors):
        for d in c.recipient_domains:
            if d in seen:
                raise ctx.error(f"connectors[{i}].recipient_domains",
                                f"{d!r} is already routed by connector {seen[d]!r}", "connectors", i,
                                "recipient_domains")
            seen[d] = c.name
    return seen


def check_smart_hosts(ctx: Context, connectors: tuple[s.Connector, ...], names: Collection[str],
                      addresses: Collection[str]) -> None:
    """A smart host is a name in a zone, or the address of a server."""
    for i, c in enumerate(connectors):
        for h in c.smart_hosts:
            if not is_ip(h) and h not in names:
                raise ctx.error(f"connectors[{i}].smart_hosts", f"{h!r} is not a name in any [dns] zone",
                                "connectors", i, "smart_hosts")
            if is_ip(h) and h not in addresses:
                raise ctx.error(f"connectors[{i}].smart_hosts", f"no [[servers]] entry has address {h}",
                                "connectors", i, "smart_hosts")


def check_traffic(ctx: Context, traffic: tuple[s.Traffic, ...], routed: Collection[str]) -> None:
    """Traffic goes to a domain some connector routes."""
    for i, t in enumerate(traffic):
        if t.to not in routed:
            raise ctx.error(f"traffic[{i}].to", f"no connector routes {t.to!r} (see recipient_domains)",
                            "traffic", i, "to")


def check_faults(ctx: Context, faults: tuple[s.Fault, ...], names: Collection[str],
                 addresses: Collection[str]) -> None:
    """A DNS fault targets a name in a zone; every other fault, the address of a server."""
    for i, f in enumerate(faults):
        if KINDS[f.kind].target is Target.DNS:
            if f.target not in names:
                raise ctx.error(f"faults[{i}].target", f"{f.target!r} is not a name in any [dns] zone",
                                "faults", i, "target")
        elif f.target not in addresses:
            raise ctx.error(f"faults[{i}].target", f"no [[servers]] entry has address {f.target!r}",
                            "faults", i, "target")


def check_actions(ctx: Context, actions: tuple[s.Action, ...], connectors: tuple[s.Connector, ...],
                  addresses: Collection[str], faults: int, resolver: Any) -> None:
    """Each action names a connector, server, domain or fault that exists; a DNS change is one the zones can
    take (tried on the validation resolver)."""
    connector_names = {c.name for c in connectors}
    carried = {d for c in connectors for d in c.recipient_domains}
    for i, a in enumerate(actions):
        bad = _unresolved(a, connector_names, addresses, carried, faults)
        if bad is not None:
            key, message = bad
            raise ctx.error(f"actions[{i}].{key}", message, "actions", i, key)
        if a.do == "set_dns_record":
            try:
                _check_record(a)
            except ValueError as exc:
                raise ctx.error(f"actions[{i}].value", str(exc), "actions", i, "value") from None
            try:   # a dry run on the validation resolver: the change must be one the zones can take
                resolver.set_record(a.name or "", a.type or "A", a.value or "", a.ttl)
            except ValueError as exc:
                raise ctx.error(f"actions[{i}].name", str(exc), "actions", i, "name") from None


def _unresolved(a: s.Action, connector_names: Collection[str], addresses: Collection[str],
                carried: Collection[str], faults: int) -> tuple[str, str] | None:
    """(field, message) of the action's first reference that does not resolve, or None."""
    if a.connector is not None and a.connector not in connector_names:
        return "connector", f"no connector is called {a.connector!r}"
    if a.do == "renew_certificate" and a.target not in addresses:
        return "target", f"no [[servers]] entry has address {a.target!r}"
    if a.do == "set_accepted_domain" and a.domain not in carried:
        return "domain", f"no connector carries the domain {a.domain!r}"
    if a.do == "clear_fault" and (a.fault is None or a.fault >= faults):
        return "fault", f"there is no [[faults]] entry number {a.fault}"
    return None


def _check_record(a: s.Action) -> None:
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    try:
        dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(a.type or "A"), a.value or "")
    except Exception as exc:  # dnspython raises several syntax error types
        raise ValueError(f"not a valid {a.type} record value: {a.value!r} ({exc})") from None
