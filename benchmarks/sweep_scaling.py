#!/usr/bin/env python3
"""Sweep scaling: the same 8-task sweep on 1 worker and on 2, and the speed-up (target >= 1.7x on 2 cores).

    python benchmarks/sweep_scaling.py [--scenario connection-refused] [--replications 4]
"""
from __future__ import annotations

import argparse
import sys
import time

from mfi_sim import backends, grid, replications
from mfi_sim.scenario import parse_toml, resolve_path, scenario_from_data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="outage-longer-than-expiration")
    p.add_argument("--set", default="faults[0].end=20h,30h")
    p.add_argument("--replications", type=int, default=4)
    a = p.parse_args()
    path = resolve_path(a.scenario)
    data = parse_toml(path.read_text(), a.scenario)
    base = scenario_from_data(dict(data), a.scenario)
    points = grid.plan(data, [grid.parse_set(a.set)], a.scenario)
    seeds = replications.replication_seeds(base.seed, a.replications)
    tasks = [replications.Task(i, r, s, v, a.scenario) for i, (_, v) in enumerate(points) for r, s in enumerate(seeds)]
    times = {}
    rows = {}
    for workers in (1, 2):
        start = time.perf_counter()
        rows[workers] = backends.run_tasks(tasks, workers=workers)
        times[workers] = time.perf_counter() - start
        print(f"{len(tasks)} tasks on {workers} worker(s): {times[workers]:.2f} s")
    speedup = times[1] / times[2]
    print(f"speed-up with 2 workers: {speedup:.2f}x (target >= 1.7x); identical rows: {rows[1] == rows[2]}")
    return 0 if speedup >= 1.7 and rows[1] == rows[2] else 1


if __name__ == "__main__":
    sys.exit(main())
