"""The scenario as frozen, validated objects; times are seconds from the scenario start (SPEC 2.2)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TLS_MODES = ("None", "EncryptionOnly", "CertificateValidation", "DomainValidation")
ACTION_KINDS = ("fix_now", "disable_connector", "enable_connector", "set_smart_hosts", "set_dns_record",
                "renew_certificate", "clear_fault", "resolve_alert", "set_tls", "set_accepted_domain")
DOMAIN_TYPES = ("Authoritative", "InternalRelay")      # Set-AcceptedDomain -DomainType
ALERT_SCOPES = ("tenant", "connector")
LATENCY_METRICS = ("latency_p50", "latency_p95", "latency_p99", "latency_max")   # delivered messages, seconds
METRICS = ("queued", "delivered", "ndr", "rejected", "queue_status", "received") + LATENCY_METRICS
QUEUE_STATUSES = ("Ready", "Active", "Retry", "Suspended")


@dataclass(frozen=True, slots=True)
class Tenant:
    domain: str
    message_expiration: float
    retry: str | tuple[str, ...]
    delay_notification: float | None
    propagation_delay: float | None = None   # tenant configuration changes; None: drawn from the run's seed
    inbound_host: str | None = None     # the tenant's own inbound host name (its MX when mail comes to the service)
    policy: Any = field(default=None, compare=False, repr=False)
    """The retry policy `retry` names (retry.RetryPolicy), parsed once by the loader."""


@dataclass(frozen=True, slots=True)
class Connector:
    name: str
    smart_hosts: tuple[str, ...]
    use_mx: bool
    port: int
    recipient_domains: tuple[str, ...]
    tls: str
    tls_domain: str | None
    max_connections: int
    messages_per_connection: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class Certificate:
    names: tuple[str, ...]
    not_before: float
    not_after: float
    trusted: bool


@dataclass(frozen=True, slots=True)
class Server:
    address: str
    port: int
    hostname: str
    starttls: bool
    certificate: Certificate | None
    concurrency: int
    service_time: float
    replies: tuple[tuple[str, str], ...] = ()   # (stage, reply) the server always gives


@dataclass(frozen=True, slots=True)
class Traffic:
    rate: float                          # messages per second (constant)
    profile: tuple[float, ...] | None    # 24 hourly rates, messages per second, repeating daily
    to: str
    recipients_per_message: int
    invalid_recipient_fraction: float
    message_size: int
    bursts: tuple[tuple[float, int], ...]
    start: float = 0.0
    end: float | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    target: str
    start: float
    end: float | None
    probability: float
    error: str | None = None     # dns_failure
    stage: str | None = None     # connection_closed, smtp_reply
    reply: str | None = None     # smtp_reply


@dataclass(frozen=True, slots=True)
class Action:
    at: float
    do: str
    connector: str | None = None
    smart_hosts: tuple[str, ...] = ()
    name: str | None = None
    type: str | None = None
    value: str | None = None
    ttl: int = 300
    target: str | None = None
    not_after: float | None = None
    names: tuple[str, ...] | None = None
    fault: int | None = None
    alert: str | None = None     # resolve_alert: an alert id (policy-1) or a policy name
    after: float | None = None   # tenant configuration changes: the propagation delay of this one
    domain: str | None = None    # set_accepted_domain
    domain_type: str | None = None   # set_accepted_domain: Authoritative or InternalRelay
    tls: str | None = None       # set_tls: one of TLS_MODES
    tls_domain: str | None = None   # set_tls with DomainValidation


@dataclass(frozen=True, slots=True)
class AlertSettings:
    threshold: int = 2000
    queued_for: float = 3600.0
    evaluate_every: float = 300.0
    aggregation: float = 900.0
    scope: str = "tenant"          # the policy counts across the tenant's connectors, or per "connector"
    auto_resolve: bool = False     # resolve the policy alert as soon as its condition clears


@dataclass(frozen=True, slots=True)
class TestCase:
    """One [[tests]] entry: an alert test (firing at eval_time, and/or over the whole run) or a metric test."""

    name: str
    eval_time: float | None
    alert: str | None = None
    expect: str = "firing"
    match: str = "subset"
    labels: tuple[tuple[str, object], ...] = ()
    metric: str | None = None
    connector: str | None = None
    value: object = None
    tolerance: float = 0.0
    raised_within: tuple[float, float] | None = None     # the first matching alert was raised in [low, high]
    resolved_within: tuple[float, float] | None = None   # ... and resolved in [low, high]
    count: int | None = None                             # alerts matching over the whole run
    notifications: int | None = None                     # notifications sent for the matching alerts
    status: str | None = None                            # metric "ndr": only NDRs with this RFC 3463 status

    __test__ = False  # not a pytest class


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    seed: int
    start: datetime
    duration: float
    tenant: Tenant
    connectors: tuple[Connector, ...]
    zones: tuple[str, ...]
    servers: tuple[Server, ...]
    traffic: tuple[Traffic, ...]
    faults: tuple[Fault, ...] = ()
    actions: tuple[Action, ...] = ()
    alerts: AlertSettings = field(default_factory=AlertSettings)
    tests: tuple[TestCase, ...] = ()
    source: str = "<scenario>"
    parsed_zones: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    """The `zones` texts as dnspython zones, parsed once by the loader (runs work on their own copies)."""

    def traffic_positions(self, connector: Connector) -> tuple[int, ...]:
        """Positions in [[traffic]] of the tables routed to `connector` (whose `to` is one of its recipient
        domains), in file order: a message's stream number on that connector indexes this tuple."""
        return tuple(i for i, t in enumerate(self.traffic) if t.to in connector.recipient_domains)

    def connector(self, name: str) -> Connector:
        """The connector called `name`; KeyError if there is none."""
        for c in self.connectors:
            if c.name == name:
                return c
        raise KeyError(name)
