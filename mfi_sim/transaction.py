"""One mail transaction on an established session, as a state machine with no I/O: MAIL, RCPT per recipient,
DATA, the 354, the content, the final reply (RFC 5321 sections 3.3 and 4.1.1.2-4.1.1.4).

It takes parsed replies (or a lost connection) and gives back the next command, then a MessageResult. Failures
are classified by the same table as the session's (smtp_rules.py): a 4xx defers the message, a 5xx bounces it,
a lost connection is 450 4.4.318 and takes the session with it. A recipient the server refuses while others are
accepted stays refused (listed in `refused`); the message goes on to the accepted ones.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .reply import Reply
from .smtp_rules import Effect, Failure, Stage, reply_failure, rule_for

__all__ = ["Transaction", "MessageResult", "Send", "DELIVERED", "DEFERRED", "FAILED", "DROPPED"]

# Per-message results.
DELIVERED, DEFERRED, FAILED, DROPPED = "delivered", "deferred", "failed", "dropped"
_KIND = {Effect.DEFER_MESSAGE: DEFERRED, Effect.BOUNCE: FAILED, Effect.DEFER_QUEUE: DROPPED}


@dataclass(frozen=True, slots=True)
class Send:
    """Send `line` (a command, or with `content` the message text) and read one reply."""

    stage: Stage | None
    line: str
    content: bool = False


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What happened to one message inside an open session."""

    kind: str                   # DELIVERED, DEFERRED (4xx), FAILED (5xx), DROPPED (connection lost)
    reply: str = "250 2.6.0 Queued mail for delivery"
    code: str | None = None
    stage: str | None = None
    rejected_invalid: bool = True   # whether the invalid recipients were refused at RCPT this time
    refused: tuple[tuple[str, str], ...] = ()   # (recipient, reply) refused while others were accepted


_MAIL, _RCPT, _DATA, _CONTENT, _DONE = range(5)


class Transaction:
    """MAIL FROM, RCPT TO for each recipient, DATA, content; `result` is set once it ends."""

    def __init__(self, sender: str, recipients: Sequence[str], content: str,
                 say: Callable[[str], None] | None = None) -> None:
        self.recipients = recipients
        self.content = content
        self.say = say
        self.result: MessageResult | None = None
        self._state = _MAIL
        self._rcpt = 0
        self._accepted = 0
        self._refused: list[tuple[str, Reply]] = []
        self._action = self._send(Stage.MAIL, f"MAIL FROM:<{sender}>")

    def next_action(self) -> Send:
        """The command to send now."""
        return self._action

    def received(self, reply: Reply) -> None:
        """The reply to the last command."""
        say = self.say
        if say:
            for line in reply.wire_lines:
                say(f"<-  {line}")
        state = self._state
        if state == _RCPT:
            self._rcpt_reply(reply)
        elif not reply.positive:
            self._end(Stage.MAIL if state == _MAIL else Stage.DATA, reply_failure(reply), reply)
        elif state == _MAIL:
            self._state = _RCPT
            self._next_rcpt()
        elif state == _DATA:
            self._state = _CONTENT
            if say:
                say(f"->  ({len(self.content)} bytes of message content)")
                say("->  .")
            self._action = Send(Stage.DATA, self.content, content=True)
        else:
            self._state = _DONE
            self.result = MessageResult(DELIVERED, reply.text, None, None, True, tuple(
                (r, x.text) for r, x in self._refused))

    def lost(self, failure: Failure = Failure.LOST) -> None:
        """The connection closed or went silent before the reply."""
        stage = (Stage.MAIL, Stage.RCPT, Stage.DATA, Stage.DATA)[self._state]
        self._end(stage, failure, None)

    def _send(self, stage: Stage, line: str) -> Send:
        if self.say:
            self.say(f"->  {line}")
        return Send(stage, line)

    def _next_rcpt(self) -> None:
        if self._rcpt < len(self.recipients):
            self._action = self._send(Stage.RCPT, f"RCPT TO:<{self.recipients[self._rcpt]}>")
            self._rcpt += 1
            return
        if self._accepted:
            self._state = _DATA
            self._action = self._send(Stage.DATA, "DATA")
            return
        # Nobody accepted: a 4xx among the refusals defers the message, else the first 5xx bounces it.
        deciding = next((r for _, r in self._refused if not r.permanent), self._refused[0][1])
        self._end(Stage.RCPT, reply_failure(deciding), deciding)

    def _rcpt_reply(self, reply: Reply) -> None:
        if reply.positive:
            self._accepted += 1
        else:
            self._refused.append((self.recipients[self._rcpt - 1], reply))
        self._next_rcpt()

    def _end(self, stage: Stage, failure: Failure, reply: Reply | None) -> None:
        rule = rule_for(stage, failure)
        detail = rule.detail(reply)
        if self.say:
            self.say(f"<** {detail}")
        code = rule.code if rule.code is not None else (reply.short_code if reply is not None else None)
        self._state = _DONE
        self.result = MessageResult(_KIND[rule.effect], detail, code, stage.value)
