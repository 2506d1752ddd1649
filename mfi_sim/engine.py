"""SimPy wiring: the clock, and the processes for faults, admin actions, certificate expiry and evaluation.

Queues advance lazily (queue.py); every process here first brings all queues to `env.now` (`sync`), then
changes the world or takes a snapshot, so the world only changes at instants every queue has reached.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator
from dataclasses import replace
from types import MappingProxyType

import simpy
from simpy.events import EventPriority

from . import __version__
from . import actions
from .actions import PROPAGATION_RANGE, ActionRecord
from .alerts import AlertBook
from .faults import FaultSchedule, ScheduledFault, fault_label
from .default_route import DefaultRoute
from .queue import ConnectorQueue
from .records import LatencyHistogram, MessageReader, NdrRecord, QueueSnapshot, Recorder, Tally, TraceSink
from .result import FaultWindow, Result
from .retry import get_policy
from .scenario.schema import Action, Scenario
from .summary import summarize
from .traffic import ArrivalFeed, MergedFeed
from .world.state import WorldState

__all__ = ["Engine", "Result", "simulate", "stream_rng", "ADMIN_PRIORITY"]

ADMIN_PRIORITY = EventPriority(2)
"""SimPy priority of an admin action's instant: after every other event at that instant (URGENT 0, NORMAL 1),
so an action at t sees the world as the admin sees it at t (the evaluation at t included), whether it comes
from [[actions]] or is taken step by step (Engine.act)."""


def stream_rng(seed: int, purpose: str) -> random.Random:
    """One independent random stream per purpose, seeded from the scenario seed (stable across processes:
    string seeds go through SHA-512, not through hash())."""
    return random.Random(f"mfi-sim:{seed}:{purpose}")


class Engine:
    """Builds the world and queues of a scenario and runs them on a SimPy clock."""

    def __init__(self, scenario: Scenario, seed: int | None = None, duration: float | None = None,
                 trace: TraceSink | None = None, on_ndr: Callable[[NdrRecord], None] | None = None,
                 observe_at: tuple[float, ...] = (), progress: Callable[[float, float], None] | None = None,
                 capture: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.duration = scenario.duration if duration is None else duration
        self.trace = trace
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self.faults = FaultSchedule(scenario.faults, stream_rng(self.seed, "faults"))
        self.world = WorldState(scenario, self.faults)
        tenant = scenario.tenant
        policy = tenant.policy or get_policy(list(tenant.retry) if isinstance(tenant.retry, tuple) else tenant.retry)
        self.queues: list[ConnectorQueue] = []
        #: Accepted domain types changed by set_accepted_domain (a connector's domains start as InternalRelay).
        self.accepted_domains: dict[str, str] = {}
        route = DefaultRoute(self.world.resolver, tenant.inbound_host, self.accepted_domains)
        for ci, conn in enumerate(scenario.connectors):
            # Streams are keyed by their position in [[traffic]]: two identical tables stay independent.
            positions = scenario.traffic_positions(conn)
            streams = tuple(scenario.traffic[i] for i in positions)
            feeds = [(si, ArrivalFeed(scenario.traffic[i], stream_rng(self.seed, f"traffic:{i}"), self.duration))
                     for si, i in enumerate(positions)]
            hosts = conn.recipient_domains if conn.use_mx else conn.smart_hosts
            limit = self.world.connection_limit(scenario, hosts, conn.use_mx, conn.port, conn.max_connections)
            self.queues.append(ConnectorQueue(
                ci, conn, self.world, streams, MergedFeed(feeds), policy, tenant.message_expiration,
                tenant.delay_notification, scenario.alerts.queued_for, stream_rng(self.seed, f"connector:{ci}"),
                self.recorder, trace, on_ndr, tenant=tenant.domain, connections=limit, capture=capture,
                route=route))
        self._by_name = {q.name: q for q in self.queues}
        stores = [q.store for q in self.queues]
        for reader in (trace, on_ndr):   # outputs that write per-message fields read them from the stores
            if isinstance(reader, MessageReader):
                reader.attach(stores)
        self.alerts = AlertBook(scenario.alerts, self.recorder, tenant.message_expiration, tenant.domain)
        self.recorder.subscribe(self.alerts.observe)
        self.recorder.subscribe(self._note_drained)
        self._backlogged: set[str] = set()
        self.progress = progress
        self.observe_at = tuple(sorted(set(t for t in observe_at if 0 <= t <= self.duration)))
        self.observations: dict[float, list[QueueSnapshot]] = {}
        self.tallies: dict[float, list[Tally]] = {}
        self.result: Result | None = None      # set when a step-by-step run reaches its duration
        self.taken: list[Action] = []          # actions taken step by step (act), at their instants
        self.action_log: list[ActionRecord] = []   # every action taken, accepted or refused (actions.take)
        delay = tenant.propagation_delay
        self.propagation_delay = delay if delay is not None else \
            float(round(stream_rng(self.seed, "propagation").uniform(*PROPAGATION_RANGE)))

    # ------------------------------------------------------------------------------------------ clock
    def sync(self) -> None:
        """Brings every queue to the current instant."""
        now = self.env.now
        for q in self.queues:
            q.advance(now)
        if self.trace is not None:
            self.trace.flush(now)

    def snapshot(self) -> list[QueueSnapshot]:
        """The state of every queue now (call after sync)."""
        t = self.env.now
        out = []
        for q in self.queues:
            c = q.counters
            last = q.last
            out.append(QueueSnapshot(
                t=t, connector=q.name, status=q.status(), queued_messages=q.queued_messages(),
                queued_recipients=c.queued, aged_messages=q.aged_messages(), oldest_arrival=q.oldest_arrival(),
                last_error=last.last_error if last else None, last_error_code=last.code if last else None,
                last_server=last.server_name if last else None, last_ip=last.ip if last else None,
                retry_count=q.retry.failures, first_retry=q.retry.first_retry, last_retry=q.retry.last_retry,
                next_retry=q.retry.next_retry(t),
                received=c.received, delivered=c.delivered, ndr=c.ndr, rejected=c.rejected, expired=q.expired,
                attempts=c.attempts))
        return out

    # ------------------------------------------------------------------------------------------ processes
    def _evaluator(self) -> Generator[simpy.Event, None, None]:
        every = self.scenario.alerts.evaluate_every
        while True:
            self.sync()
            self.recorder.snapshot(self.snapshot())
            if self.progress is not None:
                self.progress(self.env.now, self.duration)
            yield self.env.timeout(every)

    def _observer(self) -> Generator[simpy.Event, None, None]:
        """Extra instants where tests look at the queues (no alert evaluation there)."""
        for t in self.observe_at:
            yield self.env.timeout(t - self.env.now)
            self.sync()
            self.observe()

    def observe(self) -> None:
        """Keeps the queues' snapshot and tallies at this instant for the tests that look at it."""
        t = self.env.now
        self.observations[t] = self.snapshot()
        tallies = []
        for q in self.queues:
            q.flush_latency()
            latency = LatencyHistogram()
            latency.merge(q.latency)
            tallies.append(Tally(q.name, MappingProxyType(dict(q.counters.ndr_by_status)), latency))
        self.tallies[t] = tallies

    def _note_drained(self, snaps: list[QueueSnapshot]) -> None:
        """Timeline: a queue that was in Retry has caught up (nothing waiting longer than a minute)."""
        for s in snaps:
            if s.status == "Retry":
                self._backlogged.add(s.connector)
            elif s.connector in self._backlogged and (s.oldest_arrival is None or s.t - s.oldest_arrival < 60):
                self._backlogged.discard(s.connector)
                self.recorder.note(s.t, "queue_drained", s.connector,
                                   f"Queue '{s.connector}' has drained: nothing has waited more than a minute")

    def _fault_window(self, sf: ScheduledFault) -> Generator[simpy.Event, None, None]:
        f = sf.fault
        yield self.env.timeout(sf.start)
        self.sync()
        self.recorder.note(self.env.now, "fault_start", None, f"Fault starts: {fault_label(f)}")
        if math.isinf(sf.end):
            return
        planned = sf.end
        yield self.env.timeout(planned - self.env.now)
        if sf.end == planned:   # not cleared earlier by an admin
            self.sync()
            self.recorder.note(self.env.now, "fault_end", None, f"Fault ends: {fault_label(f, chance=False)}")

    def _certificate_expiry(self, address: str, not_after: float) -> Generator[simpy.Event, None, None]:
        yield self.env.timeout(max(0.0, not_after - self.env.now))
        server = self.world.server(address)
        if server is None or server.certificate is None or server.certificate.not_after != not_after:
            return   # renewed in the meantime
        self.sync()
        self.recorder.note(self.env.now, "certificate_expired", None,
                           f"The certificate of {server.config.hostname} ({address}) expires now")

    def _instant(self, at: float) -> simpy.Event:
        """An event at instant `at` that comes after everything else scheduled for that instant."""
        event = self.env.event()
        event._ok, event._value = True, None   # triggered, as SimPy's own Timeout/Initialize do
        self.env.schedule(event, ADMIN_PRIORITY, at - self.env.now)
        return event

    def _action(self, action: Action) -> Generator[simpy.Event, None, None]:
        """An admin action at its instant, after everything else then (actions.take decides and records it)."""
        yield self._instant(action.at)
        self.sync()
        self.action_log.append(actions.take(self, action, self.env.now))

    def _later(self, at: float, effect: Callable[[float], None]) -> Generator[simpy.Event, None, None]:
        yield self._instant(at)
        self.sync()
        effect(self.env.now)

    # ------------------------------------------------------------------------------------------ for actions.py
    def queue(self, name: str) -> ConnectorQueue | None:
        """The queue of the connector called `name`."""
        return self._by_name.get(name)

    def later(self, at: float, effect: Callable[[float], None]) -> None:
        """Runs `effect` at instant `at` (a tenant configuration change that has propagated)."""
        self.env.process(self._later(at, effect))

    def set_accepted_domain(self, domain: str, domain_type: str) -> None:
        """Changes an accepted domain's type; every queue routes its mail anew (default_route.py)."""
        self.accepted_domains[domain] = domain_type
        for q in self.queues:
            q.reroute()

    def watch_certificate(self, address: str, not_after: float) -> None:
        """Notes a newly installed certificate's expiry when the clock reaches it within the run."""
        if self.env.now < not_after < self.duration:   # one already past is simply expired
            self.env.process(self._certificate_expiry(address, not_after))

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> Result:
        """Plays the whole scenario and returns its Result."""
        self.start()
        self.env.run(until=self.duration)
        return self.finish()

    def start(self) -> None:
        """Schedules the scenario's processes (faults, certificate expiry, [[actions]], evaluation) at time 0."""
        env = self.env
        for sf in self.faults.faults:
            if sf.start < self.duration:
                env.process(self._fault_window(sf))
        for (address, _), server in self.world.servers.items():
            cert = server.certificate
            if cert is not None and 0 < cert.not_after < self.duration:
                env.process(self._certificate_expiry(address, cert.not_after))
        for action in self.scenario.actions:
            if action.at <= self.duration:
                env.process(self._action(action))
        env.process(self._evaluator())
        if self.observe_at:
            env.process(self._observer())

    def finish(self) -> Result:
        """Closes the run at its duration (call when the clock has reached it) and returns the Result."""
        self.sync()
        if self.progress is not None:
            self.progress(self.duration, self.duration)
        if not self.recorder.snapshots or self.recorder.snapshots[-1].t < self.env.now:
            self.recorder.snapshot(self.snapshot())
        if self.duration in self.observe_at:
            self.observe()
        windows = [(sf.index, sf.fault, sf.start, min(sf.end, self.duration)) for sf in self.faults.faults
                   if sf.start < self.duration]
        return self._result(self.duration, windows)

    def _result(self, t: float, windows: list[FaultWindow]) -> Result:
        """The run up to `t` as frozen records: copies of what the queues, recorder and alerts hold now."""
        frozen = MappingProxyType
        return Result(
            self.scenario, self.seed, t, __version__, tuple(summarize(q, t) for q in self.queues),
            snapshots=tuple(self.recorder.snapshots), timeline=tuple(self.recorder.timeline),
            alerts=tuple(a.record() for a in self.alerts.alerts), notifications=tuple(self.alerts.notifications),
            observations=frozen({at: tuple(snaps) for at, snaps in self.observations.items()}),
            fault_windows=tuple(windows), actions=tuple(self.action_log),
            tallies=frozen({at: tuple(tallies) for at, tallies in self.tallies.items()}))

    # ------------------------------------------------------------------------------------------ step by step
    # The console plays a scenario in steps: start(), then advance() and act() in any order. Actions go through
    # the same process as [[actions]] (_action at ADMIN_PRIORITY), so a session replays exactly as a batch run
    # with its actions in [[actions]] at the instants they were taken.
    @property
    def ended(self) -> bool:
        """Whether the clock has reached the duration (the Result is then in `result`)."""
        return self.result is not None

    def next_event_time(self) -> float | None:
        """When the clock next has something scheduled (an evaluation, a fault edge, an action taking effect),
        capped at the duration; None once the run has ended."""
        if self.result is not None:
            return None
        return min(float(self.env.peek()), self.duration)

    def advance(self, to: float) -> None:
        """Plays the clock to `to` and everything scheduled at `to`; at (or past) the duration it closes the run
        exactly as run() does. An instant in the past changes nothing."""
        if self.result is not None:
            return
        env = self.env
        if to >= self.duration:
            if self.duration > env.now:
                env.run(until=self.duration)
            self.result = self.finish()
            return
        if to > env.now:
            env.run(until=to)
        self._settle()

    def _settle(self) -> None:
        """Plays every event left at the current instant (evaluation, fault edges, actions), then syncs."""
        env = self.env
        while env.peek() <= env.now:
            env.step()
        self.sync()

    def refusal(self, action: Action) -> str | None:
        """Why `action` would be refused now (None if it would not): the run has ended, it names a connector,
        server or fault that does not exist, or the service refuses it (Fix now not offered, say)."""
        if self.result is not None or self.env.now >= self.duration:
            return "the scenario has ended"
        return actions.invalid(self, action) or actions.KINDS[action.do].refusal(self, action)

    def act(self, action: Action) -> str | None:
        """Takes an admin action now (its `at` is ignored) exactly as an [[actions]] entry at this instant
        would be taken; returns None when accepted, else the reason it is refused (nothing then changes).
        An action naming nothing that exists, or after the end, is not taken; one the service refuses (Fix
        now not offered) is, and recorded as refused, as it would be from [[actions]]."""
        if self.result is not None or self.env.now >= self.duration:
            return "the scenario has ended"
        reason = actions.invalid(self, action)
        if reason is not None:
            return reason
        taken = replace(action, at=self.env.now)
        self.env.process(self._action(taken))
        self._settle()
        self.taken.append(taken)
        return self.action_log[-1].reason

    def view(self) -> Result:
        """The run as of now, in the shape run() returns at the end (what `run --json` reports, so far)."""
        if self.result is not None:
            return self.result
        self.sync()
        windows = [(sf.index, sf.fault, sf.start, min(sf.end, self.env.now)) for sf in self.faults.faults
                   if sf.start <= self.env.now]
        return self._result(float(self.env.now), windows)


def simulate(scenario: Scenario, seed: int | None = None, duration: float | None = None,
             trace: TraceSink | None = None, on_ndr: Callable[[NdrRecord], None] | None = None,
             observe_at: tuple[float, ...] = ()) -> Result:
    """Runs a scenario and returns its Result."""
    return Engine(scenario, seed, duration, trace, on_ndr, observe_at).run()
