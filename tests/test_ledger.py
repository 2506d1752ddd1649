"""The message ledger on its own: order of waiting messages, deferral, expiry, ages and delay notifications."""
from __future__ import annotations

from mfi_sim import codes
from mfi_sim.attempt import Outcome
from mfi_sim.ledger import MessageLedger
from mfi_sim.messages import DONE, QUEUED
from mfi_sim.records import NdrRecord, Recorder
from mfi_sim.retry import get_policy
from mfi_sim.retry_state import RetryState

HOUR = 3600.0
REFUSED = Outcome(False, codes.CONNECTION_REFUSED, "refused", "mail.contoso.com", "198.51.100.10", 25, 0.05)
SENT = Outcome(True, None, "", "mail.contoso.com", "198.51.100.10", 25, 0.1)


def ledger_with(arrivals: list[float], delay: float | None = None, rcpts: int = 1,
                ndrs: list[NdrRecord] | None = None) -> MessageLedger:
    ledger = MessageLedger(0, "c", [rcpts], 24 * HOUR, delay, HOUR, RetryState(get_policy("exchange-online")),
                           Recorder(), None, ndrs.append if ndrs is not None else None)
    for t in arrivals:
        ledger.store.arrival.append(t)
        ledger.store.stream.append(0)
        ledger.store.invalid.append(0)
        ledger.store.status.append(QUEUED)
        ledger.waiting.append(len(ledger.store) - 1)
    return ledger


def test_a_failed_attempt_keeps_its_message_until_it_ends() -> None:
    """A message whose attempt fails is in flight until the failure is known, then waits again (oldest first)."""
    ledger = ledger_with([0.0, 1.0, 2.0])
    number = ledger.next_message()
    ledger.back_at(number, 30.0)
    assert ledger.next_message() == 1          # not the one still in flight
    ledger.play_timers(30.0)
    assert ledger.next_message() == number


def test_deferral_never_waits_past_expiry() -> None:
    """A deferred message's retry time is capped at its expiry; when it comes, the message is ready again."""
    ledger = ledger_with([0.0])
    number = ledger.waiting.popleft()
    ledger.defer(number, 23.99 * HOUR, get_policy("exchange-online"))
    assert ledger.deferred[0][0] == 24 * HOUR
    ledger.play_timers(24 * HOUR)
    assert ledger.expired == 1 and ledger.store.status[number] == DONE


def test_expiry_names_the_last_error_only_while_the_queue_fails() -> None:
    """Expired while the queue is failing: 5.4.316 (refused) with the error's detail; after recovery: 5.4.300
    followed by the last reply on record (SPEC 1.2, 2026-12)."""
    ndrs: list[NdrRecord] = []
    ledger = ledger_with([0.0, 1.0], ndrs=ndrs)
    ledger.retry.connection_failed(REFUSED, 10.0)
    ledger.play_timers(24 * HOUR)
    assert ndrs[0].recipients[0][1:] == ("5.4.316", "550 5.4.316 Message expired, connection refused(refused)")
    ledger.retry.take_pending()
    ledger.play_timers(24 * HOUR + 1)
    assert ndrs[1].recipients[0][1] == "5.4.300"
    assert ndrs[1].recipients[0][2] == f"550 5.4.300 Message expired -> {REFUSED.last_error}"
    assert ledger.expired == 2 and not ledger.waiting


def test_aged_messages_count_only_unfinished_ones() -> None:
    """Aged: queued longer than `aged_after` and not finished (a delivered old message does not count)."""
    ledger = ledger_with([0.0, 10.0, 20.0, 5000.0])
    assert ledger.aged_messages(HOUR + 15.0) == 2
    ledger.delivered(1, 1, 0, HOUR + 16.0, SENT)
    assert ledger.aged_messages(HOUR + 30.0) == 2
    ledger.flush_latency()
    assert ledger.latency.count == 1 and ledger.counters.delivered == 1


def test_one_delay_notification_per_message() -> None:
    """Each message still queued `delay_notification` after arrival gets exactly one delay notice."""
    ndrs: list[NdrRecord] = []
    ledger = ledger_with([0.0, 60.0, 120.0], delay=4 * HOUR, ndrs=ndrs)
    ledger.delivered(1, 1, 0, 30.0 + 60.0, SENT)
    ledger.delay_notifications(4 * HOUR + 60.0)
    ledger.delay_notifications(5 * HOUR)
    assert ledger.counters.delay_notifications == 2
    assert [r.number for r in ndrs] == [0, 2] and all(r.delayed for r in ndrs)
    assert ndrs[0].retry_until == 24 * HOUR


def test_take_all_empties_every_place_in_arrival_order() -> None:
    """take_all returns waiting, ready and deferred messages, oldest first, and leaves none behind."""
    ledger = ledger_with([0.0, 1.0, 2.0, 3.0])
    ledger.waiting.remove(1)
    ledger.defer(1, 5.0, get_policy("exchange-online"))
    ledger.waiting.remove(2)
    ledger.ready.append(2)
    assert ledger.queued() == 4 and ledger.oldest_arrival() == 0.0
    assert ledger.take_all() == [0, 1, 2, 3]
    assert ledger.queued() == 0 and ledger.oldest_arrival() is None
