"""Start-up time of the commands that simulate nothing, measured as a user meets it: whole processes.

Each command runs --repeat times as a subprocess (hyperfine-style: a warm-up run first, then wall-clock
times); the table gives the median and the fastest, next to the bare interpreter (`python -c pass`) measured
the same way, so the figure can be read on a loaded or slower machine. Target: under 150 ms each.

  python benchmarks/startup.py --repeat 20
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [
    ("python -c pass", ["-c", "pass"]),
    ("mfi-sim --help", ["-m", "mfi_sim", "--help"]),
    ("mfi-sim list", ["-m", "mfi_sim", "list"]),
    ("mfi-sim explain", ["-m", "mfi_sim", "explain"]),
    ("mfi-sim explain 4.4.316", ["-m", "mfi_sim", "explain", "4.4.316"]),
    ("mfi-sim validate healthy-baseline", ["-m", "mfi_sim", "validate", "healthy-baseline"]),
]


def _time(args: list[str], repeat: int) -> list[float]:
    subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, check=True)     # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=10, help="timed runs per command (default 10)")
    a = p.parse_args()
    print(f"{'command':<36} {'median':>9} {'fastest':>9}")
    for label, args in COMMANDS:
        times = _time(args, a.repeat)
        print(f"{label:<36} {statistics.median(times) * 1000:7.0f}ms {min(times) * 1000:7.0f}ms")


if __name__ == "__main__":
    main()
