"""The message ledger on its own: order of waiting messages, deferral, expiry, ages and delay notifications."""
from __future__ import annotations

from mfi_sim import codes
from mfi_sim.attempt import Outcome
from mfi_sim.ledger import MessageLedger
from mfi_sim.messages import DONE, INVALID_GONE, QUEUED
from mfi_sim.records import NdrRecord, Recorder
from mfi_sim.retry import get_policy
from mfi_sim.retry_state import RetryState

from helpers import Trace

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


def traced(arrivals: list[float], rcpts: int = 1, invalid: int = 0, delay: float | None = None
           ) -> tuple[MessageLedger, Trace, list[NdrRecord]]:
    """A ledger (connector index 3) with a trace and an NDR list; every message has `invalid` unknown recipients."""
    ndrs: list[NdrRecord] = []
    trace = Trace()
    ledger = MessageLedger(3, "c", [rcpts], 24 * HOUR, delay, HOUR, RetryState(get_policy("exchange-online")),
                           Recorder(), trace, ndrs.append)
    for t in arrivals:
        ledger.store.arrival.append(t)
        ledger.store.stream.append(0)
        ledger.store.invalid.append(invalid)
        ledger.store.status.append(QUEUED)
        ledger.waiting.append(len(ledger.store) - 1)
    return ledger, trace, ndrs


def test_a_message_with_unknown_recipients_is_sent_to_the_rest() -> None:
    """Known recipients are delivered (SEND, with the destination), unknown ones get a 5.1.10 NDR at once
    (FAIL); counts, latency and per-recipient times follow."""
    ledger, trace, ndrs = traced([10.0], rcpts=3, invalid=1)
    ledger.delivered(ledger.next_message(), 3, 1, 70.0, SENT)
    c = ledger.counters
    assert (c.delivered, c.ndr, c.ndr_by_status) == (2, 1, {"5.1.10": 1})
    assert ledger.latency.count == 1 and ledger.latency.total == 60.0
    assert c.times.extra_delivered.count == 1 and c.times.ndr.count == 1 and c.times.ndr.total == 60.0
    sent = "250 2.6.0 Queued mail for delivery [mail.contoso.com]"
    assert trace.events == [(70.0, "SEND", 3, 0, 1, sent, "Delivered", ("mail.contoso.com", "198.51.100.10")),
                            (70.0, "SEND", 3, 0, 2, sent, "Delivered", ("mail.contoso.com", "198.51.100.10")),
                            (70.0, "FAIL", 3, 0, 0, codes.RECIPIENT_NOT_FOUND, "Failed", None)]
    assert ndrs == [NdrRecord(70.0, 3, 0, ((0, "5.1.10", codes.RECIPIENT_NOT_FOUND),), "mail.contoso.com", 70.0)]
    assert ledger.store.status[0] == DONE and ledger.aged_messages(2 * HOUR) == 0


def test_every_recipient_known_is_one_send_each() -> None:
    """On the fast path a message to two known recipients is two SEND events and two deliveries."""
    ledger, trace, ndrs = traced([0.0], rcpts=2)
    ledger.delivered(ledger.next_message(), 2, 0, 5.0, SENT)
    assert ledger.counters.delivered == 2 and ndrs == [] and [e[1:5] for e in trace.events] == [
        ("SEND", 3, 0, 0), ("SEND", 3, 0, 1)]
    assert ledger.counters.times.extra_delivered.count == 1


def test_a_permanent_reply_bounces_every_recipient_with_its_status() -> None:
    """fail: the destination's 5xx ends the message at once with that reply and its status, one FAIL each."""
    ledger, trace, ndrs = traced([0.0], rcpts=2)
    number = ledger.next_message()
    ledger.defer(number, 60.0, get_policy("exchange-online"))
    ledger.fail(heappop_ready(ledger, 2 * HOUR), 2 * HOUR, "550 5.7.1 Relaying denied", SENT)
    c = ledger.counters
    assert (c.ndr, c.ndr_by_status, ledger.tries) == (2, {"5.7.1": 2}, {})
    assert [e[1:7] for e in trace.events] == [("FAIL", 3, 0, i, "550 5.7.1 Relaying denied", "Failed")
                                              for i in (0, 1)]
    assert ndrs == [NdrRecord(2 * HOUR, 3, 0, ((0, "5.7.1", "550 5.7.1 Relaying denied"),
                                               (1, "5.7.1", "550 5.7.1 Relaying denied")), "mail.contoso.com", None)]


def heappop_ready(ledger: MessageLedger, t: float) -> int:
    """Plays the timers to `t` and takes the message that became ready."""
    ledger.play_timers(t)
    return ledger.next_message()


def test_expiry_bounces_the_pending_recipients_and_notes_the_first_one() -> None:
    """An expired message gets one NDR for its recipients still pending (those NDR'd already are not counted
    again), listing the failed retries it lived through; the timeline notes only the first expiry."""
    ledger, trace, ndrs = traced([0.0, 30.0], rcpts=3, invalid=1)
    ledger.retry.connection_failed(REFUSED, 100.0)
    t, outcome = ledger.retry.take_pending()
    ledger.retry.enter(t, outcome)
    ledger.store.status[0] = INVALID_GONE          # its unknown recipient had its NDR on an earlier attempt
    ledger.play_timers(24 * HOUR + 30.0)
    reply = "550 5.4.316 Message expired, connection refused(refused)"
    assert ledger.expired == 2 + 3 and ledger.counters.ndr_by_status == {"5.4.316": 5}
    assert [(r.number, r.recipients, r.remote, r.last_attempt) for r in ndrs] == [
        (0, ((1, "5.4.316", reply), (2, "5.4.316", reply)), "mail.contoso.com", 100.0),
        (1, ((0, "5.4.316", reply), (1, "5.4.316", reply), (2, "5.4.316", reply)), "mail.contoso.com", 100.0)]
    assert ndrs[0].attempts == ndrs[1].attempts == ((100.0, "mail.contoso.com", REFUSED.last_error),)
    assert [(e[0], e[3], e[4]) for e in trace.events] == [(24 * HOUR, 0, 1), (24 * HOUR, 0, 2),
                                                          (24 * HOUR + 30.0, 1, 0), (24 * HOUR + 30.0, 1, 1),
                                                          (24 * HOUR + 30.0, 1, 2)]
    assert [(n.t, n.kind, n.connector, n.code) for n in ledger.recorder.notes] == [
        (24 * HOUR, "first_expiry", "c", codes.CONNECTION_REFUSED)]
    assert ledger.recorder.notes[0].text == f"First message on 'c' expired after 24 h in the queue: {reply}"


def test_refused_mail_is_rejected_on_arrival_or_bounced_when_queued() -> None:
    """refuse: new mail is rejected (counted `rejected`, the rejection's own reply); queued mail gets an NDR
    550 5.1.10 (counted `ndr`). Both end with one notice and one FAIL per recipient."""
    ledger, trace, ndrs = traced([0.0, 5.0], rcpts=2)
    ledger.defer(0, 1.0, get_policy("exchange-online"))
    ledger.waiting.popleft()
    ledger.refuse(0, 60.0, at_arrival=False)
    ledger.refuse(1, 61.0, at_arrival=True)
    c = ledger.counters
    assert (c.ndr, c.ndr_by_status, c.rejected, ledger.tries) == (2, {"5.1.10": 2}, 2, {})
    assert [e[1:7] for e in trace.events] == [
        ("FAIL", 3, 0, 0, codes.RECIPIENT_NOT_FOUND, "Failed"), ("FAIL", 3, 0, 1, codes.RECIPIENT_NOT_FOUND, "Failed"),
        ("FAIL", 3, 1, 0, codes.RECIPIENT_REJECTED, "Failed"), ("FAIL", 3, 1, 1, codes.RECIPIENT_REJECTED, "Failed")]
    assert ndrs == [
        NdrRecord(60.0, 3, 0, ((0, "5.1.10", codes.RECIPIENT_NOT_FOUND), (1, "5.1.10", codes.RECIPIENT_NOT_FOUND)),
                  None, 60.0),
        NdrRecord(61.0, 3, 1, ((0, "5.1.10", codes.RECIPIENT_REJECTED), (1, "5.1.10", codes.RECIPIENT_REJECTED)),
                  None, 61.0)]
    assert ledger.store.status[0] == ledger.store.status[1] == DONE


def test_a_looping_message_gets_the_hop_count_ndr() -> None:
    """loop: 554 5.4.14 for every pending recipient."""
    ledger, _, ndrs = traced([0.0], rcpts=2)
    ledger.loop(ledger.next_message(), 9.0, codes.MAIL_LOOP)
    assert ledger.counters.ndr_by_status == {"5.4.14": 2} and ndrs[0].recipients == (
        (0, "5.4.14", codes.MAIL_LOOP), (1, "5.4.14", codes.MAIL_LOOP))


def test_a_delay_notice_carries_the_queue_s_last_error() -> None:
    """The delay notice names the last error and its status, the server and until when the service retries;
    before any error, 4.4.7 and a plain reason."""
    ledger, trace, ndrs = traced([0.0, 10.0], rcpts=2, delay=HOUR)
    ledger.delay_notifications(HOUR)
    ledger.retry.connection_failed(REFUSED, 200.0)
    ledger.delay_notifications(HOUR + 10.0)
    plain, refused = ndrs
    assert plain == NdrRecord(HOUR, 3, 0, ((0, "4.4.7", "Delivery has been delayed"),
                                           (1, "4.4.7", "Delivery has been delayed")),
                              None, None, delayed=True, retry_until=24 * HOUR)
    assert refused == NdrRecord(HOUR + 10.0, 3, 1, ((0, "4.4.316", REFUSED.last_error),
                                                    (1, "4.4.316", REFUSED.last_error)),
                                "mail.contoso.com", 200.0, delayed=True, retry_until=24 * HOUR + 10.0)
    assert trace.events == [
        (HOUR, "DSN", 3, 0, 0, "Delay notification sent to the sender: Delivery has been delayed", "Pending", None),
        (HOUR + 10.0, "DSN", 3, 1, 0, f"Delay notification sent to the sender: {REFUSED.last_error}", "Pending",
         None)]
    assert ledger.counters.delay_notifications == 2


def test_a_failed_retry_defers_every_recipient_still_queued() -> None:
    """defer_all: one DEFER per pending recipient of every queued message that has arrived by then, with the
    reply and the server tried; nothing without a trace."""
    ledger, trace, _ = traced([0.0, 1.0, 2.0, 50.0], rcpts=2)
    ledger.store.status[1] = INVALID_GONE
    ledger.store.invalid[1] = 1
    ledger.waiting.remove(2)
    ledger.defer(2, 5.0, get_policy("exchange-online"))
    ledger.defer_all(40.0, "450 4.4.316 refused", ("mail.contoso.com", "198.51.100.10"))
    dest = ("mail.contoso.com", "198.51.100.10")
    assert trace.events == [(40.0, "DEFER", 3, n, i, "450 4.4.316 refused", "Pending", dest)
                            for n, i in ((0, 0), (0, 1), (1, 1), (2, 0), (2, 1))]
    quiet = ledger_with([0.0])
    quiet.defer_all(40.0, "x")


def test_a_message_deferred_again_waits_longer() -> None:
    """defer counts a message's own failures (a fixed list takes its next entry) and measures the message's age
    from its arrival (postfix waits as long as the message has been queued)."""
    policy = get_policy("exchange-online")
    ledger = ledger_with([500.0])
    number = ledger.next_message()
    ledger.defer(number, 1000.0, policy)
    again = heappop_ready(ledger, ledger.deferred[0][0])
    ledger.defer(again, 5000.0, policy)
    assert ledger.tries == {number: 2}
    assert ledger.deferred == [(5000.0 + policy.next_delay(2, 4500.0), number)]
    aged = ledger_with([500.0])
    aged.defer(aged.next_message(), 1000.0, get_policy("postfix"))
    assert aged.deferred == [(1500.0, 0)]


def test_due_by_names_each_timer_that_falls_due() -> None:
    """due_by(s) is True when, by s itself, the oldest waiting or ready message expires, a deferral timer
    ends or a delay notice is due; False when none of them has come yet."""
    expiring = ledger_with([0.0, 5.0])
    assert expiring.due_by(24 * HOUR) and not expiring.due_by(24 * HOUR - 1)
    ready = ledger_with([0.0, 5.0])
    ready.waiting.popleft()
    ready.ready.append(0)
    ready.waiting.clear()
    assert ready.due_by(24 * HOUR) and not ready.due_by(24 * HOUR - 1)
    deferred = ledger_with([100.0])
    deferred.waiting.clear()
    deferred.deferred.append((400.0, 0))
    assert deferred.due_by(400.0) and not deferred.due_by(399.0)
    notice = ledger_with([100.0], delay=HOUR)
    assert notice.due_by(HOUR + 100.0) and not notice.due_by(HOUR + 99.0)
    notice.delay_notifications(HOUR + 100.0)
    assert not notice.due_by(2 * HOUR)


def test_waiting_ready_and_deferred_messages_expire_at_their_deadline() -> None:
    """play_timers ends every message whose lifetime ran out, at arrival + lifetime, wherever it waits; a
    deferral due after that deadline ends at the deadline too; a deferred message's count of tries goes."""
    ledger, _, ndrs = traced([0.0, 10.0, 20.0, 30.0])
    ledger.waiting.clear()
    ledger.ready.append(1)
    ledger.defer(2, 100.0, get_policy("exchange-online"))
    ledger.deferred[:] = [(24 * HOUR + 500.0, 2)]
    ledger.waiting.extend([0, 3])
    ledger.play_timers(24 * HOUR + 600.0)
    assert sorted((r.number, r.t) for r in ndrs) == [(0, 24 * HOUR), (1, 24 * HOUR + 10.0), (2, 24 * HOUR + 20.0),
                                                     (3, 24 * HOUR + 30.0)]
    assert ledger.queued() == 0 and ledger.tries == {} and ledger.expired == 4


def test_the_exchange_server_preset_writes_its_own_expiry() -> None:
    """Under the exchange-server preset an expired message gets 550 4.4.7 QUEUE.Expired."""
    ndrs: list[NdrRecord] = []
    ledger = MessageLedger(0, "c", [1], HOUR, None, HOUR, RetryState(get_policy("exchange-server")), Recorder(),
                           None, ndrs.append)
    ledger.store.arrival.append(0.0)
    ledger.store.stream.append(0)
    ledger.store.invalid.append(0)
    ledger.store.status.append(QUEUED)
    ledger.waiting.append(0)
    ledger.play_timers(HOUR)
    assert ndrs[0].recipients == ((0, "4.4.7", "550 4.4.7 QUEUE.Expired; message expired"),)


def test_queued_mail_refused_after_an_unknown_recipient_s_ndr_skips_it() -> None:
    """A message whose unknown recipients already had their NDR: a later refusal NDRs only the rest, counted
    once each."""
    ledger, trace, ndrs = traced([0.0], rcpts=3, invalid=1)
    ledger.store.status[0] = INVALID_GONE
    ledger.waiting.clear()
    ledger.refuse(0, 50.0, at_arrival=False)
    assert ledger.counters.ndr == 2 and ledger.counters.ndr_by_status == {"5.1.10": 2}
    assert ledger.counters.times.ndr.count == 2 and ledger.counters.times.ndr.total == 100.0
    assert [r.recipients for r in ndrs] == [((1, "5.1.10", codes.RECIPIENT_NOT_FOUND),
                                             (2, "5.1.10", codes.RECIPIENT_NOT_FOUND))]
    assert [e[4] for e in trace.events] == [1, 2]


def test_a_delivered_message_s_time_in_the_system() -> None:
    """The fast path records arrival-to-delivery once per message in the latency histogram and once more for
    each further recipient."""
    ledger, _, _ = traced([100.0], rcpts=3)
    ledger.delivered(ledger.next_message(), 3, 0, 160.0, SENT)
    ledger.flush_latency()
    assert (ledger.latency.count, ledger.latency.total) == (1, 60.0)
    times = ledger.counters.times.extra_delivered
    assert (times.count, times.total) == (2, 120.0)


def test_a_deferred_message_waits_for_its_own_time_not_its_number() -> None:
    """The deferral heap is ordered by retry time: message 7, due at 1000 s, is not ready at 500 s."""
    ledger = ledger_with([float(i) for i in range(8)])
    ledger.waiting.remove(7)
    ledger.deferred.append((1000.0, 7))
    ledger.play_timers(500.0)
    assert ledger.deferred == [(1000.0, 7)] and ledger.ready == []
    ledger.play_timers(1000.0)
    assert ledger.ready == [7]


def test_a_reply_without_an_enhanced_status_bounces_as_5_0_0() -> None:
    """A permanent reply with no enhanced status code (plain "550 ...") is counted and reported as 5.0.0."""
    ledger, _, ndrs = traced([0.0])
    ledger.fail(ledger.next_message(), 30.0, "550 Relaying denied", SENT)
    assert ledger.counters.ndr_by_status == {"5.0.0": 1}
    assert ndrs[0].recipients == ((0, "5.0.0", "550 Relaying denied"),)
    assert (ledger.counters.times.ndr.count, ledger.counters.times.ndr.total) == (1, 30.0)


def test_partly_delivered_messages_add_up() -> None:
    """Two messages with an unknown recipient each: deliveries and NDRs add up over both, with their times in
    the system; the SEND events carry the delivery time."""
    ledger, trace, _ = traced([100.0, 200.0], rcpts=3, invalid=1)
    ledger.delivered(ledger.next_message(), 3, 1, 160.0, SENT)
    ledger.delivered(ledger.next_message(), 3, 1, 260.0, SENT)
    c = ledger.counters
    assert (c.delivered, c.ndr) == (4, 2)
    assert (c.times.extra_delivered.count, c.times.extra_delivered.total) == (2, 120.0)
    assert {e[0] for e in trace.events if e[1] == "SEND" and e[3] == 1} == {260.0}
    fast, fast_trace, _ = traced([0.0], rcpts=2)
    fast.delivered(fast.next_message(), 2, 0, 5.0, SENT)
    assert [e[0] for e in fast_trace.events] == [5.0, 5.0]


def test_a_delay_notice_lists_only_the_recipients_still_pending() -> None:
    """A message whose unknown recipient already had its NDR: the delay notice lists the other two only."""
    ledger, _, ndrs = traced([0.0], rcpts=3, invalid=1, delay=HOUR)
    ledger.store.status[0] = INVALID_GONE
    ledger.delay_notifications(HOUR)
    assert [i for i, _, _ in ndrs[0].recipients] == [1, 2]


def test_a_message_with_no_recipient_left_gets_no_notice() -> None:
    """Refused or bounced when every recipient already had its NDR: nothing more is counted or sent."""
    ledger, _, ndrs = traced([0.0, 1.0], rcpts=1, invalid=1)
    for number in (0, 1):
        ledger.store.status[number] = INVALID_GONE
    ledger.waiting.clear()
    ledger.refuse(0, 50.0, at_arrival=False)
    ledger.loop(1, 50.0, codes.MAIL_LOOP)
    assert ndrs == [] and ledger.counters.ndr == 0


def test_an_old_message_that_bounces_leaves_the_aged_count_once() -> None:
    """aged_messages counts queued messages older than `aged_after`; one that ends leaves it exactly once."""
    ledger = ledger_with([0.0, 10.0, 20.0])
    assert ledger.aged_messages(HOUR + 15.0) == 2
    ledger.fail(0, HOUR + 16.0, "550 5.7.1 Relaying denied", SENT)
    assert ledger.aged_messages(HOUR + 16.0) == 1 and ledger.aged_messages(HOUR + 25.0) == 2
