"""Shared by the lab tests: a one-server scenario with one fault, and a lab serving it for the test's span."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
