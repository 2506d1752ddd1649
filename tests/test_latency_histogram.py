"""The latency histogram's batch path (map and Counter in C) against a plain loop over the values."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from mfi_sim.records import LatencyHistogram

latencies = st.lists(st.one_of(st.floats(0.0, 2e-3), st.floats(0.0, 200.0), st.floats(0.0, 90000.0)), max_size=300)


def by_hand(batches: list[list[float]]) -> tuple[int, float, float, list[tuple[float, int]]]:
    """count, total (left to right), max and (bucket midpoint, count) the slow way."""
    count, total, top, zero = 0, 0.0, 0.0, 0
    buckets: dict[int, int] = {}
    for batch in batches:
        part = 0.0
        for v in batch:
            count += 1
            part += v
            top = max(top, v)
            if v < 1e-3:
                zero += 1
            else:
                b = int(math.log(v * 1000.0) / math.log(1.01))
                buckets[b] = buckets.get(b, 0) + 1
        total += part
    bins = [(0.0, zero)] if zero else []
    bins += [(min(math.exp((b + 0.5) * math.log(1.01)) / 1000.0, top), buckets[b]) for b in sorted(buckets)]
    return count, total, top, bins


@given(st.lists(latencies, max_size=4))
def test_batches_equal_the_plain_loop(batches: list[list[float]]) -> None:
    h = LatencyHistogram()
    for batch in batches:
        h.add_many(batch)
    assert (h.count, h.total, h.max, h.bins()) == by_hand(batches)


def test_a_value_at_a_time_equals_a_batch() -> None:
    values = [0.0, 0.0004, 0.001, 0.05, 0.05, 3.2, 3600.0]
    one, many = LatencyHistogram(), LatencyHistogram()
    for v in values:
        one.add(v)
    many.add_many(values)
    assert (one.count, one.max, one.bins()) == (many.count, many.max, many.bins()) == (7, 3600.0, one.bins())
    assert one.bins()[0] == (0.0, 2)
    assert many.percentile(0.5) == one.percentile(0.5)
