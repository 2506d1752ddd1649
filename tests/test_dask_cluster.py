"""A real Dask cluster, as a user with one would run it: `dask scheduler` and two `dask worker` processes on
loopback, and `mfi-sim sweep --dask tcp://127.0.0.1:PORT` giving bit-identical rows to a local run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import cli, scenario_text

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install -e '.[dask]')")

#: Hard limit for the cluster to come up (scheduler file written, two workers registered).
START_TIMEOUT = 90.0

BASE = scenario_text(duration="3h", rate="600/h",
                     faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "30m"\n'
                            'duration = "1h"\n')


def _dask(command: str) -> list[str]:
    """The `dask` command of this environment (the one the distributed package installs)."""
    exe = Path(sys.executable).with_name("dask")
    if exe.exists():
        return [str(exe), command]
    found = shutil.which("dask")
    if found is None:
        pytest.skip("the `dask` command is not installed")
    return [found, command]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Ends the cluster processes this test started (each in its own session), then makes sure."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers (no nanny, no dashboard) on 127.0.0.1; its address."""
    info = tmp_path / "scheduler.json"
    logs = [(tmp_path / f"{name}.log").open("wb") for name in ("scheduler", "worker-1", "worker-2")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                        os.environ.get("PYTHONPATH")]))}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([*_dask("scheduler"), "--host", "127.0.0.1", "--port", "0",
                                       "--no-dashboard", "--scheduler-file", str(info)],
                                      stdout=logs[0], stderr=subprocess.STDOUT, env=env, start_new_session=True))
        deadline = time.monotonic() + START_TIMEOUT
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info.exists(), (tmp_path / "scheduler.log").read_text()[-2000:]
        time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for log in logs[1:]:
            procs.append(subprocess.Popen([*_dask("worker"), address, "--host", "127.0.0.1", "--nthreads", "1",
                                           "--no-nanny", "--no-dashboard", "--death-timeout", "30"],
                                          stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=max(deadline - time.monotonic(), 1.0))
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def test_sweep_on_a_real_scheduler_matches_local_rows(tmp_path: Path, scheduler: str) -> None:
    """The same sweep on the two-worker scheduler and inline: identical rows, per-connector counts and summary."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(BASE)
    args = ["sweep", str(scenario), "--set", "faults[0].duration=30m,1h", "--set",
            "connectors[0].max_connections=2,20", "--replications", "2", "--quiet"]
    remote = cli(*args, "--dask", scheduler, "--csv", str(tmp_path / "remote.csv"))
    assert remote.returncode == 0, remote.stderr
    local = cli(*args, "--workers", "1", "--csv", str(tmp_path / "local.csv"))
    assert local.returncode == 0, local.stderr
    for suffix in (".csv", "-summary.csv", "-connectors.csv"):
        assert (tmp_path / f"remote{suffix}").read_bytes() == (tmp_path / f"local{suffix}").read_bytes(), suffix
    assert len((tmp_path / "remote.csv").read_text().splitlines()) == 1 + 4 * 2
    manifest = json.loads((tmp_path / "remote-manifest.json").read_text())
    assert manifest["backend"] == f"dask:{scheduler}"
