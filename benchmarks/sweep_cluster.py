#!/usr/bin/env python3
"""Sweep on a cluster: 64 points x 5 replications of a 24-hour scenario, on 1 and 2 local worker processes and
on a real two-worker Dask scheduler (started here on 127.0.0.1: `dask scheduler` + two `dask worker`), with the
rows checked identical across the three. Not a test: it takes minutes.

    python benchmarks/sweep_cluster.py [--rate 150/h] [--replications 5]

The grid: faults[0].duration = 1h..8h (8 values) x connectors[0].max_connections = 1,2,3,4,5,10,15,20 on the
bundled `outage-longer-than-expiration`, cut to 24 h, with its traffic halved to 150/h by default so the whole
benchmark stays near 10 minutes on a busy 2-core machine (`--rate 300/h` is the scenario's own rate).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mfi_sim import backends, grid, replications
from mfi_sim.scenario import parse_toml, resolve_path

OUTAGES = "1h,2h,3h,4h,5h,6h,7h,8h"
CONNECTIONS = "1,2,3,4,5,10,15,20"


def _start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A scheduler and two single-threaded workers on loopback; their address and processes."""
    dask = str(Path(sys.executable).with_name("dask"))
    info = folder / "scheduler.json"
    log = (folder / "cluster.log").open("wb")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)]
    deadline = time.monotonic() + 90
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.2)
    address = json.loads(info.read_text())["address"]
    for _ in range(2):
        procs.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                       "--no-nanny", "--no-dashboard", "--death-timeout", "30"],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=max(deadline - time.monotonic(), 1.0))
    return address, procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", default="150/h", help="traffic rate (default 150/h, half the scenario's own 300/h)")
    p.add_argument("--replications", type=int, default=5)
    a = p.parse_args()
    source = "outage-longer-than-expiration"
    data = parse_toml(resolve_path(source).read_text(), source)
    grid.apply(data, "scenario.duration", "24h")
    grid.apply(data, "traffic.rate", a.rate)
    points = grid.plan(data, [grid.parse_set(f"faults[0].duration={OUTAGES}"),
                              grid.parse_set(f"connectors[0].max_connections={CONNECTIONS}")], source)
    seeds = replications.replication_seeds(data["scenario"]["seed"], a.replications)
    tasks = replications.tasks_for(points, seeds, source)
    print(f"{len(points)} points x {a.replications} replications = {len(tasks)} tasks of 24 h at {a.rate}; "
          f"{os.cpu_count()} cores")
    results: dict[str, list[dict[str, object]]] = {}
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mfi-sweep-cluster-") as folder:
        address, procs = _start_cluster(Path(folder))
        try:
            for name, kwargs in (("1 local worker", {"workers": 1}), ("2 local workers", {"workers": 2}),
                                 ("2-worker dask scheduler", {"dask": address})):
                start = time.perf_counter()
                results[name] = backends.run_tasks(tasks, **kwargs)  # type: ignore[arg-type]
                times[name] = time.perf_counter() - start
                load = os.getloadavg()[0]
                print(f"{name:<24} {times[name]:7.1f} s  {len(tasks) / times[name]:6.2f} tasks/s  "
                      f"speed-up {times['1 local worker'] / times[name]:.2f}x  (1-min load average after: "
                      f"{load:.1f} on {os.cpu_count()} cores)", flush=True)
        finally:
            _stop(procs)
    same = all(rows == results["1 local worker"] for rows in results.values())
    print(f"rows identical on every backend: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
