"""Connector summaries: the ages of the recipients still queued at the end (the censored times in system the
figures use), found a bucket at a time, equal what a step per message finds."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine
from mfi_sim.messages import DONE, INVALID_GONE, QUEUED, MessageStore
from mfi_sim.queue import ConnectorQueue
from mfi_sim.records import LatencyHistogram
from mfi_sim.summary import censored_ages

from helpers import scenario_text

REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "{start}"\n{end}'
DEFER_DATA = '[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "data"\nreply = "451 4.3.0 Busy"\n' \
             'start = "1h"\n'
BURST = 'bursts = [{ at = "2h", count = 300 }]'


def step_by_step(queue: ConnectorQueue, t: float) -> LatencyHistogram:
    """The reference: each unfinished message, one at a time, weighted by its recipients still waiting."""
    store = queue.store
    ages = LatencyHistogram()
    for i, status in enumerate(store.status):
        if status != DONE:
            gone = store.invalid[i] if status == INVALID_GONE else 0
            ages.add_weighted(t - store.arrival[i], queue.ledger.rcpts[store.stream[i]] - gone)
    return ages


@pytest.mark.parametrize("faults, traffic, more, gone", [
    (REFUSED.format(start="1h", end=""), BURST, "", False),                           # one backlog to the end
    (REFUSED.format(start="30m", end='duration = "1h"\n') + REFUSED.format(start="3h", end=""), "", "", False),
    (DEFER_DATA, "recipients_per_message = 3\ninvalid_recipient_fraction = 0.5", "", True),   # 5.1.10 bounced
    (REFUSED.format(start="1h", end=""), "", '[[traffic]]\nrate = "300/h"\n', False),  # two streams, same size
    (REFUSED.format(start="1h", end=""), "", '[[traffic]]\nrate = "300/h"\nrecipients_per_message = 2\n', False),
])
def test_queued_ages_equal_a_step_per_message(faults: str, traffic: str, more: str, gone: bool) -> None:
    """Backlogs to the end, in two stretches, with unknown recipients already bounced, and with two traffic
    streams (same and different sizes): same buckets, counts and oldest age as the one-at-a-time reference."""
    sc = loads_scenario(scenario_text(duration="4h", faults=faults, traffic=traffic, extra=more), "t.toml")
    engine = Engine(sc)
    engine.run()
    q = engine.queues[0]
    assert (INVALID_GONE in q.store.status) == gone
    want = step_by_step(q, sc.duration)
    got = censored_ages(q, sc.duration)
    assert want.count > 0 and want.count == q.counters.queued
    assert (got.bins(), got.count, got.max) == (want.bins(), want.count, want.max)
    assert got.total == pytest.approx(want.total, rel=1e-9)


@pytest.mark.parametrize("after", [0.0002, 0.004, 0.9])
def test_the_youngest_ages_fall_in_the_histograms_own_buckets(after: float) -> None:
    """Just after the last arrival (under 1 ms, a few ms, most of a second) the youngest recipients land where
    the histogram itself puts them, the zero bucket included."""
    sc = loads_scenario(scenario_text(duration="3h", faults=REFUSED.format(start="1h", end="")), "t.toml")
    engine = Engine(sc)
    engine.run()
    q = engine.queues[0]
    t = max(q.store.arrival) + after
    want = step_by_step(q, t)
    got = censored_ages(q, t)
    assert (got.bins(), got.count, got.max) == (want.bins(), want.count, want.max)


def test_ages_close_together_are_bucketed_one_by_one_where_they_differ() -> None:
    """A store written by hand: arrivals a fraction of a millisecond to hours before `t`, some finished, some with
    unknown recipients bounced; every age lands in the histogram's own bucket (the zero one under 1 ms)."""
    rng = random.Random(7)
    t = 10_000.0
    ages = sorted({round(rng.choice([rng.uniform(0, 0.02), rng.uniform(0, 5), rng.expovariate(1 / 3000)]), 6)
                   for _ in range(3000)}, reverse=True)
    store = MessageStore()
    for age in ages:
        store.arrival.append(t - age)
        store.stream.append(0)
        status = rng.choice([DONE, QUEUED, QUEUED, INVALID_GONE])
        store.status.append(status)
        store.invalid.append(rng.randint(1, 2) if status == INVALID_GONE else 0)
    queue = SimpleNamespace(store=store, ledger=SimpleNamespace(rcpts=[3]))
    want = step_by_step(queue, t)  # type: ignore[arg-type]
    got = censored_ages(queue, t)  # type: ignore[arg-type]
    assert sum(1 for a in ages if a < 1e-3) > 5 and sum(1 for a in ages if 1e-3 <= a < 0.02) > 50
    assert (got.bins(), got.count, got.max) == (want.bins(), want.count, want.max)
