"""One mail transaction (MAIL, RCPT, DATA) driven by scripted replies, with no socket."""
from __future__ import annotations

from mfi_sim import codes
from mfi_sim.reply import Reply
from mfi_sim.transaction import DEFERRED, DELIVERED, DROPPED, FAILED, Transaction


def play(recipients: list[str], replies: list[str]) -> Transaction:
    t = Transaction("a@x.example", recipients, "Subject: t\r\n\r\nhi\r\n")
    for r in replies:
        assert t.result is None
        t.received(Reply.parse(r))
    return t


def test_delivered() -> None:
    """250 to MAIL and RCPT, 354 to DATA and 250 to the content deliver the message."""
    t = play(["b@y"], ["250 ok", "250 ok", "354 go", "250 2.6.0 queued"])
    assert t.result is not None and t.result.kind == DELIVERED and t.result.reply == "250 2.6.0 queued"


def test_5xx_to_mail_bounces_with_the_servers_reply() -> None:
    """A 5xx to MAIL fails the message with the server's own reply and code (SPEC 1.2)."""
    t = play(["b@y"], ["550 5.7.1 blocked"])
    assert t.result is not None and (t.result.kind, t.result.code, t.result.stage) == (FAILED, "550 5.7.1", "mail")


def test_4xx_to_data_defers() -> None:
    """A 4xx after the content defers the message (RFC 5321 4.2.5)."""
    t = play(["b@y"], ["250 ok", "250 ok", "354 go", "451 4.3.0 later"])
    assert t.result is not None and (t.result.kind, t.result.stage) == (DEFERRED, "data")


def test_some_recipients_refused() -> None:
    """A refused recipient among accepted ones is listed; the message goes on to the others."""
    t = play(["b@y", "c@y"], ["250 ok", "550 5.1.10 unknown", "250 ok", "354 go", "250 ok"])
    assert t.result is not None and t.result.kind == DELIVERED
    assert t.result.refused == (("b@y", "550 5.1.10 unknown"),)


def test_every_recipient_refused_prefers_a_4xx() -> None:
    """When nobody is accepted, a temporary refusal defers rather than bounces; no DATA is sent."""
    t = play(["b@y", "c@y"], ["250 ok", "550 5.1.10 unknown", "452 4.5.3 too many"])
    assert t.result is not None and (t.result.kind, t.result.code) == (DEFERRED, "452 4.5.3")


def test_lost_during_content() -> None:
    """Losing the connection after the content is 4.4.318 and drops the session."""
    t = play(["b@y"], ["250 ok", "250 ok", "354 go"])
    t.lost()
    assert t.result is not None and (t.result.kind, t.result.code) == (DROPPED, codes.CLOSED_ABRUPTLY)
