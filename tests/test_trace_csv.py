"""`--trace`: extended message trace CSV rows, one per event, matching the --events file of the same run."""
from __future__ import annotations

import csv
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from mfi_sim import load_scenario
from mfi_sim.output.trace_csv import COLUMNS, NAMESPACE, TraceCsvWriter, network_message_id, source_of

from helpers import cli, events_of

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _run(tmp: Path, name: str, tag: str = "a", env: dict[str, str] | None = None) -> tuple[Path, Path, Path]:
    trace, events, result = tmp / f"{tag}.csv", tmp / f"{tag}.jsonl", tmp / f"{tag}.json"
    out = cli("run", name, "--quiet", "--trace", str(trace), "--events", str(events), "--json", str(result),
              env=env)
    assert out.returncode == 0, out.stderr
    return trace, events, result


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[dict[str, str]], list[dict[str, Any]],
                                                              dict[str, Any]]:
    trace, events, result = _run(tmp_path_factory.mktemp("trace"), "connection-refused")
    header, rows = _rows(trace)
    return header, rows, events_of(events), json.loads(result.read_text())


def test_header_is_the_extended_report_layout(refused: Any) -> None:
    """The header is the extended report's columns in its order, and only those: origin_timestamp and
    delivery_priority belong to the enhanced summary report."""
    header = refused[0]
    assert header == list(COLUMNS)
    assert header[:9] == ["date_time_utc", "client_ip", "client_hostname", "server_ip", "server_hostname",
                          "source_context", "connector_id", "source", "event_id"]
    assert header[-5:] == ["directionality", "tenant_id", "original_client_ip", "original_server_ip", "custom_data"]
    assert "origin_timestamp" not in header and "delivery_priority" not in header
    for column in ("sender_address", "recipient_status", "message_subject", "total_bytes", "message_id",
                   "network_message_id", "original_client_ip", "directionality", "recipient_address"):
        assert column in header


def test_one_row_per_event_in_the_same_order(refused: Any) -> None:
    """The CSV has as many rows as the --events file, and row i tells the same event as line i."""
    _, rows, events, _ = refused
    assert len(rows) == len(events) > 1000
    for row, ev in zip(rows, events):
        assert (row["date_time_utc"], row["event_id"], row["message_id"], row["recipient_address"],
                row["connector_id"], row["source_context"], row["recipient_status"]) == \
               (ev["at"], ev["event"], ev["message_id"], ev["recipient"], ev["connector"], ev["detail"], ev["status"])


def test_rows_are_in_time_order(refused: Any) -> None:
    """date_time_utc never goes backwards (ISO text in UTC sorts like time)."""
    times = [r["date_time_utc"] for r in refused[1]]
    assert times == sorted(times)


def test_final_status_per_recipient_matches_the_summary(refused: Any) -> None:
    """The last row of each recipient gives its final state: Delivered, Failed (NDR or rejected) or Pending."""
    _, rows, events, result = refused
    final: dict[str, str] = {}
    for row in rows:
        final[row["recipient_address"]] = row["recipient_status"]
    final_events = {ev["recipient"]: ev["status"] for ev in events}
    assert final == final_events
    counts = {s: list(final.values()).count(s) for s in ("Delivered", "Failed", "Pending")}
    summary = result["summary"]
    assert counts["Delivered"] == summary["delivered"]
    assert counts["Failed"] == summary["ndr"] + summary["rejected"]
    assert counts["Pending"] == summary["queued_at_end"]
    assert len(final) == summary["received"]


def test_expired_messages_fail_with_the_expiry_code(tmp_path: Path) -> None:
    """In a run where messages expire, their recipients end Failed with the 550 5.4.3xx expiry reply."""
    trace, _, result = _run(tmp_path, "outage-longer-than-expiration")
    _, rows = _rows(trace)
    expired = [r for r in rows if r["event_id"] == "FAIL" and "Message expired" in r["source_context"]]
    assert expired
    assert all(r["recipient_status"] == "Failed" and r["source_context"].startswith("550 ") for r in expired)
    final: dict[str, str] = {}
    for row in rows:
        final[row["recipient_address"]] = row["recipient_status"]
    summary = json.loads(result.read_text())["summary"]
    assert list(final.values()).count("Failed") == summary["ndr"] + summary["rejected"]


def test_message_fields(refused: Any) -> None:
    """Per message: one GUID network_message_id, message_info on SEND/DELIVER = its RECEIVE time, size,
    subject, sender; directionality 2 (outbound, the report's value)."""
    rows = refused[1]
    scenario = load_scenario("connection-refused")
    received: dict[str, str] = {}
    for row in rows:
        if row["event_id"] == "RECEIVE":
            received.setdefault(row["message_id"], row["date_time_utc"])
    for row in rows:
        assert GUID.match(row["network_message_id"])
        assert row["network_message_id"] == network_message_id(row["message_id"])
        assert received[row["message_id"]] <= row["date_time_utc"]
        assert row["total_bytes"] == str(scenario.traffic[0].message_size)
        assert row["recipient_count"] == "1"
        assert re.fullmatch(r"Message \d+ for contoso\.com", row["message_subject"])
        assert row["sender_address"] == row["return_path"] and row["sender_address"].endswith("@contoso.onmicrosoft.com")
        assert row["directionality"] == "2"
        assert row["connector_id"] == "To on-premises"
        assert row["message_info"] == (received[row["message_id"]] if row["event_id"] in ("SEND", "DELIVER")
                                       else "")
    assert len({r["tenant_id"] for r in rows}) == 1
    assert len({r["network_message_id"] for r in rows}) == len({r["message_id"] for r in rows})


def test_destination_columns_come_from_the_queues_fields(refused: Any) -> None:
    """DEFER rows name the attempted server and IP; hand-offs (SEND) the server too; rejections after Fix now
    nothing."""
    rows = refused[1]
    defers = [r for r in rows if r["event_id"] == "DEFER"]
    assert defers and all((r["server_hostname"], r["server_ip"]) == ("mail.contoso.com", "198.51.100.10")
                          for r in defers)
    smtp = [r for r in rows if r["event_id"] == "SEND" and r["source"] == "SMTP"]
    assert smtp and all((r["server_hostname"], r["server_ip"]) == ("mail.contoso.com", "198.51.100.10") for r in smtp)
    rejected = [r for r in rows if r["source"] == "AGENT"]
    assert rejected and all(r["server_hostname"] == r["server_ip"] == "" for r in rejected)
    assert all(r["server_hostname"] == "" for r in rows if r["event_id"] == "RECEIVE")


def test_source_of() -> None:
    """SMTP for the destination's side, STOREDRIVER for cloud mailboxes, AGENT for rejections, DSN for notices."""
    assert source_of("RECEIVE", "Message received by the service") == "SMTP"
    assert source_of("SEND", "250 2.6.0 Queued mail for delivery [mx]") == "SMTP"
    assert source_of("DELIVER", "Delivered to the mailbox in the cloud (domain is Authoritative)") == "STOREDRIVER"
    assert source_of("DELIVER", "250 2.1.5 Delivered to mailbox") == "STOREDRIVER"
    assert source_of("FAIL", "550 5.1.10 Recipient rejected at once: not found in the directory") == "AGENT"
    assert source_of("FAIL", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
                             "lookup") == "SMTP"
    assert source_of("FAIL", "550 5.4.316 Message expired, connection refused") == "SMTP"
    assert source_of("DSN", "Delay notification sent to the sender: ...") == "DSN"


def test_network_message_id_is_deterministic() -> None:
    """The id is uuid5 of the Message-ID: the same Message-ID always gives the same GUID; different ones differ."""
    a = network_message_id("<MFI00000000001@contoso.onmicrosoft.com>")
    assert a == str(uuid.uuid5(NAMESPACE, "<MFI00000000001@contoso.onmicrosoft.com>"))
    for i in range(200):
        mid = f"<MFI01{i:09d}@fabrikam.example>"
        assert network_message_id(mid) == str(uuid.uuid5(NAMESPACE, mid))
    assert a == network_message_id("<MFI00000000001@contoso.onmicrosoft.com>")
    assert a != network_message_id("<MFI00000000002@contoso.onmicrosoft.com>")
    assert GUID.match(a)


def test_discard_leaves_no_file(tmp_path: Path) -> None:
    """A writer that is discarded (the run failed) leaves neither the file nor its temporary."""
    writer = TraceCsvWriter(tmp_path / "t.csv", load_scenario("healthy-baseline"))
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_same_run_same_bytes(tmp_path: Path) -> None:
    """Two runs of the same scenario and seed, under different hash seeds, write byte-identical CSV."""
    a = _run(tmp_path, "connection-refused", "a", dict(os.environ, PYTHONHASHSEED="0"))[0]
    b = _run(tmp_path, "connection-refused", "b", dict(os.environ, PYTHONHASHSEED="99"))[0]
    assert a.read_bytes() == b.read_bytes()
