"""Shared by the lab tests: a one-server scenario with one fault, and a lab serving it for the test's span."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import scenario_text
from mfi_sim import loads_scenario
from mfi_sim.lab.controller import Lab, LabMap
from mfi_sim.lab.world_at import world_at
from mfi_sim.scenario.schema import Scenario

SERVER = "198.51.100.10"
HOST = "mail.contoso.com"


def lab_scenario(fault: str = "", *, tls: str = "None", server: str = "", connector: str = "",
                 target: str = SERVER) -> Scenario:
    """The helpers' scenario with STARTTLS offered and, if given, one fault in force from the start."""
    faults = f'[[faults]]\n{fault}\ntarget = "{target}"\nstart = "0s"\n' if fault else ""
    if "starttls" not in server:
        server = "starttls = true\n" + server
    return loads_scenario(scenario_text(duration="2h", rate="60/h", faults=faults, server=server,
                                        connector=f'tls = "{tls}"\n' + connector))


@contextmanager
def running_lab(scenario: Scenario, at: float = 600.0) -> Iterator[LabMap]:
    """A lab serving `scenario` at `at`, stopped (every socket closed, CA file removed) when the block ends."""
    with Lab(world_at(scenario, at)) as lab:
        assert lab.map is not None
        yield lab.map


def socket_inodes(pid: int | str = "self") -> set[str]:
    """Inodes of the sockets a process holds open (Linux /proc), to tell whether any outlived a lab."""
    out = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue   # closed meanwhile
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def live_socket_inodes() -> set[str]:
    """Inodes of every IPv4/IPv6 TCP and UDP socket on the machine (Linux /proc/net)."""
    out = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / table
        if path.exists():
            out.update(line.split()[9] for line in path.read_text().splitlines()[1:] if len(line.split()) > 9)
    return out
