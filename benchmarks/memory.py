#!/usr/bin/env python3
"""Heap bytes per queued message in mfi-sim, measured with tracemalloc.

The smart host refuses every connection for the whole run, so every message that arrives stays queued
(expiry is far away). Traffic arrives at --rate for as long as it takes to queue about --messages messages.
tracemalloc's current traced size is read after the engine is built and again after the run, with the Result
and the engine still alive; the difference divided by the number of queued messages is the cost of one
queued message. The budget is 100 bytes per message; the exit status is 1 when it is exceeded.

  python benchmarks/memory.py --messages 1000000
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the workload definition shared by the benchmarks)

BUDGET = 100.0   # bytes per queued message


def scenario_text(messages: int, rate: float) -> str:
    """compare.py's reference workload, with every connection refused for the whole run."""
    hours = messages / rate / 3600.0
    workload = argparse.Namespace(rate=rate, hours=hours, drain_hours=0.0, outage_start=0.0, outage_hours=hours,
                                  connections=20, service=0.05, expiry_hours=24.0, retry=600.0, seed=1)
    return compare.scenario_text(workload)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000, help="messages to queue (about; Poisson)")
    p.add_argument("--rate", type=float, default=1000.0, help="arrivals per second")
    a = p.parse_args(argv)

    scenario = loads_scenario(scenario_text(a.messages, a.rate), "<memory benchmark>")
    tracemalloc.start()
    engine = Engine(scenario)
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    result = engine.run()
    wall = time.perf_counter() - t
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    queue = engine.queues[0]   # the live queue: its message store is what this measures
    queued = queue.queued_messages()
    c = queue.counters
    if queued == 0:
        print(f"nothing stayed queued (received {c.received}, delivered {c.delivered}, ndr {c.ndr})")
        return 1
    grown = after - before
    per_message = grown / queued
    per_message_peak = (peak - before) / queued
    store = queue.store
    store_bytes = sum(arr.buffer_info()[1] * arr.itemsize for arr in
                      (store.arrival, store.stream, store.invalid, store.status))
    print(f"queued messages      {queued:,} (received {c.received:,}, delivered {c.delivered}, ndr {c.ndr}, "
          f"queue status {queue.status()}, {queue.retry.failures} queue retries)")
    print(f"run (under tracemalloc) {wall:.2f} s")
    print(f"traced after build   {before:,} B")
    print(f"traced after run     {after:,} B  (peak during run {peak:,} B)")
    print(f"message store arrays {store_bytes / queued:.1f} B/message (arrival, stream, invalid, status)")
    print(f"bytes per queued message: {per_message:.1f} (peak during run: {per_message_peak:.1f})")
    ok = per_message <= BUDGET
    print(f"<= {BUDGET:g} bytes/message: {'PASS' if ok else 'FAIL'}")
    del engine, result
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
