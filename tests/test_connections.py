"""The connection pool on its own: reuse, the per-connection message limit, idle close, Retry closing all."""
from __future__ import annotations

from mfi_sim.attempt import Outcome
from mfi_sim.connections import KEEPALIVE, ConnectionPool

OPEN = Outcome(True, None, "", "mail.contoso.com", "198.51.100.10", 25, 0.1)


def test_an_open_session_carries_the_next_ready_message() -> None:
    """A message ready while its slot's session is open (and within keep-alive) reuses that session."""
    pool = ConnectionPool(2, 3)
    f0, slot = pool.free[0]
    assert pool.reusable(slot, 0.0, f0) is None          # nothing open yet
    pool.opened(slot, OPEN)
    pool.carried(slot, 1.0)
    assert pool.reusable(slot, 0.5, 1.0) is OPEN         # waiting already: straight on
    assert pool.reusable(slot, 1.0 + KEEPALIVE, 1.0) is OPEN


def test_idle_connections_close_after_keepalive() -> None:
    """A message that becomes ready more than KEEPALIVE after the slot went idle needs a new connection."""
    pool = ConnectionPool(1, 100)
    pool.opened(0, OPEN)
    pool.carried(0, 10.0)
    assert pool.reusable(0, 10.0 + KEEPALIVE + 0.001, 10.0) is None


def test_a_session_carries_at_most_messages_per_connection() -> None:
    """After `messages_per_connection` messages the slot opens a new connection."""
    pool = ConnectionPool(1, 2)
    pool.opened(0, OPEN)
    pool.carried(0, 1.0)
    assert pool.reusable(0, 1.0, 1.0) is OPEN
    pool.carried(0, 2.0)
    assert pool.reusable(0, 2.0, 2.0) is None
    pool.opened(0, OPEN)
    assert pool.left[0] == 2


def test_free_slots_form_a_heap_by_time() -> None:
    """The slot free soonest is at the top; `busy` counts slots still carrying a message."""
    pool = ConnectionPool(3, 10)
    for slot, until in ((0, 5.0), (1, 2.0), (2, 9.0)):
        f0, s = pool.free[0]
        pool.opened(s, OPEN)
        pool.carried(s, until)
    assert pool.free[0][0] == 2.0
    assert pool.busy(0.0) == 3 and pool.busy(4.0) == 2 and pool.busy(9.0) == 0


def test_lost_and_close_all_drop_sessions() -> None:
    """A failed or dropped connection frees its slot with no session; Retry closes every session."""
    pool = ConnectionPool(2, 10)
    pool.opened(0, OPEN)
    pool.opened(1, OPEN)
    pool.lost(0, 3.0)
    assert pool.session[0] is None and pool.session[1] is OPEN
    assert (3.0, 0) in pool.free
    held = pool.session
    pool.close_all()
    assert held is pool.session and pool.session == [None, None]   # in place: a running loop sees it
