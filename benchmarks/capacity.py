#!/usr/bin/env python3
"""The capacity standard: a day of a large tenant's traffic, timed, with its peak memory.

Runs `mfi-sim run benchmarks/capacity-standard.toml --quiet --json ...` in a child process and prints wall
seconds, peak RSS of the child and the run's figures, against the targets (60 s, 600 MB on 2 cores).

    python benchmarks/capacity.py [--scenario PATH] [--duration 24h]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WALL_TARGET_S = 60.0
RSS_TARGET_MB = 600.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default=str(HERE / "capacity-standard.toml"))
    p.add_argument("--duration", help="override the simulated duration (e.g. 2h for a quick look)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "mfi_sim", "run", a.scenario, "--quiet", "--json", str(out)]
        if a.duration:
            cmd += ["--duration", a.duration]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = json.loads(out.read_text())
    s = result["summary"]
    print(f"scenario        {result['scenario']}")
    print(f"messages        {s['received']:,} received, {s['delivered']:,} delivered, {s['ndr']:,} NDR, "
          f"{s['queued_at_end']:,} queued at end")
    print(f"peak queue      {s['max_queue_depth']:,} messages")
    print(f"alerts          {len(result['alerts'])}")
    print(f"wall            {wall:.1f} s   (target < {WALL_TARGET_S:.0f} s)   "
          f"{s['received'] / wall:,.0f} messages per wall second")
    print(f"peak RSS        {rss_mb:.0f} MB (target < {RSS_TARGET_MB:.0f} MB)")
    ok = wall < WALL_TARGET_S and rss_mb < RSS_TARGET_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
