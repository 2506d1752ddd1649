"""TOML scenario files -> frozen Scenario objects, validated once, with errors that name file, line and field."""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import replace
from datetime import datetime
from typing import Any

from pathlib import Path

from ..errors import ScenarioError
from ..escaping import echo
from ..faults import KINDS, REPLY_STAGES
from ..units import format_duration, parse_instant, parse_rate, parse_size
from . import limits, references
from . import schema as s
from .fields import allowed
from .expectations import read_tests
from .files import bundled_names, bundled_path, read_text, resolve_path
from .names import is_ip, name_field, names_field
from .reader import MISSING, Context, Reader, describe

__all__ = ["parse_toml", "loads_scenario", "scenario_from_data", "load_scenario", "bundled_names",
           "bundled_path", "resolve_path", "read_text", "check_size"]

_LINE_IN_MESSAGE = re.compile(r"at line (\d+)")


# ---------------------------------------------------------------------------------------------- sections
def _tenant(r: Reader) -> s.Tenant:
    from ..retry import get_policy, preset_defaults

    domain = r.text("domain", "contoso.onmicrosoft.com")
    retry = r.raw("retry", "exchange-online")
    if isinstance(retry, list):
        if not all(isinstance(v, str) for v in retry):
            raise r.error("retry", "expected a preset name or a list of durations")
        retry = tuple(retry)
    elif not isinstance(retry, str):
        raise r.error("retry", f"expected a preset name or a list of durations, got {describe(retry)}")
    try:
        policy = get_policy(list(retry) if isinstance(retry, tuple) else retry)
        defaults = preset_defaults(list(retry) if isinstance(retry, tuple) else retry)
    except ValueError as exc:
        raise r.error("retry", str(exc)) from None
    if isinstance(retry, tuple):
        if len(retry) > 100:
            raise r.error("retry", "at most 100 durations (the last one repeats)")
        shortest = min(policy.intervals)   # type: ignore[attr-defined]
        if shortest < limits.MIN_RETRY_INTERVAL:
            raise r.error("retry", f"every wait must be at least {limits.MIN_RETRY_INTERVAL:g}s")
    expiration = r.duration("message_expiration", defaults.expiration, positive=True)
    delay = r.raw("delay_notification", None)
    if delay is None:
        delay_s = defaults.delay_notification
    elif delay == "off":
        delay_s = None
    else:
        delay_s = r.duration("delay_notification", positive=True)
    if "fix_now_delay" in r.data:
        raise r.error("fix_now_delay", "renamed propagation_delay: it now delays every tenant configuration "
                                       "change (connectors, smart hosts, accepted domains, Fix now)")
    propagation = r.duration("propagation_delay", None)
    inbound = r.text("inbound_host", None)
    inbound_host = name_field(r, "inbound_host", inbound) if inbound is not None else None
    r.done()
    return s.Tenant(domain=name_field(r, "domain", domain), message_expiration=expiration, retry=retry,
                    delay_notification=delay_s, propagation_delay=propagation, policy=policy,
                    inbound_host=inbound_host)


def _connector(r: Reader) -> s.Connector:
    name = r.text("name")
    use_mx = r.boolean("use_mx", False)
    hosts = r.strings("smart_hosts", ())
    if use_mx and hosts:
        raise r.error("smart_hosts", "give either smart_hosts or use_mx = true, not both")
    if not use_mx and not hosts:
        raise r.error("smart_hosts", "a connector needs smart_hosts, or use_mx = true")
    domains = r.strings("recipient_domains")
    if use_mx and len(domains) > 1:
        raise r.error("recipient_domains", "a connector with use_mx = true routes one domain (the service keeps a "
                                           "queue per next-hop domain); use one connector per domain")
    tls, tls_domain = _tls(r, "None")
    c = s.Connector(name=name, smart_hosts=names_field(r, "smart_hosts", hosts, ip=True), use_mx=use_mx,
                    port=r.integer("port", 25, 1, 65535), recipient_domains=names_field(r, "recipient_domains", domains),
                    tls=tls, tls_domain=tls_domain,
                    max_connections=r.integer("max_connections", 20, 1, limits.MAX_CONNECTIONS),
                    messages_per_connection=r.integer("messages_per_connection", 20, 1, 100000),
                    enabled=r.boolean("enabled", True))
    r.done()
    return c


def _tls(r: Reader, default: Any = MISSING) -> tuple[str, str | None]:
    """A connector's TLS setting, and the domain its certificate must name with DomainValidation."""
    tls = r.choice("tls", s.TLS_MODES, default)
    tls_domain = r.text("tls_domain", None)
    if tls == "DomainValidation" and not tls_domain:
        raise r.error("tls_domain", "DomainValidation needs tls_domain")
    if tls != "DomainValidation" and tls_domain:
        raise r.error("tls_domain", "only used with tls = \"DomainValidation\"")
    return tls, name_field(r, "tls_domain", tls_domain) if tls_domain else None


def _certificate(r: Reader, start: Any) -> s.Certificate:
    def offset(key: str, default: float) -> float:
        if key not in r.data:
            r.seen.add(key)
            return default
        return float((r.parsed(key, parse_instant) - start).total_seconds())

    names = r.strings("names")
    cert = s.Certificate(names=names_field(r, "names", names, wildcard=True), not_before=offset("not_before", -math.inf),
                         not_after=offset("not_after", math.inf), trusted=r.boolean("trusted", True))
    if cert.not_after <= cert.not_before:
        raise r.error("not_after", "must be later than not_before")
    r.done()
    return cert


def _server(r: Reader, start: Any) -> s.Server:
    address = r.text("address").strip()
    if not is_ip(address):
        raise r.error("address", f"expected an IP address, got {address!r}")
    cert_raw = r.raw("certificate", None)
    certificate = _certificate(r.sub("certificate"), start) if cert_raw is not None else None
    replies_r = r.sub("replies")
    replies = []
    for stage in list(replies_r.data):
        if stage not in REPLY_STAGES:
            raise replies_r.error(stage, f"unknown stage; use one of {', '.join(REPLY_STAGES)}")
        replies.append((stage, _reply(replies_r, stage)))
    hostname = r.text("hostname", address)
    service_time = r.duration("service_time", 0.25, positive=True)
    if service_time < limits.MIN_SERVICE_TIME:
        raise r.error("service_time", f"must be at least {limits.MIN_SERVICE_TIME * 1000:g}ms")
    server = s.Server(address=address, port=r.integer("port", 25, 1, 65535),
                      hostname=name_field(r, "hostname", hostname, ip=True),
                      starttls=r.boolean("starttls", True), certificate=certificate,
                      concurrency=r.integer("concurrency", 20, 1, 100000),
                      service_time=service_time, replies=tuple(replies))
    r.done()
    return server


_REPLY = re.compile(r"^([2345])\d\d[ -]")


def _reply(r: Reader, key: str) -> str:
    text: str = r.text(key)
    if not _REPLY.match(text + " ") or text[0] == "2" or text[0] == "3" or not text.isascii():
        raise r.error(key, f"expected an SMTP error reply (ASCII, RFC 5321) such as '550 5.7.1 Rejected', "
                           f"got {echo(text, 40)}")
    return text.strip()


def _traffic(r: Reader, default_to: str) -> s.Traffic:
    profile_raw = r.raw("profile", None)
    profile = None
    rate = 0.0
    if profile_raw is not None:
        if "rate" in r.data:
            raise r.error("profile", "give either rate or profile, not both")
        if not isinstance(profile_raw, list) or len(profile_raw) != 24:
            raise r.error("profile", "expected a list of 24 hourly rates")
        values = []
        for i, item in enumerate(profile_raw):
            try:
                values.append(parse_rate(item) if isinstance(item, str) else _nonneg(item) / 3600.0)
            except ValueError as exc:
                raise r.error("profile", f"entry {i}: {exc}") from None
        profile = tuple(values)
    else:
        rate = r.parsed("rate", parse_rate, 0.0)
    to = name_field(r, "to", r.text("to", default_to))
    bursts = []
    for b in r.tables("bursts"):
        bursts.append((b.duration("at"), b.integer("count", low=1, high=limits.MAX_MESSAGES)))
        b.done()
    t = s.Traffic(rate=rate, profile=profile, to=to,
                  recipients_per_message=r.integer("recipients_per_message", 1, 1, 1000),
                  invalid_recipient_fraction=r.number("invalid_recipient_fraction", 0.0, 0.0, 1.0),
                  message_size=r.parsed("message_size", parse_size, 60 * 1024),
                  bursts=tuple(sorted(bursts)), start=r.duration("start", 0.0), end=r.duration("end", None))
    r.done()
    return t


def _nonneg(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"expected a rate such as '600/h' or a number per hour, got {value!r}")
    return float(value)


def _fault(r: Reader) -> s.Fault:
    kind = r.choice("kind", tuple(KINDS))
    target = name_field(r, "target", r.text("target"), ip=True)
    start = r.duration("start", 0.0)
    if "duration" in r.data and "end" in r.data:
        raise r.error("end", "give duration or end, not both")
    end = None
    if "duration" in r.data:
        end = start + r.duration("duration", positive=True)
    elif "end" in r.data:
        end = r.duration("end")
        if end <= start:
            raise r.error("end", f"the fault ends ({format_duration(end)}) before it starts "
                                 f"({format_duration(start)})")
    own: dict[str, str | None] = {"error": None, "stage": None, "reply": None}
    for spec in KINDS[kind].fields:        # each kind's own fields, from the registry (faults.py)
        own[spec.name] = (_reply(r, spec.name) if spec.choices is None
                          else r.choice(spec.name, spec.choices, MISSING if spec.default is None else spec.default))
    error, stage, reply = own["error"], own["stage"], own["reply"]
    f = s.Fault(kind=kind, target=target, start=start, end=end,
                probability=r.number("probability", 1.0, 0.0, 1.0), error=error, stage=stage, reply=reply)
    r.done()
    return f


def _action(r: Reader, start: datetime, duration: float) -> s.Action:
    """One [[actions]] entry; `after` (the propagation delay of one tenant configuration change) is checked
    here and set on the action its own fields built."""
    from ..actions import propagates

    do = r.choice("do", s.ACTION_KINDS)
    after = r.duration("after", None)
    if after is not None and not propagates(do):
        raise r.error("after", f"{do} takes effect at once: only tenant configuration changes (connectors, "
                               "smart hosts, accepted domains, Fix now) have a propagation delay")
    a = _action_fields(r, start, duration, do)
    r.done()
    return replace(a, after=after) if after is not None else a


def _action_fields(r: Reader, start: datetime, duration: float, do: str) -> s.Action:
    at = r.duration("at")
    if at > duration:   # an instant outside the run is a mistake, not a silent no-op (a fix that never happens)
        raise r.error("at", f"{format_duration(at)} is after the end of the run ({format_duration(duration)})")
    if do in ("fix_now", "disable_connector", "enable_connector"):
        a = s.Action(at=at, do=do, connector=r.text("connector"))
    elif do == "set_smart_hosts":
        a = s.Action(at=at, do=do, connector=r.text("connector"),
                     smart_hosts=names_field(r, "smart_hosts", r.strings("smart_hosts"), ip=True))
    elif do == "set_dns_record":
        rdtype = r.choice("type", ("A", "MX", "CNAME"))
        a = s.Action(at=at, do=do, name=name_field(r, "name", r.text("name")), type=rdtype, value=r.text("value"),
                     ttl=r.integer("ttl", 300, 0, 2 ** 31 - 1))
    elif do == "renew_certificate":
        names = r.strings("names", None)
        not_after = (r.parsed("not_after", parse_instant) - start).total_seconds()
        a = s.Action(at=at, do=do, target=r.text("target").strip(), not_after=not_after,
                     names=names_field(r, "names", names, wildcard=True) if names else None)
    elif do == "resolve_alert":
        a = s.Action(at=at, do=do, alert=_alert_selector(r))
    elif do == "set_accepted_domain":
        a = s.Action(at=at, do=do, domain=name_field(r, "domain", r.text("domain")),
                     domain_type=r.choice("domain_type", s.DOMAIN_TYPES))
    elif do == "set_tls":
        tls, tls_domain = _tls(r)
        a = s.Action(at=at, do=do, connector=r.text("connector"), tls=tls, tls_domain=tls_domain)
    else:
        a = s.Action(at=at, do=do, fault=r.integer("fault", low=0))
    return a


def _alert_selector(r: Reader) -> str:
    """resolve_alert's `alert`: an alert id such as `policy-1`, or the name of a registered alert rule."""
    from .. import alerts

    text: str = r.text("alert").strip()
    kinds = sorted({e.kind for e in alerts.RULES.values()})
    if text in alerts.RULES or re.fullmatch(rf"(?:{'|'.join(kinds)})-[1-9][0-9]*", text):
        return text
    raise r.error("alert", f"expected an alert id such as 'policy-1' or a policy name "
                           f"({', '.join(repr(n) for n in alerts.RULES)}), got {text!r}")


def _alerts(r: Reader) -> s.AlertSettings:
    a = s.AlertSettings(threshold=r.integer("threshold", 2000, 200),
                        queued_for=r.duration("queued_for", 3600.0, positive=True),
                        evaluate_every=r.duration("evaluate_every", 300.0, low=limits.MIN_EVALUATE_EVERY),
                        aggregation=r.duration("aggregation", 900.0),
                        scope=r.choice("scope", s.ALERT_SCOPES, "tenant"),
                        auto_resolve=r.boolean("auto_resolve", False))
    r.done()
    return a


# ---------------------------------------------------------------------------------------------- top level
def parse_toml(text: str, source: str = "<scenario>") -> dict[str, Any]:
    """The TOML document as plain data; ScenarioError with the line when it is not valid TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _LINE_IN_MESSAGE.search(str(exc))
        raise ScenarioError(f"not valid TOML: {str(exc).split(' (at')[0]}", file=source,
                            line=int(m.group(1)) if m else None) from None
    except RecursionError:
        data = None                  # the parser itself ran out of stack: certainly too deep
    if data is None or limits.nesting_depth(data) > limits.MAX_NESTING:
        raise ScenarioError(f"arrays and tables nest deeper than the limit of {limits.MAX_NESTING} levels",
                            file=source)
    return data


def loads_scenario(text: str, source: str = "<scenario>", max_messages: int = limits.MAX_MESSAGES) -> s.Scenario:
    """Parses and validates scenario text; raises ScenarioError naming source, line and field."""
    return scenario_from_data(parse_toml(text, source), source, text, max_messages=max_messages)


def load_scenario(ref: str | Path, max_messages: int = limits.MAX_MESSAGES) -> s.Scenario:
    """Reads a scenario by path or bundled name; ScenarioError on any problem, never another exception."""
    return loads_scenario(read_text(ref), str(ref), max_messages)


def check_size(sc: s.Scenario, duration: float | None = None, max_messages: int = limits.MAX_MESSAGES) -> None:
    """Refuses a run (of `duration`, else the scenario's) longer than MAX_DURATION or expected to bring more
    than `max_messages` messages, before any memory is spent on it; ScenarioError saying the limit."""
    duration = sc.duration if duration is None else duration
    if duration > limits.MAX_DURATION:
        raise ScenarioError(f"must be at most {limits.MAX_DURATION / 86400:g} days, got {duration / 86400:g} days",
                            file=sc.source, field="scenario.duration")
    expected = limits.expected_messages(sc.traffic, duration)
    if expected > max_messages:
        raise ScenarioError(f"about {expected:.3g} messages expected in {duration / 3600:g} h, over the limit of "
                            f"{max_messages:,} (lower rates, bursts or duration; `run --max-messages N` "
                            "raises the limit)", file=sc.source, field="traffic")


def scenario_from_data(data: dict[str, Any], source: str = "<scenario>", text: str = "",
                       used: set[tuple[str, str]] | None = None, max_messages: int = limits.MAX_MESSAGES) -> s.Scenario:
    """Validates parsed scenario data (e.g. a file's data with sweep overrides) into a Scenario.
    `used`, if given, collects the (table, field) pairs the data contained."""
    ctx = Context(source, text, used)
    top = Reader(data, "", ctx, "")
    name, description, seed, start, duration = _scenario_table(top.sub("scenario"))
    tenant = _tenant(top.sub("tenant"))
    connectors = tuple(_connector(r) for r in top.tables("connectors"))
    if not connectors:
        raise ctx.error("connectors", "at least one [[connectors]] table is needed")
    _unique(ctx, [c.name for c in connectors], "connectors", "name")
    routed = references.routed_domains(ctx, connectors)
    zones, parsed, resolver = _zones(top.sub("dns"))
    names = resolver.names()
    servers = tuple(_server(r, start) for r in top.tables("servers"))
    _unique(ctx, [f"{sv.address}:{sv.port}" for sv in servers], "servers", "address")
    addresses = {sv.address for sv in servers}
    references.check_smart_hosts(ctx, connectors, names, addresses)
    traffic = tuple(_traffic(r, connectors[0].recipient_domains[0]) for r in top.tables("traffic"))
    references.check_traffic(ctx, traffic, routed)
    faults = tuple(_fault(r) for r in top.tables("faults"))
    references.check_faults(ctx, faults, names, addresses)
    actions = tuple(sorted((_action(r, start, duration) for r in top.tables("actions")), key=lambda a: a.at))
    references.check_actions(ctx, actions, connectors, addresses, len(faults), resolver)
    alerts = _alerts(top.sub("alerts"))
    scenario = s.Scenario(name=name, description=description.strip(), seed=seed, start=start, duration=duration,
                          tenant=tenant, connectors=connectors, zones=tuple(zones), servers=servers,
                          traffic=traffic, faults=faults, actions=actions, alerts=alerts, source=source,
                          parsed_zones=parsed)
    scenario = replace(scenario, tests=read_tests(top, ctx, scenario))
    top.done()
    check_size(scenario, max_messages=max_messages)
    return scenario


def _scenario_table(sc: Reader) -> tuple[str, str, int, datetime, float]:
    """[scenario]: name, description, seed, start and duration."""
    name = sc.text("name")
    description = sc.text("description", "", limit=limits.MAX_DESCRIPTION, lines=True)
    seed = sc.integer("seed", 1, 0, 2 ** 63 - 1)
    start = sc.parsed("start", parse_instant, None)
    if start is None:
        start = parse_instant("2026-01-05T08:00:00Z")
    if not 1970 <= start.year <= 9000:
        raise sc.error("start", f"must be between the years 1970 and 9000, got {start.year}")
    duration = sc.duration("duration", 86400.0, positive=True)
    if duration > limits.MAX_DURATION:
        raise sc.error("duration", f"must be at most {limits.MAX_DURATION / 86400:g} days (a month)")
    sc.done()
    return name, description, seed, start, duration


def _zones(r: Reader) -> tuple[list[str], tuple[Any, ...], Any]:
    """The zone texts of [dns] and the zones parsed from them, once, for every run of the scenario; a
    text over the record limit is refused before dnspython expands it."""
    texts: list[tuple[str, str]] = []
    if "zone" in r.data:
        texts.append(("zone", r.text("zone", limit=None, lines=True)))
    for i, z in enumerate(r.tables("zones")):
        texts.append((f"zones[{i}].text", z.text("text", limit=None, lines=True)))
        z.done()
    r.done()
    records = sum(limits.zone_records(text) for _, text in texts)
    if records > limits.MAX_ZONE_RECORDS:
        raise r.error(texts[-1][0], f"the zones make about {records:,} records, over the limit of "
                                    f"{limits.MAX_ZONE_RECORDS:,}")
    from ..world.zones import parse_zone
    parsed = []
    origins: dict[Any, str] = {}
    for number, (key, text) in enumerate(texts, start=1):
        try:
            zone = parse_zone(text, number)
        except ValueError as exc:
            raise r.error(key, str(exc)) from None
        if zone.origin in origins:
            raise r.error(key, f"zone {str(zone.origin)!r} is given twice (also in {origins[zone.origin]})")
        origins[zone.origin] = key
        parsed.append(zone)
    from ..world.dns import ZoneResolver
    try:
        resolver = ZoneResolver(parsed)
    except ValueError as exc:
        raise r.error(texts[-1][0] if texts else "zone", str(exc)) from None
    return [text for _, text in texts], tuple(parsed), resolver


def _unique(ctx: Context, values: list[str], table: str, key: str) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ctx.error(f"{table}[{i}].{key}", f"{v!r} appears twice", table, i, key)
        seen.add(v)
