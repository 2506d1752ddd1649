"""`--queue-snapshots`: Get-Queue objects per connector and evaluation period, as JSON Lines."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mfi_sim import load_scenario, simulate
from mfi_sim.engine import Result
from mfi_sim.output.queue_snapshots import queue_snapshot_rows, queue_snapshots_jsonl

from helpers import cli, run_text, scenario_text

KEYS = ["t", "at", "Identity", "DeliveryType", "NextHopDomain", "Status", "MessageCount", "LastError", "RetryCount",
        "FirstRetryTime", "LastRetryTime", "NextRetryTime", "IncomingRate", "OutgoingRate", "Velocity"]


@pytest.fixture(scope="module")
def refused() -> Result:
    return simulate(load_scenario("connection-refused"))


def _rows(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in queue_snapshots_jsonl(result).splitlines()]


def test_keys_are_get_queue_names_in_order(refused: Result) -> None:
    """Every line is one object with t, at, then Get-Queue's field names, in that order."""
    for row in _rows(refused):
        assert list(row) == KEYS


def test_one_line_per_connector_snapshot_in_time_order(refused: Result) -> None:
    """There is a line for each recorded snapshot, in time order, with the snapshot's own figures."""
    rows = _rows(refused)
    snaps = refused.snapshots
    assert len(rows) == len(snaps) > 100
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)
    for row, s in zip(rows, snaps):
        assert row["t"] == s.t
        assert row["Identity"] == f"EXO\\{s.connector}"
        assert (row["Status"], row["MessageCount"], row["RetryCount"], row["LastError"]) == \
               (s.status, s.queued_messages, s.retry_count, s.last_error)


def test_rates_add_up_to_the_counts(refused: Result) -> None:
    """IncomingRate x period sums to the recipients received, OutgoingRate x period to those that left."""
    rows = _rows(refused)
    snaps = refused.snapshots
    received_in = left = 0.0
    for i in range(1, len(rows)):
        span = rows[i]["t"] - rows[i - 1]["t"]
        received_in += rows[i]["IncomingRate"] * span
        left += rows[i]["OutgoingRate"] * span
    first, last = snaps[0], snaps[-1]
    assert received_in == pytest.approx(last.received - first.received, abs=0.01)
    assert left == pytest.approx((last.delivered + last.ndr + last.rejected)
                                 - (first.delivered + first.ndr + first.rejected), abs=0.01)
    assert last.received > 5000


def test_velocity_is_outgoing_minus_incoming(refused: Result) -> None:
    """Velocity is the drain rate (OutgoingRate - IncomingRate): negative while the queue builds up in Retry."""
    rows = _rows(refused)
    for row in rows:
        assert row["Velocity"] == pytest.approx(row["OutgoingRate"] - row["IncomingRate"], abs=1e-6)
    retry = [r for r in rows if r["Status"] == "Retry"]
    assert retry and all(r["Velocity"] < 0 and r["OutgoingRate"] == 0 for r in retry[1:])
    assert rows[0]["IncomingRate"] == rows[0]["OutgoingRate"] == 0.0


def test_retry_times_while_in_retry(refused: Result) -> None:
    """In Retry the queue has a retry count and first, last and next retry times, next after the snapshot."""
    retry = [r for r in _rows(refused) if r["Status"] == "Retry"]
    assert retry
    for r in retry:
        assert r["RetryCount"] >= 1
        assert r["FirstRetryTime"] is not None and r["FirstRetryTime"] <= r["at"]
        assert r["NextRetryTime"] is not None and r["NextRetryTime"] > r["at"]
        assert r["LastError"].startswith("450 4.4.316")
    assert _rows(refused)[0]["NextRetryTime"] is None


def test_smart_host_connector(refused: Result) -> None:
    """A connector with smart hosts is SmartHostConnectorDelivery to its smart host."""
    row = _rows(refused)[0]
    assert (row["DeliveryType"], row["NextHopDomain"]) == ("SmartHostConnectorDelivery", "mail.contoso.com")


def test_mx_connector_is_dns_delivery() -> None:
    """A connector that uses MX (dns-stale-cache) is DnsConnectorDelivery to its recipient domain."""
    rows = _rows(simulate(load_scenario("dns-stale-cache")))
    assert rows and all((r["DeliveryType"], r["NextHopDomain"]) == ("DnsConnectorDelivery", "fabrikam.com")
                        for r in rows)


def test_next_hop_follows_set_smart_hosts() -> None:
    """After the admin changes the smart hosts (connection-timed-out, at 3h), NextHopDomain names the new one."""
    rows = queue_snapshot_rows(simulate(load_scenario("connection-timed-out")))
    before = {r["NextHopDomain"] for r in rows if r["t"] < 3 * 3600}
    after = {r["NextHopDomain"] for r in rows if r["t"] >= 3 * 3600}
    assert (before, after) == ({"smtp.contoso.com"}, {"mail.contoso.com"})


def test_rates_are_per_second_of_the_period() -> None:
    """A steady 600/h stream with a healthy destination comes in and goes out at about 1/6 per second."""
    rows = _rows(run_text(scenario_text(duration="3h", rate="600/h")))
    later = [r for r in rows if r["t"] >= 3600]
    mean_in = sum(r["IncomingRate"] for r in later) / len(later)
    mean_out = sum(r["OutgoingRate"] for r in later) / len(later)
    assert mean_in == pytest.approx(1 / 6, rel=0.15)
    assert mean_out == pytest.approx(mean_in, rel=0.05)


def test_same_run_same_bytes(tmp_path: Path) -> None:
    """Two CLI runs under different hash seeds write byte-identical snapshot files."""
    paths = []
    for seed in ("0", "77"):
        path = tmp_path / f"{seed}.jsonl"
        out = cli("run", "connection-refused", "--quiet", "--queue-snapshots", str(path),
                  env=dict(os.environ, PYTHONHASHSEED=seed))
        assert out.returncode == 0, out.stderr
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes().count(b"\n") > 100
