"""Real DNS for the real-socket driver: dnspython's resolver, giving the route in the machine's terms.

The same rules as the simulated resolver (world/dns.py): smart hosts are resolved in order; with MX routing the
domain's exchanges by preference then name (RFC 5321 section 5.1; name order replaces the random tie-break),
the implicit MX when the domain has none, and a null MX (RFC 7505) as "accepts no mail". IPv4 only, as the
simulation. Errors become rcodes (NXDOMAIN, SERVFAIL, TIMEOUT, NODATA), never exceptions.
"""
from __future__ import annotations

import ipaddress

import dns.exception
import dns.name
import dns.resolver

from .errors import OptionError

__all__ = ["make_resolver", "route", "parse_nameserver"]

Endpoints = list[tuple[str, str]]
Failures = list[tuple[str, str]]


def parse_nameserver(text: str) -> tuple[str, int]:
    """"IP" or "IP:PORT" ("[v6]:PORT" for IPv6) -> (ip, port); OptionError when malformed."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError
    except ValueError:
        raise OptionError(f"--nameserver: expected IP[:PORT], got {text!r}") from None
    return host, number


def make_resolver(nameserver: str | None, timeout: float) -> dns.resolver.Resolver:
    """A resolver asking `nameserver` (IP[:PORT]) or, without one, the system's configured servers."""
    if nameserver is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise OptionError("no DNS server is configured on this machine; give --nameserver IP[:PORT]") from None
    else:
        ip, port = parse_nameserver(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [ip]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 5.0)
    return resolver


def _literal(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text.strip().strip("[]")))
    except ValueError:
        return None


def _ask(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> tuple[str, list[object]]:
    """(rcode, records) of one query; the rcode is NOERROR, NXDOMAIN, SERVFAIL, TIMEOUT or NODATA."""
    try:
        answer = resolver.resolve(dns.name.from_text(name), rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return "NXDOMAIN", []
    except dns.resolver.NoAnswer:
        return "NODATA", []
    except dns.exception.Timeout:
        return "TIMEOUT", []
    except (dns.resolver.NoNameservers, dns.exception.DNSException):
        return "SERVFAIL", []
    return "NOERROR", list(answer)


def _addresses(resolver: dns.resolver.Resolver, host: str, endpoints: Endpoints, failures: Failures) -> None:
    literal = _literal(host)
    if literal is not None:
        endpoints.append((literal, literal))
        return
    name = host.lower().rstrip(".")
    rcode, records = _ask(resolver, name, "A")
    if not records:
        failures.append((name, rcode))
        return
    for record in records:
        if (name, str(record)) not in endpoints:
            endpoints.append((name, str(record)))


def _exchanges(resolver: dns.resolver.Resolver, domain: str, failures: Failures) -> list[str]:
    """The domain's mail hosts by preference (the domain itself when it has no MX); [] when it has none."""
    name = domain.lower().rstrip(".")
    rcode, records = _ask(resolver, name, "MX")
    if rcode == "NODATA":
        return [name]                               # implicit MX (RFC 5321 section 5.1)
    pairs = sorted((r.preference, r.exchange.to_text(omit_final_dot=True).lower())  # type: ignore[attr-defined]
                   for r in records)
    hosts = [host for _, host in pairs if host not in ("", ".")]
    if not hosts:
        failures.append((name, "NOERROR" if rcode == "NOERROR" else rcode))
    return hosts


def route(hosts: tuple[str, ...], use_mx: bool, resolver: dns.resolver.Resolver) -> tuple[Endpoints, Failures]:
    """(host, ip) endpoints in the order to try, and the (name, rcode) lookups that failed on the way."""
    endpoints: Endpoints = []
    failures: Failures = []
    for host in hosts:
        if not use_mx or _literal(host) is not None:
            _addresses(resolver, host, endpoints, failures)
            continue
        for exchange in _exchanges(resolver, host, failures):
            _addresses(resolver, exchange, endpoints, failures)
    return endpoints, failures
