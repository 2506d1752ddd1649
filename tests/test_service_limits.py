"""The service's limits (scenario/service_limits.py): a message lifetime outside 12-24 h under exchange-online is
warned about on stderr, and the run goes on."""
from __future__ import annotations

from pathlib import Path

import pytest

from mfi_sim import loads_scenario
from mfi_sim.scenario.service_limits import limit_warnings

from helpers import cli, scenario_text


@pytest.mark.parametrize("tenant, warned", [
    ('message_expiration = "36h"', True), ('message_expiration = "11h59m"', True),
    ('message_expiration = "12h"', False), ('message_expiration = "24h"', False), ("", False),
    ('message_expiration = "36h"\nretry = "exchange-server"', False),
    ('message_expiration = "2h"\nretry = ["5m"]', False)])
def test_expiration_outside_the_service_range_is_warned_under_exchange_online(tenant: str, warned: bool) -> None:
    """Only the exchange-online preset carries the service's 12 h..24 h range; the bounds themselves are fine."""
    lines = limit_warnings(loads_scenario(scenario_text(tenant=tenant), "mine.toml"))
    assert bool(lines) == warned
    if warned:
        assert lines[0].startswith("mine.toml: tenant.message_expiration: ") and "12h to 24h" in lines[0]


def test_the_cli_warns_on_stderr_and_still_succeeds(tmp_path: Path) -> None:
    """`validate` and `run` print the warning on stderr and exit 0; the run's output is written."""
    path = tmp_path / "long.toml"
    path.write_text(scenario_text(duration="1h", tenant='message_expiration = "2d"'))
    checked = cli("validate", str(path))
    assert checked.returncode == 0 and "ok" in checked.stdout
    assert checked.stderr.count("mfi-sim: warning: ") == 1 and "tenant.message_expiration: 2d" in checked.stderr
    ran = cli("run", str(path), "--quiet", "--json", str(tmp_path / "out.json"))
    assert ran.returncode == 0 and "warning" in ran.stderr and (tmp_path / "out.json").exists()
