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

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine

BUDGET = 100.0   # bytes per queued message


def scenario_text(messages: int, rate: float) -> str:
    """Traffic for `messages / rate` seconds to a smart host that refuses every connection from the start."""
    seconds = messages / rate
    return f"""\
[scenario]
name = "benchmark: everything stays queued"
seed = 1
duration = "{seconds:.3f}s"

[tenant]
message_expiration = "24h"
delay_notification = "off"

[[connectors]]
name = "To smart host"
smart_hosts = ["mail.fabrikam.example"]
recipient_domains = ["fabrikam.example"]
tls = "None"
max_connections = 20

[dns]
zone = \"\"\"
$ORIGIN fabrikam.example.
@     3600 IN SOA ns1 hostmaster 1 7200 900 1209600 300
@     3600 IN NS  ns1
ns1   3600 IN A   192.0.2.53
mail  3600 IN A   192.0.2.10
\"\"\"

[[servers]]
address = "192.0.2.10"
hostname = "mail.fabrikam.example"
starttls = false

[[traffic]]
rate = "{rate:g}/s"
to = "fabrikam.example"

[[faults]]
kind = "connection_refused"
target = "192.0.2.10"
start = "0s"

[alerts]
evaluate_every = "5m"
"""


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

    queue = result.queues[0]
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
          f"queue status {queue.status()}, {queue.failures} queue retries)")
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
