"""The SMTP client of one delivery attempt as a state machine with no I/O (h11's idea; dnspython's _Resolution).

A driver asks `next_action()` what to do (resolve, connect, read the greeting, send a command, start TLS, or
stop), does it its own way (the simulated world in attempt.py, real sockets in wire_driver.py) and feeds the
result back as data: the route, a connect failure, a parsed `Reply`, a lost connection, the TLS handshake's
result and the peer certificate's facts. Every failure is classified by the one table in smtp_rules.py. The
transcript (swaks style) is the machine's own traffic. Stages: RFC 5321 sections 3 and 4.1 (greeting, EHLO,
MAIL, RCPT, DATA, QUIT), RFC 3207 (STARTTLS, then EHLO again), RFC 5321 section 5.1 (MX fall-through).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from . import codes
from .certificates import TLS_REQUIRED, VALIDATES, CertificateFacts, certificate_problem
from .reply import Reply
from .smtp_rules import OPPORTUNISTIC, Effect, Failure, Stage, dns_failure, reply_failure, rule_for
from .transaction import DELIVERED, DEFERRED, DROPPED, FAILED, MessageResult, Send, Transaction

__all__ = ["Session", "Verdict", "Resolve", "Connect", "Receive", "Send", "StartTls", "Ready", "Done", "Action",
           "Transaction", "MessageResult", "DELIVERED", "DEFERRED", "FAILED", "DROPPED", "Say", "SessionSpec", "SERVICE_HOSTNAME"]

Say = Callable[[str], None]

#: The name the service uses in EHLO and as Reporting-MTA (a reserved example name, RFC 2606).
SERVICE_HOSTNAME = "outbound.protection.mfi-sim.example"


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """The connector settings an attempt needs (its current smart hosts may differ from the scenario's)."""

    hosts: tuple[str, ...]
    use_mx: bool
    port: int
    tls: str
    tls_domain: str | None


@dataclass(frozen=True, slots=True)
class Resolve:
    """Find the endpoints: smart hosts' addresses, or the domains' MX hosts by preference and their addresses."""

    hosts: tuple[str, ...]
    use_mx: bool


@dataclass(frozen=True, slots=True)
class Connect:
    """Open TCP to this endpoint (closing any connection open before)."""

    host: str
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Receive:
    """Read one reply without sending anything (the greeting)."""

    stage: Stage


@dataclass(frozen=True, slots=True)
class StartTls:
    """Run the TLS handshake on the open connection (SNI `host`), then report the result."""

    host: str


@dataclass(frozen=True, slots=True)
class Ready:
    """The session is established: submit a message, or quit."""


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing more to do; `verdict` says how the session went."""

    verdict: Verdict


Action = Resolve | Connect | Receive | Send | StartTls | Ready | Done


@dataclass(frozen=True, slots=True)
class Verdict:
    """How opening the session ended: ok, or a code, the [Message=...] detail and the stage where it stopped."""

    ok: bool
    code: str | None
    detail: str
    stage: Stage | None
    host: str | None
    ip: str | None
    port: int
    tls: bool = False
    reply: Reply | None = None

    @property
    def last_error(self) -> str | None:
        """The deferral text in the service's format (SPEC 1.1), or None for success."""
        if self.ok or self.code is None:
            return None
        return codes.deferral_text(self.code, self.detail, self.host, self.ip, self.port)


class _St(Enum):
    """Where the session is; each waits for one kind of input."""

    RESOLVING = 0
    CONNECTING = 1
    GREETING = 2
    EHLO = 3
    STARTTLS = 4
    HANDSHAKE = 5
    EHLO_TLS = 6
    READY = 7
    MESSAGE = 8
    QUIT = 9
    DONE = 10


#: Where a positive reply leads (the happy path; RFC 5321 section 3, RFC 3207 section 4.2).
_AFTER_OK = {_St.GREETING: _St.EHLO, _St.EHLO_TLS: _St.READY, _St.STARTTLS: _St.HANDSHAKE}
#: The stage a state belongs to, for classification.
_STAGE = {_St.GREETING: Stage.BANNER, _St.EHLO: Stage.EHLO, _St.EHLO_TLS: Stage.EHLO, _St.STARTTLS: Stage.STARTTLS,
          _St.HANDSHAKE: Stage.STARTTLS, _St.CONNECTING: Stage.CONNECT}


class Session:
    """One attempt to open a session with the connector's destination, endpoint by endpoint.

    `tls` is the connector's TLS setting; `now` is the clock the certificate facts are read against.
    """

    def __init__(self, hosts: Sequence[str], use_mx: bool, port: int, tls: str, tls_domain: str | None,
                 helo: str, say: Say | None = None) -> None:
        self.port = port
        self.tls_mode = tls
        self.tls_domain = tls_domain
        self.helo = helo
        self.say = say
        self.verdict: Verdict | None = None
        self.message: MessageResult | None = None
        self._required = tls in TLS_REQUIRED
        self._endpoints: Sequence[tuple[str, str]] = ()
        self._next = 0
        self._host: str | None = hosts[0] if hosts else None
        self._ip: str | None = None
        self._plain = False            # opportunistic TLS failed once: this endpoint again, in clear text
        self._tls = False
        self._transaction: Transaction | None = None
        self._state = _St.RESOLVING
        self._action: Action = Resolve(tuple(hosts), use_mx)

    # ----------------------------------------------------------------------------------------- out
    def next_action(self) -> Action:
        """What the driver must do now."""
        if self._state is _St.MESSAGE:
            assert self._transaction is not None
            return self._transaction.next_action()
        return self._action

    # ----------------------------------------------------------------------------------------- in
    def routed(self, endpoints: Sequence[tuple[str, str]], failures: Sequence[tuple[str, str]]) -> None:
        """The route: (host, ip) endpoints in the order to try, and the (name, rcode) lookups that failed."""
        say = self.say
        if say:
            for name, rcode in failures:
                say(f"*** DNS lookup of {name} failed: {rcode}")
        if not endpoints:
            name, rcode = failures[-1] if failures else (self._host or "", "NXDOMAIN")
            self._host = name or self._host
            self._fail(Stage.DNS, dns_failure(rcode))
            return
        self._endpoints = endpoints
        self._connect_next()

    def connected(self) -> None:
        """TCP is up: wait for the greeting."""
        if self.say:
            self.say(f"=== Connected to {self._ip}.")
        self._state = _St.GREETING
        self._action = Receive(Stage.BANNER)

    def connect_failed(self, failure: Failure) -> None:
        """TCP did not come up: TIMED_OUT (no answer), REFUSED (RST) or UNREACHABLE."""
        self._fail(Stage.CONNECT, failure)

    def received(self, reply: Reply) -> None:
        """A parsed reply to the greeting or the last command."""
        state = self._state
        if state is _St.MESSAGE:
            self._in_transaction(reply)
            return
        say = self.say
        if say:
            for line in reply.wire_lines:
                say(f"<-  {line}")
        if state is _St.QUIT:
            self._finish_ok()
            return
        if not reply.positive:
            self._fail(_STAGE[state], reply_failure(reply), reply)
        elif state is _St.EHLO:
            self._after_ehlo(reply)
        elif state is _St.STARTTLS and reply.code != 220:
            self._fail(Stage.STARTTLS, Failure.REPLY_4XX, reply)
        else:
            self._enter(_AFTER_OK[state])

    def lost(self, failure: Failure = Failure.LOST) -> None:
        """The connection closed (LOST) or no reply came before the timeout (NO_ANSWER)."""
        if self._state is _St.MESSAGE:
            assert self._transaction is not None
            self._transaction.lost(failure)
            self._after_transaction()
            return
        if self._state is _St.QUIT:
            self._finish_ok()
            return
        self._fail(_STAGE[self._state], failure)

    def tls_started(self, cert: CertificateFacts | None, now: float, note: str = "") -> None:
        """The handshake completed; `cert` holds the peer certificate's facts (None if none was checked)."""
        say = self.say
        if say:
            say(f"=== TLS started{note}")
        self._tls = True
        problem = certificate_problem(cert, self.tls_mode, self.tls_domain, now)
        if problem is not None:
            self._fail(Stage.CERTIFICATE, Failure.CERTIFICATE, problem=problem)
            return
        self._enter(_St.EHLO_TLS)

    def tls_failed(self, problem: str | None = None, note: str = "") -> None:
        """The handshake failed; `problem` is the certificate problem when the TLS library's own chain check
        refused the certificate (only under the settings that validate), else None."""
        if self.say and note:
            self.say(f"*** {note}")
        if problem is not None and self.tls_mode in VALIDATES:
            self._fail(Stage.CERTIFICATE, Failure.CERTIFICATE, problem=problem)
            return
        self._fail(Stage.STARTTLS, Failure.TLS_FAILED)

    def submit(self, sender: str, recipients: Sequence[str], content: str = "") -> None:
        """Send one message on the established session (MAIL, RCPT for each recipient, DATA)."""
        assert self._state is _St.READY, "submit() needs an established session"
        self._transaction = Transaction(sender, recipients, content, self.say)
        self._state = _St.MESSAGE

    def quit(self) -> None:
        """End the established session politely (RFC 5321 section 4.1.1.10)."""
        assert self._state is _St.READY, "quit() needs an established session"
        self._state = _St.QUIT
        self._action = Send(None, "QUIT")
        if self.say:
            self.say("->  QUIT")

    # ----------------------------------------------------------------------------------------- inside
    def _connect_next(self) -> None:
        host, ip = self._endpoints[self._next]
        self._next += 1
        self._host, self._ip = host, ip
        self._plain = False
        self._connect()

    def _connect(self) -> None:
        if self.say:
            self.say(f"=== Trying {self._host}:{self.port}...")
        self._state = _St.CONNECTING
        assert self._host is not None and self._ip is not None
        self._action = Connect(self._host, self._ip, self.port)

    def _enter(self, state: _St) -> None:
        """Moves to `state` and sets the action it starts with."""
        self._state = state
        if state is _St.EHLO or state is _St.EHLO_TLS:
            self._command(f"EHLO {self.helo}")
        elif state is _St.STARTTLS:
            self._command("STARTTLS")
        elif state is _St.HANDSHAKE:
            assert self._host is not None
            self._action = StartTls(self._host)
        elif state is _St.READY:
            self._action = Ready()
            self.verdict = Verdict(True, None, "", None, self._host, self._ip, self.port, self._tls)

    def _command(self, line: str) -> None:
        if self.say:
            self.say(f"->  {line}")
        self._action = Send(_STAGE[self._state], line)

    def _after_ehlo(self, reply: Reply) -> None:
        """RFC 3207 section 4: STARTTLS only if advertised; a TLS setting that requires it fails without it."""
        if self._plain:
            self._enter(_St.READY)
        elif reply.has_keyword("STARTTLS"):
            self._enter(_St.STARTTLS)
        elif self._required:
            self._fail(Stage.STARTTLS, Failure.TLS_NOT_OFFERED)
        else:
            self._enter(_St.READY)

    def _fail(self, stage: Stage, failure: Failure, reply: Reply | None = None, problem: str = "") -> None:
        """Classifies a failure by the table and moves on: fall back to clear text, next endpoint, or stop."""
        if not self._required and (stage, failure) in OPPORTUNISTIC:
            self._fall_back(failure)
            return
        rule = rule_for(stage, failure)
        detail = rule.detail(reply, problem)
        if self.say:
            self.say(f"<** {detail}")
        if rule.effect is Effect.NEXT_ENDPOINT and self._next < len(self._endpoints):
            self._connect_next()
            return
        code = rule.code if rule.code is not None else (reply.short_code if reply is not None else codes.OTHER)
        self.verdict = Verdict(False, code, detail, stage, self._host, self._ip, self.port, self._tls, reply)
        self._state = _St.DONE
        self._action = Done(self.verdict)

    def _fall_back(self, failure: Failure) -> None:
        """Opportunistic TLS: go on without it; after a broken handshake, on a new connection (RFC 3207 sec. 4.1)."""
        if failure is Failure.TLS_FAILED:
            if self.say:
                self.say("*** TLS handshake failed; opportunistic TLS falls back to plain text")
            self._plain = True
            self._connect()
            return
        if self.say and failure is Failure.REPLY_4XX:
            self.say("*** STARTTLS refused for now; opportunistic TLS goes on in plain text")
        self._enter(_St.READY)

    def _in_transaction(self, reply: Reply) -> None:
        assert self._transaction is not None
        self._transaction.received(reply)
        self._after_transaction()

    def _after_transaction(self) -> None:
        t = self._transaction
        assert t is not None
        if t.result is None:
            return
        self.message = t.result
        self._transaction = None
        if t.result.kind == DROPPED:
            self._state = _St.DONE
            self.verdict = Verdict(False, t.result.code, t.result.reply, Stage(t.result.stage), self._host,
                                   self._ip, self.port, self._tls)
            self._action = Done(self.verdict)
            return
        self._state = _St.READY
        self._action = Ready()

    def _finish_ok(self) -> None:
        self._state = _St.DONE
        assert self.verdict is not None
        self._action = Done(self.verdict)
