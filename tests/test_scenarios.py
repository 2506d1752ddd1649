"""Each bundled scenario tells its story: the expected code is the one on its queue; golden summaries pin it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mfi_sim import load_scenario, simulate
from mfi_sim.output.json_result import result_dict
from mfi_sim.scenario import bundled_names

GOLDEN = Path(__file__).parent / "golden"

EXPECTED = {
    "dns-query-failed": {"450 4.4.312"},
    "dns-stale-cache": {"450 4.4.312"},
    "connection-timed-out": {"450 4.4.315"},
    "connection-refused": {"450 4.4.316"},
    "cannot-connect-tls-required": {"450 4.4.317"},
    "cannot-connect-service-unavailable": {"450 4.4.317"},
    "closed-abruptly": {"450 4.4.318"},
    "certificate-expired": {"450 4.7.320"},
    "certificate-name-mismatch": {"450 4.7.320"},
    "partner-rejects": {"451 4.7.500", "550 5.7.1"},
    "outage-longer-than-expiration": {"450 4.4.316"},
    "healthy-baseline": set(),
    "half-fix-vs-whole-fix": {"450 4.4.316"},
}


def test_every_bundled_scenario_has_an_expectation() -> None:
    """No bundled scenario escapes these checks."""
    assert set(bundled_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_code_on_the_queue(name: str) -> None:
    """The scenario's failure shows up as its code on the connector, and its description tells a story."""
    sc = load_scenario(name)
    assert len(sc.description.split()) > 30
    doc = result_dict(simulate(sc))
    conn = doc["connectors"][0]
    assert set(conn["codes_seen"]) == EXPECTED[name]
    if EXPECTED[name]:
        assert conn["last_error_code"] in EXPECTED[name]
    else:
        assert conn["last_error"] is None
        s = doc["summary"]
        assert s["queued_at_end"] <= 2 and set(doc["ndrs"]["by_status"]) <= {"5.1.10"}
    if name == "outage-longer-than-expiration":
        assert doc["ndrs"]["by_status"].get("5.4.316", 0) > 1000


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_summary(name: str) -> None:
    """The run's summary, connector figures, alert lifecycle and admin actions match the reviewed golden file
    (MFI_UPDATE_GOLDEN=1 rewrites)."""
    doc = result_dict(simulate(load_scenario(name)))
    alerts = [{k: a[k] for k in ("id", "policy", "connectors", "code", "status", "raised_s", "condition_cleared_s",
                                  "resolved_s", "resolved_by")} for a in doc["alerts"]]
    pinned = {"summary": doc["summary"], "connectors": doc["connectors"], "ndrs": doc["ndrs"], "alerts": alerts,
              "actions": doc["actions"]}
    path = GOLDEN / f"{name}.json"
    text = json.dumps(pinned, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MFI_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file for {name}; run with MFI_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()
