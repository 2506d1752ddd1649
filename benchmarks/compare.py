#!/usr/bin/env python3
"""Speed of mfi-sim against the reference models of ../shared/bench, on one workload, in one run.

The workload is the one `../shared/bench/reference.py` takes (same options, same defaults): Poisson arrivals
at --rate for --hours to one smart host over --connections parallel connections, exponential service time
with mean --service seconds, every connection refused from --outage-start for --outage-hours, queue retry
every --retry seconds, expiry after --expiry-hours. mfi-sim runs it from a scenario written in memory.

Every model runs in a fresh subprocess, so peak RSS figures are comparable; --repeat keeps the fastest run of
each. Absolute times drift on a shared machine: read the ratios.

With --whole-process, each model is timed the way a user runs it, as a whole process from the outside
(interpreter start-up, imports, reading the scenario and writing the outputs included): `mfi-sim run` on the
scenario file, with its terminal story and summary, `--json` and `--report`, against `reference.py`.

  python benchmarks/compare.py --rate 100 --hours 1 --drain-hours 1 --outage-start 0.25 --outage-hours 0.5
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

DEFAULT_BENCH_DIR = Path(__file__).resolve().parents[2] / "shared" / "bench"
REFERENCE_MODELS = ("heapq", "naive")

_SMART_HOST = "mail.fabrikam.example"
_SERVER_IP = "192.0.2.10"


def _seconds(value: float) -> str:
    """A duration as mfi-sim scenario text ("0.05s", "3600s")."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{text or '0'}s"


def _per_second(rate: float) -> str:
    text = f"{rate:.6f}".rstrip("0").rstrip(".")
    return f"{text or '0'}/s"


def scenario_text(a: argparse.Namespace) -> str:
    """The reference workload as an mfi-sim scenario (TOML text)."""
    hour = 3600.0
    fault = ""
    if a.outage_hours > 0:
        fault = f"""
[[faults]]
kind = "connection_refused"
target = "{_SERVER_IP}"
start = "{_seconds(a.outage_start * hour)}"
duration = "{_seconds(a.outage_hours * hour)}"
"""
    return f"""\
[scenario]
name = "benchmark: reference workload"
seed = {a.seed}
duration = "{_seconds((a.hours + a.drain_hours) * hour)}"

[tenant]
retry = ["{_seconds(a.retry)}"]
message_expiration = "{_seconds(a.expiry_hours * hour)}"
delay_notification = "off"

[[connectors]]
name = "To smart host"
smart_hosts = ["{_SMART_HOST}"]
recipient_domains = ["fabrikam.example"]
tls = "None"
max_connections = {a.connections}
messages_per_connection = 1000

[dns]
zone = \"\"\"
$ORIGIN fabrikam.example.
@     3600 IN SOA ns1 hostmaster 1 7200 900 1209600 300
@     3600 IN NS  ns1
ns1   3600 IN A   192.0.2.53
mail  3600 IN A   {_SERVER_IP}
\"\"\"

[[servers]]
address = "{_SERVER_IP}"
hostname = "{_SMART_HOST}"
starttls = false
concurrency = {a.connections}
service_time = "{_seconds(a.service)}"

[[traffic]]
rate = "{_per_second(a.rate)}"
to = "fabrikam.example"
end = "{_seconds(a.hours * hour)}"
{fault}
[alerts]
evaluate_every = "5m"
"""


def run_mfi(a: argparse.Namespace) -> dict[str, Any]:
    """Runs mfi-sim in this process and returns its figures (call in a fresh process for a fair RSS)."""
    from mfi_sim import loads_scenario, simulate

    scenario = loads_scenario(scenario_text(a), "<benchmark>")
    t = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c = result.connectors[0]
    return {"model": "mfi-sim", "messages": c.received, "wall_s": round(wall, 3),
            "msgs_per_wall_s": round(c.received / wall), "peak_rss_mb": round(rss, 1),
            "stats": {"arrived": c.received, "delivered": c.delivered, "ndr": c.ndr,
                      "queued_at_end": c.queued, "expired": c.expired, "attempts": c.attempts}}


def _workload_args(a: argparse.Namespace) -> list[str]:
    return ["--rate", repr(a.rate), "--hours", repr(a.hours), "--drain-hours", repr(a.drain_hours),
            "--outage-start", repr(a.outage_start), "--outage-hours", repr(a.outage_hours),
            "--connections", str(a.connections), "--service", repr(a.service),
            "--expiry-hours", repr(a.expiry_hours), "--retry", repr(a.retry), "--seed", str(a.seed)]


def _run_json(cmd: list[str]) -> dict[str, Any]:
    """Runs a command that prints one JSON line last; its parsed line, or SystemExit naming what failed."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        raise SystemExit(f"no JSON line from: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}") from None


def _run_whole(name: str, cmd: list[str], figures: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Runs a whole process and times it from outside (start-up and output included), with its own peak RSS
    (os.wait4 gives the resources of that one child); `figures` reads its stats from its standard output."""
    with tempfile.TemporaryFile("w+") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
        out.seek(0)
        stats = figures(out.read())
    n = int(stats["arrived"])
    return {"model": name, "messages": n, "wall_s": round(wall, 3), "msgs_per_wall_s": round(n / wall),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "stats": stats}


def measure_whole(a: argparse.Namespace, reference: Path) -> list[dict[str, Any]]:
    """`mfi-sim run` and the heapq reference as whole processes, --repeat times interleaved; the fastest of each."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario, result = Path(tmp) / "workload.toml", Path(tmp) / "result.json"
        scenario.write_text(scenario_text(a))
        mfi = [sys.executable, "-m", "mfi_sim", "run", str(scenario), "--json", str(result),
               "--report", str(Path(tmp) / "report.html")]
        heapq = [sys.executable, str(reference), "--model", "heapq", *_workload_args(a)]

        def mfi_stats(_: str) -> dict[str, Any]:
            summary = json.loads(result.read_text())["summary"]
            return {"arrived": summary["received"], **{k: summary[k] for k in ("delivered", "ndr", "queued_at_end",
                                                                                "attempts")}}

        def heapq_stats(out: str) -> dict[str, Any]:
            return dict(json.loads(out.splitlines()[-1])["stats"])

        runs: dict[str, list[dict[str, Any]]] = {"mfi-sim": [], "heapq": []}
        for _ in range(a.repeat):
            runs["mfi-sim"].append(_run_whole("mfi-sim", mfi, mfi_stats))
            runs["heapq"].append(_run_whole("heapq", heapq, heapq_stats))
    return [_best(r) for r in runs.values()]


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: float(r["wall_s"]))
    return dict(best, runs=len(runs))


def measure(a: argparse.Namespace) -> list[dict[str, Any]]:
    """Runs every model --repeat times, each in a fresh subprocess; the fastest run of each."""
    reference = a.bench_dir / "reference.py"
    if not reference.is_file():
        print(f"compare.py: error: no reference models in {a.bench_dir} (reference.py is missing): put "
              f"../shared/bench (reference.py and reference_models.py) beside this repository, or point "
              f"--bench-dir at a copy; --only-mfi measures mfi-sim alone", file=sys.stderr)
        raise SystemExit(2)
    if a.whole_process:
        return measure_whole(a, reference)
    work = _workload_args(a)
    commands = {"mfi-sim": [sys.executable, str(Path(__file__).resolve()), "--only-mfi", *work]}
    for model in REFERENCE_MODELS:
        if model == "naive" and a.skip_naive:
            continue
        commands[model] = [sys.executable, str(reference), "--model", model, *work]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    for _ in range(a.repeat):            # interleaved, so drift on the machine hits every model alike
        for name, cmd in commands.items():
            runs[name].append(_run_json(cmd))
    return [_best(r) for r in runs.values()]


def _speed(row: dict[str, Any]) -> float:
    return float(row["messages"]) / float(row["wall_s"])


def report(rows: list[dict[str, Any]]) -> str:
    """The results table, the speed ratios and the workload sanity check, as text."""
    by = {str(r["model"]): r for r in rows}
    out = [f"{'model':<10}{'messages':>10}{'wall s':>10}{'msgs/wall s':>13}{'peak RSS MB':>13}"]
    for r in rows:
        out.append(f"{r['model']!s:<10}{r['messages']:>10}{float(r['wall_s']):>10.3f}"
                   f"{_speed(r):>13,.0f}{float(r['peak_rss_mb']):>13.1f}")
    out.append("")
    mfi = by.get("mfi-sim")
    for ref in REFERENCE_MODELS:
        if mfi is not None and ref in by:
            out.append(f"speed mfi-sim / {ref}: {_speed(mfi) / _speed(by[ref]):.2f}")
    out.append("")
    keys = ("arrived", "delivered", "ndr", "queued_at_end", "attempts")
    out.append("sanity check (same workload, different random streams):")
    out.append(f"{'model':<10}" + "".join(f"{k:>15}" for k in keys))
    for r in rows:
        stats = r.get("stats") or {}
        out.append(f"{r['model']!s:<10}" + "".join(f"{stats.get(k, '-')!s:>15}" for k in keys))
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=100.0, help="arrivals per second")
    p.add_argument("--hours", type=float, default=24.0, help="arrival span, hours")
    p.add_argument("--drain-hours", type=float, default=6.0, help="extra horizon after arrivals stop")
    p.add_argument("--outage-start", type=float, default=6.0, help="hours")
    p.add_argument("--outage-hours", type=float, default=6.0)
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--service", type=float, default=0.05, help="mean seconds per message")
    p.add_argument("--expiry-hours", type=float, default=24.0)
    p.add_argument("--retry", type=float, default=600.0, help="queue retry interval, seconds")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeat", type=int, default=1, help="runs per model; the fastest counts")
    p.add_argument("--skip-naive", action="store_true", help="leave out the (slow) naive SimPy model")
    p.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR, help="where reference.py lives")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines instead of a table")
    p.add_argument("--only-mfi", action="store_true", help="run mfi-sim here and print one JSON line")
    p.add_argument("--whole-process", action="store_true",
                   help="time `mfi-sim run` (story, summary, --json, --report) and heapq as whole processes")
    p.add_argument("--print-scenario", action="store_true", help="print the generated scenario and stop")
    a = p.parse_args(argv)
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if a.print_scenario:
        print(scenario_text(a), end="")
        return
    if a.only_mfi:
        print(json.dumps(run_mfi(a)))
        return
    rows = measure(a)
    if a.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(report(rows))


if __name__ == "__main__":
    main()
