"""Admin actions: one small handler per kind, in a registry keyed by the action's `do` (SPEC 1.4).

`take(ctx, action, now)` is the one way an action happens, whether it comes from [[actions]] or is taken live
(the console): it asks the handler whether the service refuses it now (Fix now exists only in an insight that
shows 450 4.4.316), records the click in the timeline and in the run's action log, and applies the change at
once (destination side: DNS, certificates, faults; alert resolution) or after the tenant's propagation delay
(tenant configuration: connectors, smart hosts, TLS settings, Fix now), which the seed puts at "typically between 30 minutes
and one hour". A refused action changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .alerts import ADMIN, INSIGHT_NAME, AlertBook
from .faults import FaultSchedule, kind_words
from .records import Recorder
from .scenario.schema import Action, Scenario
from .units import format_duration, iso_at
from .world.state import WorldState

__all__ = ["ActionRecord", "ActionContext", "ActionKind", "KINDS", "ACCEPTED", "REFUSED", "take", "invalid",
           "propagates", "PROPAGATION_RANGE"]

ACCEPTED, REFUSED = "accepted", "refused"
#: The seed: tenant configuration changes "typically" take "between 30 minutes and one hour" to take effect.
PROPAGATION_RANGE = (1800.0, 3600.0)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One admin action as the run saw it: when, what, on what, accepted or refused (why), when it took effect."""

    at_s: float
    do: str
    connector: str | None
    target: str | None
    status: str
    reason: str | None
    effective_s: float | None


class ConnectorQueueLike(Protocol):
    """What the actions change on a connector's queue."""

    name: str

    def apply_fix_now(self, t: float) -> None: ...

    def set_enabled(self, on: bool) -> None: ...

    def set_smart_hosts(self, hosts: tuple[str, ...]) -> None: ...

    def set_tls(self, tls: str, tls_domain: str | None) -> None: ...


class ActionContext(Protocol):
    """The run as the actions see it (the engine provides it)."""

    scenario: Scenario
    world: WorldState
    faults: FaultSchedule
    alerts: AlertBook
    recorder: Recorder
    propagation_delay: float

    def queue(self, name: str) -> ConnectorQueueLike | None: ...

    def later(self, at: float, effect: Callable[[float], None]) -> None:
        """Runs `effect(t)` at instant `at` (after the queues have been brought to it)."""

    def watch_certificate(self, address: str, not_after: float) -> None:
        """Notes the expiry of a newly installed certificate when the clock reaches it."""

    def set_accepted_domain(self, domain: str, domain_type: str) -> None:
        """Changes an accepted domain's type; every queue routes its mail for that domain anew."""


class ActionKind(Protocol):
    """One kind of admin action: whether it is tenant configuration (propagates), whether the service refuses
    it now, what the admin did (for the timeline), and its effect."""

    propagates: bool

    def refusal(self, ctx: ActionContext, action: Action) -> str | None: ...

    def describe(self, ctx: ActionContext, action: Action) -> str: ...

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None: ...


def _queue(ctx: ActionContext, action: Action) -> ConnectorQueueLike:
    q = ctx.queue(action.connector or "")
    assert q is not None, "checked by invalid()"
    return q


# ---------------------------------------------------------------------------------------------- tenant side
class NeverRefused:
    """An action kind the service always accepts (only Fix now and resolving an alert can be refused)."""

    def refusal(self, ctx: ActionContext, action: Action) -> str | None:
        return None


class FixNow:
    """Fix now in the insight: only while the connector's insight shows 450 4.4.316 (the seed: the button is in
    that alert). The queue's reaction is the queue's (`apply_fix_now`)."""

    propagates = True

    def refusal(self, ctx: ActionContext, action: Action) -> str | None:
        insight = ctx.alerts.current(INSIGHT_NAME, action.connector or "")
        if insight is None:
            return f"Fix now is not offered: no insight is shown for '{action.connector}'"
        if not insight.fix_now:
            return f"Fix now is not offered for {insight.code or 'a queue with no error'}"
        return None

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return f"Admin clicks Fix now on '{action.connector}'"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        _queue(ctx, action).apply_fix_now(t)


class SetEnabled(NeverRefused):
    """Turns a connector off or on."""

    propagates = True

    def __init__(self, on: bool) -> None:
        self.on = on

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return f"Admin turns connector '{action.connector}' {'on' if self.on else 'off'}"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        _queue(ctx, action).set_enabled(self.on)


class SetSmartHosts(NeverRefused):
    """Points a connector at new smart hosts (open connections finish first)."""

    propagates = True

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return f"Admin sets the smart hosts of '{action.connector}' to {', '.join(action.smart_hosts)}"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        _queue(ctx, action).set_smart_hosts(action.smart_hosts)


class SetTls(NeverRefused):
    """Changes a connector's TLS setting (and the domain its certificate must carry)."""

    propagates = True

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return (f"Admin sets the TLS setting of '{action.connector}' to {action.tls}"
                + (f" ({action.tls_domain})" if action.tls_domain else ""))

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        _queue(ctx, action).set_tls(action.tls or "None", action.tls_domain)


class SetAcceptedDomain(NeverRefused):
    """Set-AcceptedDomain: Authoritative (every recipient has a cloud mailbox) or InternalRelay (some live on
    premises). With a connector off, an Authoritative domain's unknown recipients are rejected (5.1.10)."""

    propagates = True

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return f"Admin sets the accepted domain {action.domain} to {action.domain_type}"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        ctx.set_accepted_domain(action.domain or "", action.domain_type or "InternalRelay")


# ---------------------------------------------------------------------------------------------- destination side
class SetDnsRecord(NeverRefused):
    """Changes a DNS record at once; resolvers keep the old answer until its TTL runs out."""

    propagates = False

    def describe(self, ctx: ActionContext, action: Action) -> str:
        return (f"Admin changes DNS: {action.name} {action.type} {action.value} (TTL {action.ttl} s); resolvers "
                "may keep the old answer until it expires")

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        ctx.world.resolver.set_record(action.name or "", action.type or "A", action.value or "", action.ttl)


class RenewCertificate(NeverRefused):
    """Installs a new certificate on a server at once."""

    propagates = False

    def describe(self, ctx: ActionContext, action: Action) -> str:
        server = ctx.world.server(action.target or "")
        assert server is not None and action.not_after is not None
        names = ", ".join(action.names if action.names is not None else
                          server.certificate.names if server.certificate else ())
        return (f"Admin installs a new certificate on {server.config.hostname} ({server.address}) for {names}, "
                f"valid until {iso_at(ctx.scenario.start, action.not_after)[:10]}")

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        server = ctx.world.server(action.target or "")
        assert server is not None and action.not_after is not None
        server.renew(action.not_after, action.names, t)
        ctx.watch_certificate(server.address, action.not_after)


class ClearFault(NeverRefused):
    """Ends a fault at once (the admin fixed what it stands for)."""

    propagates = False

    def describe(self, ctx: ActionContext, action: Action) -> str:
        index = action.fault or 0
        f = ctx.faults.faults[index].fault
        return f"Admin clears fault {index} ({kind_words(f.kind)} on {f.target})"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        index = action.fault or 0
        if not ctx.faults.clear(index, t):
            ctx.recorder.note(t, "action", None, f"Fault {index} was not in force: clearing it changes nothing")


class ResolveAlert:
    """Resolves an alert by id, or every open alert of a policy by name; an insight resolves only by itself."""

    propagates = False

    def refusal(self, ctx: ActionContext, action: Action) -> str | None:
        return ctx.alerts.resolvable(action.alert or "")[1]

    def describe(self, ctx: ActionContext, action: Action) -> str:
        found = ctx.alerts.resolvable(action.alert or "")[0]
        return f"Admin resolves {', '.join(a.id for a in found)} ({action.alert})" if found else \
            f"Admin resolves {action.alert}"

    def apply(self, ctx: ActionContext, action: Action, t: float) -> None:
        for a in ctx.alerts.resolvable(action.alert or "")[0]:
            ctx.alerts.resolve(a, t, ADMIN)


#: Every action kind, keyed by its `do`.
KINDS: dict[str, ActionKind] = {
    "fix_now": FixNow(),
    "disable_connector": SetEnabled(False),
    "enable_connector": SetEnabled(True),
    "set_smart_hosts": SetSmartHosts(),
    "set_tls": SetTls(),
    "set_accepted_domain": SetAcceptedDomain(),
    "set_dns_record": SetDnsRecord(),
    "renew_certificate": RenewCertificate(),
    "clear_fault": ClearFault(),
    "resolve_alert": ResolveAlert(),
}


def propagates(do: str) -> bool:
    """Whether an action kind is a tenant configuration change (it takes effect after the propagation delay)."""
    return KINDS[do].propagates


def invalid(ctx: ActionContext, action: Action) -> str | None:
    """Why `action` cannot be taken at all in this run (it names something that does not exist), or None. The
    loader rejects such entries in [[actions]]; a live action gets this reason and is not recorded."""
    if action.do not in KINDS:
        return f"there is no action {action.do!r}"
    if action.connector is not None or action.do in ("fix_now", "disable_connector", "enable_connector",
                                                      "set_smart_hosts", "set_tls"):
        if ctx.queue(action.connector or "") is None:
            return f"no connector is called {action.connector!r}"
    if action.do == "renew_certificate" and ctx.world.server(action.target or "") is None:
        return f"no server has address {action.target!r}"
    if action.do == "clear_fault" and not 0 <= (action.fault or 0) < len(ctx.faults.faults):
        return f"there is no fault number {action.fault}"
    return None


def _record(action: Action, now: float, status: str, reason: str | None, effective: float | None) -> ActionRecord:
    target = {"set_dns_record": f"{action.name} {action.type}", "renew_certificate": action.target,
              "clear_fault": f"fault {action.fault}", "resolve_alert": action.alert}.get(action.do)
    return ActionRecord(now, action.do, action.connector, target, status, reason, effective)


def take(ctx: ActionContext, action: Action, now: float) -> ActionRecord:
    """Takes `action` at `now` (the queues are at `now`): refused with the reason, applied at once, or
    scheduled for when the tenant's change has propagated (`after` on the action overrides the delay)."""
    kind = KINDS[action.do]
    reason = kind.refusal(ctx, action)
    what = kind.describe(ctx, action)
    if reason is not None:
        ctx.recorder.note(now, "action_refused", action.connector, f"{what}: refused, {reason}; nothing changes")
        return _record(action, now, REFUSED, reason, None)
    delay = (action.after if action.after is not None else ctx.propagation_delay) if kind.propagates else 0.0
    if delay <= 0:
        ctx.recorder.note(now, "action", action.connector, what)
        kind.apply(ctx, action, now)
        return _record(action, now, ACCEPTED, None, now)
    ctx.recorder.note(now, "action", action.connector,
                      f"{what}; tenant configuration changes take a while to reach every server: this one takes "
                      f"effect in {format_duration(delay)}")

    def effect(t: float) -> None:
        ctx.recorder.note(t, "change_effective", action.connector,
                          f"In effect now: {what} (at +{format_duration(now)})")
        kind.apply(ctx, action, t)

    ctx.later(now + delay, effect)
    return _record(action, now, ACCEPTED, None, now + delay)
