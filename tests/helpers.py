"""Shared test helpers: a small valid scenario to start from, and ways to run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mfi_sim import loads_scenario, simulate
from mfi_sim.engine import Result

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

ZONE = """
$ORIGIN contoso.com.
@     3600 IN SOA ns1 hostmaster 1 7200 900 1209600 300
@     3600 IN NS  ns1
@     3600 IN MX  10 mail
ns1   3600 IN A   198.51.100.53
mail   300 IN A   198.51.100.10
"""


def scenario_text(*, duration: str = "6h", rate: str = "600/h", faults: str = "", actions: str = "",
                  tenant: str = "", connector: str = "", server: str = "", traffic: str = "", extra: str = "",
                  seed: int = 1) -> str:
    """A small valid scenario: one connector to mail.contoso.com, one server, one traffic stream."""
    return f"""
[scenario]
name = "test"
seed = {seed}
start = "2026-03-02T08:00:00Z"
duration = "{duration}"

[tenant]
domain = "contoso.onmicrosoft.com"
{tenant}

[[connectors]]
name = "To on-premises"
smart_hosts = ["mail.contoso.com"]
recipient_domains = ["contoso.com"]
{connector}

[dns]
zone = \"\"\"{ZONE}\"\"\"

[[servers]]
address = "198.51.100.10"
hostname = "mail.contoso.com"
certificate = {{ names = ["mail.contoso.com"], not_before = "2025-01-01T00:00:00Z", not_after = "2027-01-01T00:00:00Z" }}
service_time = "200ms"
{server}

[[traffic]]
rate = "{rate}"
{traffic}
{faults}
{actions}
{extra}
"""


class Trace:
    """A trace sink that keeps every event: (t, event, connector, number, rcpt, detail, status, dest)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, int, int, int, str, str, tuple[str, str] | None]] = []

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str, status: str,
             dest: tuple[str, str] | None = None) -> None:
        self.events.append((t, event, connector, number, rcpt, detail, status, dest))

    def flush(self, watermark: float) -> None:
        pass


def run_text(text: str, **kw: Any) -> Result:
    return simulate(loads_scenario(text, "test.toml"), **kw)


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `python -m mfi_sim ARGS` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "mfi_sim", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or REPO, timeout=300)


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# Zones for the DNS tests (test_zones.py, test_dns.py).
# SOA: TTL 3600, MINIMUM 300 -> negative answers cached for 300 s.
CONTOSO = """\
$ORIGIN contoso.com.
$TTL 3600
@        IN SOA ns1 hostmaster 2024010101 3600 600 86400 300
@        IN NS  ns1
@        IN MX  20 mx2
@        IN MX  10 mx1
@        IN MX  10 mx0b
@        IN A   192.0.2.1
ns1      IN A   192.0.2.53
mx0b     IN A   192.0.2.9
mx1  600 IN A   192.0.2.10
mx1  600 IN A   192.0.2.11
mx2  60  IN A   192.0.2.20
smtp 300 IN A   198.51.100.10
relay 30 IN CNAME smtp
alias 900 IN CNAME relay
loop1    IN CNAME loop2
loop2    IN CNAME loop1
a.b.deep IN A   192.0.2.99
txtonly  IN TXT "v=spf1 -all"
"""

# SOA TTL 120 is below MINIMUM 900: negative answers cached for 120 s. No NS: not required.
FABRIKAM = """\
$ORIGIN fabrikam.com.
@        120 IN SOA ns1 hostmaster 1 3600 600 86400 900
@        300 IN A   203.0.113.5
gone     300 IN MX  10 nowhere
gone     300 IN MX  20 mail
mail     300 IN A   203.0.113.25
nomail   300 IN MX  0 .
"""
