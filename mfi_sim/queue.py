"""The connector queue: a thin loop that joins its retry state, connection pool, message ledger and intake.

The queue advances lazily and exactly: `advance(t)` plays every arrival, attempt, retry and expiry up to `t`
in time order, as a small event loop over the connector's own state. The engine calls it at every instant the
world can change (faults, actions, certificate expiry, alert evaluation), so between two calls nothing outside
the queue changes, and the result does not depend on how often it is called. No SimPy process per message.

Each turn of the loop finds the next message and the next free connection, plays what falls due before
then (`_until`), and makes one attempt. A connection-level failure puts the whole queue into Retry when the
loop reaches the failed attempt's end (`_move`, SPEC 1.2); a recipient-level 4xx defers one message. While the
queue is healthy, each turn first lets the express lane (express.py) serve what it can in a tight loop, with the
same results.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from heapq import heappop, heapreplace
from math import log

from . import codes, express
from .attempt import Outcome, SessionSpec, message_stage_faults, open_session
from .connections import ConnectionPool
from .default_route import LOOP, LOOP_REPLY, MX, REJECT, DefaultRoute
from .intake import Intake
from .ledger import MessageLedger
from .message_replies import MessageReplies
from .messages import MessageStore
from .records import ConnectorCounters, LatencyHistogram, NdrRecord, Recorder, TraceSink
from .retry import RetryPolicy
from .retry_state import ACTIVE, READY, RETRY, SUSPENDED, RetryState
from .scenario.schema import Connector, Traffic
from .traffic import MergedFeed
from .transcripts import TranscriptRecorder
from .world.state import WorldState

__all__ = ["ConnectorQueue", "READY", "ACTIVE", "RETRY", "SUSPENDED"]

INF = math.inf
#: What `_start` returns instead of a start time: choose again, or stop (nothing more before the horizon).
AGAIN, STOP = -1.0, -2.0


class ConnectorQueue:
    """One outbound connector's queue: the loop over its retry state, connections and messages."""

    def __init__(self, index: int, config: Connector, world: WorldState, streams: tuple[Traffic, ...],
                 feed: MergedFeed, policy: RetryPolicy, expiration: float, delay_notification: float | None,
                 aged_after: float, rng: random.Random, recorder: Recorder, trace: TraceSink | None = None,
                 on_ndr: Callable[[NdrRecord], None] | None = None, *, tenant: str,
                 connections: int | None = None, capture: int | None = None, route: DefaultRoute) -> None:
        self.index = index
        self.config = config
        self.name = config.name
        self.world = world
        hosts = config.recipient_domains if config.use_mx else config.smart_hosts
        self.spec = SessionSpec(hosts, config.use_mx, config.port, config.tls, config.tls_domain)
        self.streams = streams
        self.rng = rng
        self.recorder = recorder
        self.enabled = config.enabled
        self.fixed = False
        self.now = 0.0
        self._slow: MessageReplies | None = None     # set while a message-stage fault or reply can fire
        self.retry = RetryState(policy)
        self.pool = ConnectionPool(connections or config.max_connections, config.messages_per_connection)
        self.ledger = MessageLedger(index, config.name, [t.recipients_per_message for t in streams], expiration,
                                    delay_notification, aged_after, self.retry, recorder, trace, on_ndr)
        self.intake = Intake(feed, self.ledger, [t.invalid_recipient_fraction for t in streams], rng)
        self.transcript = (TranscriptRecorder(capture, index, tenant, world, streams, self.ledger.store,
                                              self.ledger.rcpts) if capture is not None else None)
        self.replies = MessageReplies(world, self.ledger, self.retry, self.pool, self._recovered, self.transcript)
        self.route = route
        self._connector_spec = self.spec      # the connector's own route (smart hosts or MX), while it is on
        if not self.enabled:
            self._use_default_route()

    # ------------------------------------------------------------------------------------------ views
    @property
    def store(self) -> MessageStore:
        return self.ledger.store

    @property
    def counters(self) -> ConnectorCounters:
        return self.ledger.counters

    @property
    def latency(self) -> LatencyHistogram:
        return self.ledger.latency

    @property
    def expired(self) -> int:
        return self.ledger.expired

    @property
    def last(self) -> Outcome | None:
        """The queue's last error."""
        return self.retry.last

    @property
    def transcript_lines(self) -> list[str] | None:
        return self.transcript.lines if self.transcript is not None else None

    def status(self) -> str:
        """Get-Queue status now: Suspended (connector off), Retry, Active (mail moving) or Ready (idle)."""
        if not self.enabled and not self.fixed:
            return SUSPENDED
        if self.retry.waiting(self.now):
            return RETRY
        if self.ledger.queued() or self.pool.busy(self.now):
            return ACTIVE
        return READY

    def queued_messages(self, at: float | None = None) -> int:
        """Messages waiting, deferred or in flight (one per busy connection) at `at` (default: now)."""
        return self.ledger.queued() + self.pool.busy(self.now if at is None else at)

    def oldest_arrival(self) -> float | None:
        return self.ledger.oldest_arrival()

    def aged_messages(self) -> int:
        """Messages queued for longer than the alert's `queued_for` now."""
        return self.ledger.aged_messages(self.now)

    def flush_latency(self) -> None:
        self.ledger.flush_latency()

    # ------------------------------------------------------------------------------------------ actions
    def set_smart_hosts(self, hosts: tuple[str, ...]) -> None:
        """Admin changed the connector's smart hosts: new connections use them (open ones finish first)."""
        s = self._connector_spec
        self._set_connector_spec(SessionSpec(hosts, False, s.port, s.tls, s.tls_domain))

    def set_tls(self, tls: str, tls_domain: str | None) -> None:
        """Admin changed the connector's TLS setting: new connections use it (open ones finish first)."""
        s = self._connector_spec
        self._set_connector_spec(SessionSpec(s.hosts, s.use_mx, s.port, tls, tls_domain))

    def _set_connector_spec(self, spec: SessionSpec) -> None:
        self._connector_spec = spec
        if self.enabled:
            self.spec = spec
            self.pool.close_all()

    def set_enabled(self, on: bool) -> None:
        """The connector turned on (its own route again) or off (its mail takes the default route)."""
        if on == self.enabled:
            return
        self.enabled = on
        self.pool.close_all()
        if self.fixed:
            return
        if on:
            self.spec = self._connector_spec
            self.intake.handle_at_once = None
        else:
            self._use_default_route()

    # ------------------------------------------------------------------------------------------ default route
    def _use_default_route(self) -> None:
        """The connector is off: new connections go to the domains' MX (port 25, opportunistic TLS), and mail
        that cannot go there (Authoritative domain, MX pointing back at the service) ends now."""
        self.spec = SessionSpec(self.config.recipient_domains, True, 25, "None", None)
        self.retry.reset()
        self.intake.handle_at_once = self._route_new
        self.reroute()

    def reroute(self) -> None:
        """Applies the default route to the queued mail of a connector that is off (when it was turned off, or
        when an accepted domain changed)."""
        if self.enabled or self.fixed:
            return
        t = self.now
        before = self.ledger.queued()
        self.ledger.take(lambda number: not self._route_ends(number, t, False))
        ended = before - self.ledger.queued()
        if ended:
            self.recorder.note(t, "default_route", self.name,
                               f"Connector '{self.name}' is off: {ended} queued messages for its domains end on the "
                               f"default route (rejected for an Authoritative domain, or a mail loop when the MX "
                               f"points back at the service)")

    def _route_new(self, number: int, when: float) -> bool:
        return self._route_ends(number, when, True)

    def _route_ends(self, number: int, t: float, new: bool) -> bool:
        """Whether the default route ends the message at `t` (else it waits for the domain's MX)."""
        fate = self.route.fate(self.streams[self.ledger.store.stream[number]].to, t)
        if fate == REJECT:
            self.ledger.refuse(number, t, at_arrival=new)
        elif fate == LOOP:
            self.ledger.loop(number, t, LOOP_REPLY)
        return fate != MX

    def apply_fix_now(self, t: float) -> None:
        """Fix now took effect: the service rejects mail for this connector's domains, as the seed says. Mail
        routed to a connector under Internal Relay is for recipients with no cloud mailbox, so every queued
        recipient gets an NDR 550 5.1.10 and new mail is rejected at once; nothing is delivered in the cloud."""
        self.advance(t)
        self.fixed = True
        self.retry.reset()
        self.pool.close_all()
        ledger = self.ledger
        self.intake.handle_at_once = self._refuse_new
        waiting = ledger.take_all()
        for number in waiting:
            ledger.refuse(number, t, at_arrival=False)
        self.recorder.note(t, "fix_effective", self.name,
                           f"Fix now took effect on '{self.name}': {len(waiting)} queued messages get an NDR "
                           f"(550 5.1.10, recipient not found) and new mail for its domains is rejected at once",
                           codes.CONNECTION_REFUSED)

    def _refuse_new(self, number: int, when: float) -> bool:
        self.ledger.refuse(number, when, at_arrival=True)
        return True

    # ------------------------------------------------------------------------------------------ the loop
    def advance(self, t1: float) -> None:
        """Plays everything that happens on this connector up to time `t1`."""
        if t1 <= self.now:
            return
        if self.fixed:
            self._until(t1)
        else:
            self._play(t1)

    def _play(self, t1: float) -> None:
        """The loop: next message, next free connection, one attempt; until nothing more happens before `t1`."""
        ledger, retry = self.ledger, self.retry
        q, ready, deferred, free, left = ledger.waiting, ledger.ready, ledger.deferred, self.pool.free, self.pool.left
        store = ledger.store
        arrival = store.arrival
        counters, expiration = ledger.counters, ledger.expiration
        reusable, next_message = self.pool.reusable, ledger.next_message
        rnd = self.rng.random
        self._slow = self.replies if self.replies.possible(self.now) else None
        lane = express.open_for(self)
        while True:
            if lane:
                express.serve(self, t1)
            if ready or deferred or not q or retry.retry_at is not None:
                r = self._next_ready(t1)
                if r < 0.0:
                    if r == STOP:
                        return
                    continue
            else:
                r = arrival[q[0]]      # the oldest waiting message, nothing else pending
            f0, slot = free[0]
            s = self._start(r, f0, t1)
            if s < 0.0:
                if s == STOP:
                    return
                continue
            begin = s
            # Reuse this slot's connection if it is open, has messages left, and has not been idle too long.
            sess = reusable(slot, r, f0)
            if sess is None:
                if retry.pending_fail < INF:
                    # A connection attempt is failing: no new connection until the queue has handled it.
                    self._enter_retry()
                    continue
                number = next_message()
                sess = self._connect(number, s, slot)
                if sess is None:
                    continue
                s += sess.elapsed
            else:
                number = next_message()
            done_at = s - log(1.0 - rnd()) * sess.server.config.service_time  # type: ignore[union-attr]
            if done_at > arrival[number] + expiration:
                # It would finish after it expires: it expires at its deadline instead (SPEC 1.2).
                ledger.expire(number, arrival[number] + expiration)
                continue
            counters.attempts += 1
            counters.busy_s += done_at - begin
            if self._send(number, sess, slot, s, done_at):
                heapreplace(free, (done_at, slot))     # the slot carried one more message (pool.carried, inline)
                left[slot] -= 1

    def _next_ready(self, t1: float) -> float:
        """When the next message can go; or AGAIN (the queue moved on: choose again) or STOP (nothing more
        before `t1`), after playing the queue up to where it has to wait."""
        retry, ledger = self.retry, self.ledger
        if retry.retry_at is not None:
            if retry.retry_at >= t1:
                return self._wait(t1, t1)
            self._until(retry.retry_at)
            retry.retried()
        deferred = ledger.deferred
        if ledger.ready:
            r = self.now
        else:
            if not ledger.waiting:
                if self.intake.next_arrival >= t1:
                    return self._wait(deferred[0][0] if deferred and deferred[0][0] < t1 else t1, t1)
                self._pull(self.intake.next_arrival)
                if not ledger.waiting:
                    return AGAIN   # the new mail ended at once (default route, Fix now)
            r = ledger.store.arrival[ledger.waiting[0]]
        if deferred and deferred[0][0] < r:
            return self._wait(t1 if deferred[0][0] >= t1 else deferred[0][0], t1)
        return r

    def _wait(self, u: float, t1: float) -> float:
        """Plays the queue up to `u` (or into Retry, if a failure takes effect first): AGAIN, or STOP at `t1`."""
        if self._move(u) or u < t1:
            return AGAIN
        return STOP

    def _start(self, r: float, f0: float, t1: float) -> float:
        """When the attempt for a message ready at `r` starts on the connection free at `f0`, with the clock
        moved there; or AGAIN (something changed on the way: choose again) or STOP (nothing more before t1)."""
        retry = self.retry
        s = f0 if f0 > r else r
        if s < self.now:
            s = self.now
        if retry.retry_at is not None and s < retry.retry_at:
            s = retry.retry_at
        if s >= retry.pending_fail:
            self._enter_retry()
            return AGAIN
        if s >= t1:
            return self._wait(t1, t1)
        if s > self.now:
            if self.intake.next_arrival <= s or self.ledger.due_by(s):
                if not self._reach(s):
                    return AGAIN   # the head expired or a deferred message became ready
            else:
                self.now = s
        retry.retry_at = None
        return s

    def _send(self, number: int, sess: Outcome, slot: int, s: float, done_at: float) -> bool:
        """The message's attempt on an open session, from `s` to `done_at`: delivered, or (while a transcript is
        asked for or a message-stage fault can fire) whatever the fault makes of it. False if the connection
        dropped and the slot was already handled."""
        ledger = self.ledger
        n, inv = ledger.rcpts[ledger.store.stream[number]], ledger.store.invalid[number]
        if self.transcript is not None:
            self.transcript.reused(s, ledger.counters.attempts, number, sess, self.now)
        slow = self._slow
        if slow is not None:
            server = sess.server
            assert server is not None
            if message_stage_faults(server, self.world.faults.active(server.address, s)):
                return not slow.attempt(number, sess, slot, s, done_at, n, inv, self.now)
        if self.retry.failures:
            self._recovered(s)
        ledger.delivered(number, n, inv, done_at, sess)
        return True

    def _reach(self, s: float) -> bool:
        """Plays what falls due up to `s`, the next attempt's start; False if the head changed on the way."""
        q, ready = self.ledger.waiting, self.ledger.ready
        before = (q[0] if q else -1, ready[0] if ready else -1)
        self._until(s)
        return (q[0] if q else -1, ready[0] if ready else -1) == before

    def _connect(self, number: int, s: float, slot: int) -> Outcome | None:
        """Opens a new connection at `s` for the message; None if it failed (the message went back)."""
        transcript = self.transcript
        opening = transcript.opening(s, self.ledger.counters.attempts + 1, number) if transcript else None
        say = opening[1] if opening is not None else None
        sess = open_session(self.spec, self.world, s, say)
        if not sess.ok:
            if transcript is not None and opening is not None:
                transcript.failed_to_open(opening[0], say, sess)
            self._attempt_failed(number, sess, s, slot)
            return None
        if transcript is not None and opening is not None:
            transcript.opened(opening[0], say, number, sess, self.now)
        self.pool.opened(slot, sess)
        return sess

    # ------------------------------------------------------------------------------------------ pieces
    def _move(self, u: float) -> bool:
        """Plays the queue up to `u`, unless a failed attempt takes effect first: then the queue enters Retry
        (True: the caller chooses again). The one place where the loop enters Retry on its way."""
        if self.retry.pending_fail <= u:
            self._enter_retry()
            return True
        self._until(u)
        return False

    def _until(self, t: float) -> None:
        """Plays arrivals, expiries, delay notices and deferral timers up to `t` (no attempts)."""
        ledger = self.ledger
        if not self.fixed:
            ledger.play_timers(t)
        if self.intake.next_arrival <= t:      # after the expiries, so the depth it measures is the depth at t
            self._pull(t)
        if not self.fixed:
            ledger.delay_notifications(t)
        if t > self.now:
            self.now = t

    def _pull(self, t: float) -> None:
        """Takes in every arrival up to `t`, and notes the deepest queue seen."""
        received = self.intake.pull(t)     # (it counts messages handled at once itself)
        ledger = self.ledger
        c = ledger.counters
        c.received += received
        # Only count busy connections when the depth could beat the peak (cheap bound first).
        queued = len(ledger.waiting) + len(ledger.ready) + len(ledger.deferred)
        free = self.pool.free
        if queued + len(free) > c.max_queue_depth:
            depth = queued + sum(1 for f, _ in free if f > t)
            if depth > c.max_queue_depth:
                c.max_queue_depth = depth

    def _enter_retry(self) -> None:
        """A failed attempt took effect: the whole queue waits for its next retry (SPEC 1.2)."""
        t, outcome = self.retry.take_pending()
        self._until(t)
        first = self.retry.enter(t, outcome)
        self.pool.close_all()
        self.ledger.defer_all(t, outcome.last_error or "", outcome.destination)
        if first:
            self.recorder.note(t, "queue_retry", self.name,
                               f"Queue '{self.name}' went into Retry: {outcome.last_error}", outcome.code)

    def _recovered(self, t: float) -> None:
        failures = self.retry.recovered()
        if failures:
            self.recorder.note(t, "queue_recovered", self.name,
                               f"Queue '{self.name}' connected again after {failures} failed "
                               f"retr{'y' if failures == 1 else 'ies'}; delivering", None)

    def _attempt_failed(self, number: int, outcome: Outcome, s: float, slot: int) -> None:
        """A connection could not be used: the message goes back; the queue goes into Retry at the end."""
        ledger = self.ledger
        ledger.counters.attempts += 1
        ledger.counters.busy_s += outcome.elapsed
        ledger.counters.count_failure(outcome.code or "other", self.now)
        end = s + outcome.elapsed
        self.pool.lost(slot, end)
        ledger.back_at(number, end)
        self.retry.connection_failed(outcome, end)
