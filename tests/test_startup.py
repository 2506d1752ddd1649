"""Commands that simulate nothing start fast: importing the CLI, and running `--help` or `explain`, load no
simulation, DNS, web, SMTP-server or cluster library (benchmarks/startup.py measures the time itself)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO

HEAVY = ("simpy", "dns.message", "dns.zone", "starlette", "uvicorn", "aiosmtpd", "distributed", "dask",
         "importlib.metadata", "email.message")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """`import mfi_sim.cli` pulls in none of simpy, dnspython's message module, starlette, uvicorn, aiosmtpd,
    distributed or importlib.metadata: each command imports what it needs when it runs."""
    assert _loaded_after("import mfi_sim.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["explain"], ["explain", "4.4.316"], ["list"]])
def test_commands_that_simulate_nothing_stay_light(argv: list[str]) -> None:
    """`--help`, `explain` and `list` run without loading any heavy library."""
    code = ("import contextlib, io\nfrom mfi_sim import cli\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        cli.main({argv!r})\n    except SystemExit:\n        pass")
    assert _loaded_after(code) == []
