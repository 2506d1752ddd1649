"""The command line: exit codes, one-line errors without tracebacks, atomic outputs, NDR files."""
from __future__ import annotations

import email
import json
import os
from pathlib import Path

import pytest
from flufl.bounce import scan_message

from mfi_sim import cli
from mfi_sim.engine import Engine

from helpers import cli as run_cli
from helpers import events_of, scenario_text


def test_run_bundled_scenario_end_to_end(tmp_path: Path) -> None:
    """`run NAME` tells the story, prints the summary and writes JSON and events."""
    out = run_cli("run", "connection-refused", "--json", str(tmp_path / "r.json"), "--events",
                  str(tmp_path / "e.jsonl"))
    assert out.returncode == 0, out.stderr
    assert "On-premises server refuses connections" in out.stdout
    assert "450 4.4.316" in out.stdout and "Timeline" in out.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result) >= {"scenario", "seed", "start", "duration_s", "version", "summary", "connectors", "alerts",
                           "ndrs"}
    assert set(result["summary"]) >= {"received", "delivered", "ndr", "rejected", "queued_at_end", "attempts",
                                      "max_queue_depth", "latency_s"}
    conn = result["connectors"][0]
    assert set(conn) >= {"name", "status_at_end", "received", "delivered", "ndr", "rejected", "queued_at_end",
                         "max_queue_depth", "last_error", "last_error_code", "codes_seen"}
    assert conn["last_error_code"] == "450 4.4.316"
    s = result["summary"]
    assert s["received"] == s["delivered"] + s["ndr"] + s["rejected"] + s["queued_at_end"]
    events = events_of(tmp_path / "e.jsonl")
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert {e["event"] for e in events} >= {"RECEIVE", "DEFER", "SEND", "FAIL", "DSN"}
    assert set(events[0]) == {"t", "at", "event", "message_id", "recipient", "connector", "detail", "status"}
    assert {e["status"] for e in events} == {"Pending", "Delivered", "Failed"}
    received = sum(1 for e in events if e["event"] == "RECEIVE")
    assert received == s["received"]


def test_python_m_is_the_same_command() -> None:
    """`python -m mfi_sim explain` works like `mfi-sim explain`."""
    out = run_cli("explain", "4.4.316")
    assert out.returncode == 0 and "Fix now: offered" in out.stdout


def test_explain_all_and_unknown() -> None:
    """explain with no code lists every catalogue entry; an unknown code is exit 2 with one line."""
    out = run_cli("explain")
    for code in ("450 4.4.312", "450 4.4.315", "450 4.4.316", "450 4.4.317", "450 4.4.318", "450 4.7.320"):
        assert code in out.stdout
    bad = run_cli("explain", "4.9.999")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_list_names_every_bundled_scenario() -> None:
    """list prints each bundled scenario's name."""
    out = run_cli("list")
    assert out.returncode == 0 and "connection-refused" in out.stdout


@pytest.mark.parametrize("args", [
    ["run", "no-such-scenario"],
    ["run", "connection-refused", "--duration", "forever"],
    ["run", "connection-refused", "--seed", "x"],
    ["frobnicate"],
])
def test_bad_options_exit_2_with_one_line(args: list[str]) -> None:
    """Bad names and options: exit 2, a single line on stderr, no traceback."""
    out = run_cli(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_bad_scenario_writes_nothing(tmp_path: Path) -> None:
    """A broken scenario exits 2 naming file and field, and leaves no output file behind."""
    bad = tmp_path / "bad.toml"
    bad.write_text(scenario_text().replace('rate = "600/h"', 'rate = "lots"'))
    out = run_cli("run", str(bad), "--json", str(tmp_path / "r.json"), "--events", str(tmp_path / "e.jsonl"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(bad) in out.stderr and "traffic[0].rate" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_validate(tmp_path: Path) -> None:
    """validate says ok for good files and exits 2 naming the bad one."""
    good = tmp_path / "good.toml"
    good.write_text(scenario_text())
    assert run_cli("validate", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(scenario_text() + "\n[oops]\n")
    out = run_cli("validate", str(good), str(bad))
    assert out.returncode == 2 and "bad.toml" in out.stderr and "oops" in out.stderr


def test_interrupt_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C during a run: exit 130 and neither the JSON nor the events file exists, not even in part."""
    def interrupted(self: Engine) -> None:
        self.env.run(until=3600)
        self.sync()
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "run", interrupted)
    code = cli.main(["run", "connection-refused", "--quiet", "--json", str(tmp_path / "r.json"),
                     "--events", str(tmp_path / "e.jsonl")])
    assert code == 130
    assert list(tmp_path.iterdir()) == []


def test_ndr_files_parse_as_bounces(tmp_path: Path) -> None:
    """--ndr-dir writes RFC 3464 reports that a real bounce parser reads, finding the failed recipient."""
    text = scenario_text(duration="3h", traffic="invalid_recipient_fraction = 0.5",
                         faults='[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "mail"\n'
                                'reply = "550 5.7.1 Client host blocked"\nstart = "1h"\nduration = "10m"\n')
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    ndr_dir = tmp_path / "ndr"
    out = run_cli("run", str(scenario), "--quiet", "--ndr-dir", str(ndr_dir), "--events", str(tmp_path / "e.jsonl"))
    assert out.returncode == 0, out.stderr
    files = sorted(ndr_dir.glob("*.eml"))
    assert files
    failed_in_trace = {e["recipient"] for e in events_of(tmp_path / "e.jsonl") if e["event"] == "FAIL"}
    statuses = set()
    for path in files:
        msg = email.message_from_bytes(path.read_bytes())
        assert msg.get_content_type() == "multipart/report"
        found = {a.decode() if isinstance(a, bytes) else a for a in scan_message(msg)}
        assert found and found <= failed_in_trace
        status = msg.get_payload()[1].get_payload()[1]["Status"].strip()
        statuses.add(status)
    assert statuses == {"5.1.10", "5.7.1"}


def test_events_are_streamed_not_held(tmp_path: Path) -> None:
    """The events file grows during the run (written as the clock advances), before the run ends."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(duration="2h"))
    sizes: list[int] = []
    original = Engine.sync

    def watching(self: Engine) -> None:
        original(self)
        part = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        if part:
            sizes.append(os.path.getsize(part[0]))

    Engine.sync = watching  # type: ignore[method-assign]
    try:
        assert cli.main(["run", str(scenario), "--quiet", "--events", str(tmp_path / "e.jsonl")]) == 0
    finally:
        Engine.sync = original  # type: ignore[method-assign]
    assert any(0 < s < sizes[-1] for s in sizes)


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A long run shows a progress bar on stderr when it is a terminal, and nothing otherwise."""
    assert cli.main(["run", "healthy-baseline", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert cli.main(["run", "healthy-baseline", "--json", os.devnull]) == 0
    err = capsys.readouterr().err
    assert "simulating [" in err and err.rstrip().endswith("100/100")
