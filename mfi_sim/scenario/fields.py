"""Every field a scenario file may hold: the loader accepts exactly these, and the README's reference table is
generated from them, so documentation and validation cannot drift apart.

    python -m mfi_sim.scenario README.md    # rewrites the table between its markers
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..faults import KINDS, FaultField, Target

__all__ = ["Field", "FIELDS", "allowed", "markdown_table", "update_readme"]

START, END = "<!-- fields:start -->", "<!-- fields:end -->"


@dataclass(frozen=True)
class Field:
    """One field: the table it lives in, its name, what it holds, its default, what it means."""

    table: str          # "scenario", "connectors", "servers.certificate", ... ("" for the top level)
    name: str
    kind: str
    default: str
    meaning: str


_F = Field


def _fault_head() -> tuple[Field, ...]:
    """`kind` and `target` of [[faults]], from the fault-kind registry."""
    dns = ", ".join(f"`{k.name}`" for k in KINDS.values() if k.target is Target.DNS)
    return (_F("faults", "kind", "string", "required", ", ".join(f"`{k}`" for k in KINDS) + "."),
            _F("faults", "target", "IP or DNS name", "required", f"A server address; a DNS name for {dns}."))


def _fault_own_fields() -> tuple[Field, ...]:
    """The kinds' own fields (error, stage, reply, ...), each with the kinds that take it, from the registry."""
    names: dict[str, list[tuple[str, FaultField]]] = {}
    for kind in KINDS.values():
        for spec in kind.fields:
            names.setdefault(spec.name, []).append((kind.name, spec))
    out = []
    for name, users in names.items():
        kinds = "string" if all(spec.choices is not None for _, spec in users) else "SMTP reply"
        defaults = " / ".join(dict.fromkeys(f'"{spec.default}"' if spec.default is not None else "required"
                                            for _, spec in users))
        meaning = "; ".join(f"`{k}`: " + (", ".join(f"`{c}`" for c in spec.choices) if spec.choices is not None
                                          else spec.meaning) for k, spec in users)
        out.append(_F("faults", name, kinds, defaults, meaning + "."))
    return tuple(out)


FIELDS: tuple[Field, ...] = (
    _F("", "scenario", "table", "required", "Name, story, seed, start and length of the run."),
    _F("", "tenant", "table", "defaults", "The tenant's domain, message lifetime, retry schedule, notices."),
    _F("", "connectors", "array of tables", "at least one", "Outbound connectors."),
    _F("", "dns", "table", "empty", "The DNS zones the simulated resolvers answer from."),
    _F("", "servers", "array of tables", "none", "Destination SMTP servers."),
    _F("", "traffic", "array of tables", "none", "Mail arriving for the connectors."),
    _F("", "faults", "array of tables", "none", "Injected failures on a schedule."),
    _F("", "actions", "array of tables", "none", "Admin actions at given times."),
    _F("", "alerts", "table", "defaults", "Alert evaluation settings."),
    _F("", "tests", "array of tables", "none", "Expectations checked by `mfi-sim test`."),
    _F("scenario", "name", "string", "required", "Title shown by `list` and at the top of `run`."),
    _F("scenario", "description", "string", '""', "The story: what broke, what the service does, what the admin sees."),
    _F("scenario", "seed", "integer", "1", "Seed of every random stream (override with `--seed`)."),
    _F("scenario", "start", "ISO-8601 time", "2026-01-05T08:00:00Z", "Wall-clock instant of simulated time 0."),
    _F("scenario", "duration", "duration", "24h", "Length of the run (override with `--duration`)."),
    _F("tenant", "domain", "string", "contoso.onmicrosoft.com", "The tenant's own domain (senders, postmaster)."),
    _F("tenant", "message_expiration", "duration", "the preset's (24h)", "Lifetime of a queued message."),
    _F("tenant", "retry", "preset or list of durations", "exchange-online",
       "`exchange-online`, `exchange-server`, `postfix`, `exim`, or intervals whose last one repeats."),
    _F("tenant", "delay_notification", 'duration or "off"', "the preset's (4h)", "When a delay DSN goes to the sender."),
    _F("tenant", "propagation_delay", "duration", "drawn in 30m..1h", "How long a tenant configuration change (connector on/off, smart hosts, accepted domain, Fix now) takes to take effect; by default drawn uniformly between 30 min and 1 h from the run's seed (was `fix_now_delay`)."),
    _F("tenant", "inbound_host", "host name", "none", "The tenant's own inbound host (e.g. contoso-com.mail.protection.outlook.example): a domain whose MX is this host sends mail back to the service, so with its connector off that mail loops (554 5.4.14)."),
    _F("connectors", "name", "string", "required", "Connector name (unique)."),
    _F("connectors", "smart_hosts", "list of names or IPs", "—", "Smart hosts, tried in order (or use_mx)."),
    _F("connectors", "use_mx", "boolean", "false", "Route by the recipient domain's MX records instead."),
    _F("connectors", "port", "integer", "25", "Destination TCP port."),
    _F("connectors", "recipient_domains", "list of domains", "required", "Domains this connector carries."),
    _F("connectors", "tls", "string", '"None"', "`None` (opportunistic), `EncryptionOnly`, `CertificateValidation`, `DomainValidation`."),
    _F("connectors", "tls_domain", "string", "—", "Name the certificate must carry (DomainValidation only)."),
    _F("connectors", "max_connections", "integer", "20", "Parallel connections (at most the server's `concurrency`)."),
    _F("connectors", "messages_per_connection", "integer", "20", "Messages one connection carries before it closes."),
    _F("connectors", "enabled", "boolean", "true", "Whether the connector is turned on."),
    _F("dns", "zone", "zone file text", "—", "One zone in master-file format ($ORIGIN, SOA required)."),
    _F("dns", "zones", "array of tables", "—", "Several zones, each `{ text = \"...\" }`."),
    _F("dns.zones", "text", "zone file text", "required", "One zone in master-file format."),
    _F("servers", "address", "IP address", "required", "Where the server listens."),
    _F("servers", "port", "integer", "25", "TCP port."),
    _F("servers", "hostname", "string", "the address", "Name in its greeting."),
    _F("servers", "starttls", "boolean", "true", "Whether EHLO offers STARTTLS."),
    _F("servers", "certificate", "table", "none", "The certificate it presents after STARTTLS."),
    _F("servers", "concurrency", "integer", "20", "Connections it accepts at once: caps the parallel connections of a connector whose route reaches it."),
    _F("servers", "service_time", "duration", "250ms", "Mean time to take one message (exponential)."),
    _F("servers", "replies", "table", "none", "Error replies it always gives, by stage (`banner`, `ehlo`, `starttls`, `mail`, `rcpt`, `data`)."),
    _F("servers.certificate", "names", "list of names", "required", "Subject and alternative names (wildcards allowed)."),
    _F("servers.certificate", "not_before", "ISO-8601 time", "always valid", "Start of validity."),
    _F("servers.certificate", "not_after", "ISO-8601 time", "never expires", "End of validity: it expires by itself then."),
    _F("servers.certificate", "trusted", "boolean", "true", "Whether it chains to a trusted root."),
    _F("traffic", "rate", "rate", "0", "Constant arrival rate, e.g. `600/h` (Poisson)."),
    _F("traffic", "profile", "list of 24 rates", "—", "Hourly rates instead of `rate`, repeating daily."),
    _F("traffic", "to", "domain", "first connector's first domain", "Recipient domain (picks the connector)."),
    _F("traffic", "recipients_per_message", "integer", "1", "Recipients on each message."),
    _F("traffic", "invalid_recipient_fraction", "number 0..1", "0", "Share of recipients the destination does not know."),
    _F("traffic", "message_size", "size", "60KB", "Message size."),
    _F("traffic", "bursts", "list of `{at, count}`", "none", "Extra messages arriving all at once."),
    _F("traffic", "start", "duration", "0s", "When the stream starts."),
    _F("traffic", "end", "duration", "the end", "When it stops."),
    _F("traffic.bursts", "at", "duration", "required", "When the burst arrives."),
    _F("traffic.bursts", "count", "integer", "required", "How many messages."),
    *_fault_head(),
    _F("faults", "start", "duration", "0s", "When it starts."),
    _F("faults", "duration", "duration", "—", "How long it lasts (or `end`; neither: to the end)."),
    _F("faults", "end", "duration", "—", "When it ends."),
    _F("faults", "probability", "number 0..1", "1.0", "Chance that it hits a given attempt."),
    *_fault_own_fields(),
    _F("actions", "at", "duration", "required", "When the admin acts."),
    _F("actions", "do", "string", "required", "`fix_now`, `disable_connector`, `enable_connector`, `set_smart_hosts`, `set_dns_record`, `renew_certificate`, `clear_fault`, `resolve_alert`, `set_tls`, `set_accepted_domain`."),
    _F("actions", "connector", "string", "—", "The connector (fix_now, disable/enable_connector, set_smart_hosts, set_tls)."),
    _F("actions", "smart_hosts", "list", "—", "New smart hosts (set_smart_hosts)."),
    _F("actions", "name", "DNS name", "—", "Record owner (set_dns_record)."),
    _F("actions", "type", "string", "—", "`A`, `MX` or `CNAME` (set_dns_record)."),
    _F("actions", "value", "string", "—", "Record data, e.g. `198.51.100.20` (set_dns_record)."),
    _F("actions", "ttl", "integer", "300", "Record TTL in seconds (set_dns_record)."),
    _F("actions", "target", "IP address", "—", "The server (renew_certificate)."),
    _F("actions", "not_after", "ISO-8601 time", "—", "New expiry (renew_certificate)."),
    _F("actions", "names", "list of names", "the old names", "New certificate names (renew_certificate)."),
    _F("actions", "fault", "integer", "—", "Index in `[[faults]]` (clear_fault)."),
    _F("actions", "after", "duration", "`[tenant] propagation_delay`", "Tenant configuration changes only: how long this one takes to take effect."),
    _F("actions", "domain", "domain", "—", "An accepted domain a connector carries (set_accepted_domain)."),
    _F("actions", "domain_type", "string", "—", "`Authoritative` (every recipient has a cloud mailbox: others are rejected with 5.1.10) or `InternalRelay` (the starting type of a connector's domains) (set_accepted_domain)."),
    _F("actions", "alert", "alert id or policy name", "—", "resolve_alert: an alert id such as `policy-1`, or a policy name to resolve every open alert of it."),
    _F("actions", "tls", "string", "—", "New TLS setting of the connector: `None`, `EncryptionOnly`, `CertificateValidation` or `DomainValidation` (set_tls)."),
    _F("actions", "tls_domain", "domain", "—", "The name the certificate must carry, with `DomainValidation` (set_tls)."),
    _F("alerts", "threshold", "integer >= 200", "2000", "Messages queued over `queued_for` that raise the policy alert."),
    _F("alerts", "queued_for", "duration", "1h", "How long a message must wait to count."),
    _F("alerts", "evaluate_every", "duration", "5m", "Evaluation cadence."),
    _F("alerts", "aggregation", "duration", "15m", "With `auto_resolve`, a match this soon after the alert resolved reopens it."),
    _F("alerts", "scope", "string", '"tenant"', "What the policy counts: `tenant` (all connectors together) or `connector` (each on its own)."),
    _F("alerts", "auto_resolve", "boolean", "false", "Resolve the policy alert as soon as its condition clears (otherwise it stays Active until `resolve_alert`)."),
    _F("tests", "name", "string", "test N", "Shown in the results."),
    _F("tests", "eval_time", "duration", "required*", "When to look (*an alert test with only whole-run "
       "expectations may leave it out)."),
    _F("tests", "alert", "string", "—", "A code, a policy name, or `insight` / `policy` (or give `metric`)."),
    _F("tests", "expect", "string", '"firing"', "`firing` or `not_firing`."),
    _F("tests", "match", "string", '"subset"', "`subset`, or `exact` to require every label."),
    _F("tests", "connector", "string", "—", "Restrict to one connector."),
    _F("tests", "raised_within", "two durations", "—", "The first matching alert was raised in this window, "
       "e.g. `[\"3h\", \"3h10m\"]`."),
    _F("tests", "resolved_within", "two durations", "—", "The first matching alert was resolved in this window."),
    _F("tests", "count", "integer", "—", "How many alerts matched the selector and labels over the whole run."),
    _F("tests", "notifications", "integer", "—", "How many admin notifications the matching alerts sent."),
    _F("tests", "metric", "string", "—", "`queued`, `delivered`, `ndr`, `rejected`, `received`, `queue_status`, or "
       "a latency percentile of delivered messages: `latency_p50`, `latency_p95`, `latency_p99`, `latency_max`."),
    _F("tests", "value", "number, status or duration", "required with metric", "Expected value (a latency in "
       "seconds or as a duration, `\"2h\"`)."),
    _F("tests", "tolerance", "number or duration", "0", "Allowed difference for a metric."),
    _F("tests", "kind", "string", "—", "Alert field to match: `insight` or `policy`."),
    _F("tests", "policy", "string", "—", "Alert field to match: the policy name."),
    _F("tests", "code", "string", "—", "Alert field to match, e.g. `450 4.4.316`."),
    _F("tests", "title", "string", "—", "Alert field to match."),
    _F("tests", "severity", "string", "—", "Alert field to match (`High` for the policy)."),
    _F("tests", "category", "string", "—", "Alert field to match (`Mail flow`)."),
    _F("tests", "destination", "string", "—", "Alert field to match: the destination server."),
    _F("tests", "last_ip", "string", "—", "Alert field to match."),
    _F("tests", "fix_now", "boolean", "—", "Alert field to match."),
    _F("tests", "queued_messages", "integer", "—", "Alert field to match."),
    _F("tests", "aged_messages", "integer", "—", "Alert field to match."),
    _F("tests", "last_error", "string", "—", "Alert field to match."),
    _F("tests", "id", "string", "—", "Alert field to match, e.g. `insight-1`."),
    _F("tests", "status", "string", "—", "Alert field to match: `Active` or `Resolved` at `eval_time`. With "
       "`metric = \"ndr\"`: count only NDRs with this RFC 3463 status, e.g. `5.4.316`."),
)

_BY_TABLE: dict[str, frozenset[str]] = {}
for _f in FIELDS:
    _BY_TABLE[_f.table] = _BY_TABLE.get(_f.table, frozenset()) | {_f.name}


def allowed(table: str) -> frozenset[str]:
    """Field names a table may hold."""
    return _BY_TABLE.get(table, frozenset())


def markdown_table() -> str:
    """The reference table for the README."""
    lines = ["| table | field | value | default | meaning |", "|---|---|---|---|---|"]
    for f in FIELDS:
        where = "(top level)" if not f.table else f"`[{f.table}]`"
        lines.append(f"| {where} | `{f.name}` | {f.kind} | {f.default} | {f.meaning} |")
    return "\n".join(lines) + "\n"


def update_readme(path: Path) -> bool:
    """Rewrites the table between the markers; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{markdown_table()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False

