"""What a running lab tells its user: the ready file scripts wait for, and the table a trainer reads."""
from __future__ import annotations

import json
from typing import Any

from ..scenario.schema import Fault
from ..units import format_duration, iso_at
from ..world.servers import ServerState
from .controller import LabMap, Place
from .policy import Endpoint
from .world_at import WorldAtT

__all__ = ["ready_json", "table_text", "describe_place"]

_FAULT_WORDS = {
    "service_unavailable": "greets with 421 (service unavailable)",
    "tls_not_offered": "does not offer STARTTLS",
    "tls_handshake_failure": "breaks the TLS handshake",
    "certificate_expired": "presents an expired certificate",
    "certificate_name_mismatch": "presents a certificate for another name",
    "certificate_untrusted": "presents a certificate from an untrusted authority",
}


def ready_json(lab: LabMap) -> str:
    """The ready file: {"dns", "servers": {"<scenario address>:<port>": "<loopback>:<port>"}, "ca_file"}, plus
    "at_s" (the instant served) and "hosts" (addresses the zones name that no server serves)."""
    servers = {f"{p.scenario_address}:{p.scenario_port}": f"{p.address}:{p.port}"
               for p in lab.places if p.server is not None}
    hosts = {f"{p.scenario_address}:{p.scenario_port}": f"{p.address}:{p.port}"
             for p in lab.places if p.server is None}
    data: dict[str, Any] = {"dns": f"{lab.dns[0]}:{lab.dns[1]}", "servers": servers, "ca_file": str(lab.ca_file),
                            "at_s": lab.at, "hosts": hosts}
    return json.dumps(data, indent=2) + "\n"


def _fault_words(f: Fault) -> str:
    if f.kind == "connection_closed":
        words = f"closes the connection at {f.stage or 'data'}"
    elif f.kind == "smtp_reply":
        words = f"answers {f.stage} with \"{f.reply}\""
    elif f.kind == "dns_failure":
        words = {"nxdomain": "NXDOMAIN", "servfail": "SERVFAIL", "timeout": "no answer"}.get(f.error or "", "?")
    else:
        words = _FAULT_WORDS.get(f.kind, f.kind.replace("_", " "))
    return words + (f" ({f.probability:.0%} of connections)" if f.probability < 1 else "")


def _certificate_words(server: ServerState, at: float) -> str:
    cert = server.certificate
    if not server.config.starttls:
        return "no STARTTLS"
    if cert is None:
        return "STARTTLS, certificate from an untrusted authority (none in the scenario)"
    names = ", ".join(cert.names)
    if at >= cert.not_after:
        when = f"expired {format_duration(at - cert.not_after)} ago"
    elif at < cert.not_before:
        when = f"valid only in {format_duration(cert.not_before - at)}"
    else:
        when = f"valid for {format_duration(cert.not_after - at)} more"
    trust = "" if cert.trusted else ", untrusted authority"
    return f"STARTTLS, certificate for {names} ({when}{trust})"


def describe_place(place: Place, world: WorldAtT) -> str:
    """One line on what a place does at T, in the words of what a client sees."""
    if place.server is None:
        return "nothing serves this address: SYNs go unanswered (connection times out)"
    name = place.server.config.hostname
    if place.endpoint is Endpoint.REFUSED:
        return f"{name}: nothing listens, the connection is refused (RST)"
    if place.endpoint is Endpoint.SILENT:
        return f"{name}: SYNs go unanswered (connection times out)"
    faults = [f for f in world.faults_on(place.scenario_address)
              if f.kind not in ("connect_timeout", "connection_refused")]
    parts = [_certificate_words(place.server, world.at)] + [_fault_words(f) for f in faults]
    parts += [f"always answers {stage} with \"{reply}\"" for stage, reply in place.server.config.replies]
    return f"{name}: " + "; ".join(parts)


def table_text(lab: LabMap, world: WorldAtT, why: str) -> str:
    """The table printed when a lab starts: scenario address -> loopback address and port, and what each does."""
    scenario = world.scenario
    lines = [f"mfi-sim lab: {scenario.name}",
             f"The world at {format_duration(lab.at)} ({iso_at(scenario.start, lab.at)}), {why}.", ""]
    rows = [("scenario address", "lab address", "what a client meets")]
    dns_words = "; ".join(f"{name}: {_fault_words(f)}" for name, fs in sorted(world.dns_faults().items())
                          for f in fs)
    rows.append(("DNS", f"{lab.dns[0]}:{lab.dns[1]}",
                 "UDP and TCP, answers as the service's resolver at that instant"
                 + (f"; {dns_words}" if dns_words else "")))
    rows += [(f"{p.scenario_address}:{p.scenario_port}", f"{p.address}:{p.port}", describe_place(p, world))
             for p in lab.places]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines += ["", f"CA file (the trusted lab authority): {lab.ca_file}", _example(lab, world),
              "Ctrl-C stops the lab."]
    return "\n".join(lines) + "\n"


def _example(lab: LabMap, world: WorldAtT) -> str:
    served = [p for p in lab.places if p.server is not None]
    if not served:
        return ""
    p = served[0]
    host = p.server.config.hostname if p.server is not None else p.address
    domain = world.scenario.connectors[0].recipient_domains[0] if world.scenario.connectors else "example.com"
    dns_port = "" if lab.dns[1] == 53 else f" -p {lab.dns[1]}"
    return "\n".join([
        "Try:",
        f"  swaks --server {p.address}:{p.port} --to someone@{domain} --tls-optional "
        f"--tls-verify --tls-ca-path {lab.ca_file}",
        f"  openssl s_client -starttls smtp -connect {p.address}:{p.port} -verify_hostname {host} "
        f"-CAfile {lab.ca_file} -verify_return_error -brief",
        f"  dig @{lab.dns[0]}{dns_port} {host}",
    ])
