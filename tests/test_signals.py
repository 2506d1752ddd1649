"""Signals leave no debris: SIGTERM and SIGINT to `run` (every output on) and to `sweep --csv` mid-run end
with 143 / 130, leave no temporary or partial file, and never replace a good output with a broken one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import REPO, scenario_text

EXPECTED = {signal.SIGTERM: 143, signal.SIGINT: 130}


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "mfi_sim", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})


def _wait_for_staging(out: Path, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until a staged (temporary) output exists: the command is mid-run, with files open."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.endswith(".part") for p in out.iterdir()):
            return
        time.sleep(0.05)
    raise AssertionError("the command never started writing")


def _interrupt(proc: subprocess.Popen[bytes], sig: signal.Signals, until_ready: Callable[[], object]) -> None:
    """Waits with `until_ready`, signals the process, and checks it exits as EXPECTED, without a traceback."""
    try:
        until_ready()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXPECTED[sig], err
    assert b"Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_run_with_every_output_leaves_only_the_old_files(sig: signal.Signals, tmp_path: Path) -> None:
    """A signalled `run` exits 143 (SIGTERM) or 130 (SIGINT), leaves no .part file or NDR folder, and an
    output that existed before is untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.json").write_text("old\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(duration="20d", rate="3/s", tenant='delay_notification = "1h"',
                                      faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\n'))
    proc = _start(["run", str(scenario), "--quiet", "--json", "r.json", "--events", "e.jsonl", "--trace", "t.csv",
                   "--report", "r.html", "--queue-snapshots", "q.jsonl", "--metrics", "m.txt",
                   "--promtool-series", "p.yml", "--ndr-dir", "ndr"], cwd=out)
    _interrupt(proc, sig, lambda: (_wait_for_staging(out, proc), time.sleep(0.5)))
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]
    assert (out / "r.json").read_text() == "old\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_sweep_leaves_no_csv(sig: signal.Signals, tmp_path: Path) -> None:
    """A signalled `sweep --csv --workers 2` exits 143 / 130 and writes none of its files."""
    out = tmp_path / "out"
    out.mkdir()
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(duration="20d", rate="3/s"))
    proc = _start(["sweep", str(scenario), "--set", "traffic.rate=3/s,4/s", "--workers", "2", "--quiet",
                   "--csv", "rows.csv"], cwd=out)
    def running_a_while() -> None:
        time.sleep(3)
        assert proc.poll() is None, "the sweep ended before the signal"

    _interrupt(proc, sig, running_a_while)
    assert list(out.iterdir()) == []
