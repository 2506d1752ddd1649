"""`mfi-sim test`: expectations in the scenario file, readable diffs, JUnit, and a runner that can fail."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mfi_sim import loads_scenario
from mfi_sim.testing import junit_xml, run_tests

from helpers import SCENARIOS, cli, scenario_text

REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'


def with_tests(tests: str) -> str:
    return scenario_text(duration="4h", faults=REFUSED) + "\n" + tests


def test_passing_and_failing_expectations() -> None:
    """Right expectations pass; a wrong code fails with a field-by-field diff naming the field."""
    text = with_tests('''
[[tests]]
name = "right"
eval_time = "2h30m"
alert = "450 4.4.316"
connector = "To on-premises"

[[tests]]
name = "wrong code"
eval_time = "2h30m"
alert = "insight"
code = "450 4.4.315"

[[tests]]
name = "queued metric"
eval_time = "3h"
metric = "queued"
value = 1200
tolerance = 150
''')
    outcomes = run_tests(loads_scenario(text, "t.toml"))
    verdicts = {o.name: o for o in outcomes}
    assert verdicts["right"].passed
    assert verdicts["queued metric"].passed
    wrong = verdicts["wrong code"]
    assert not wrong.passed
    assert any("code: expected '450 4.4.315', got '450 4.4.316'" in line for line in wrong.diff)


def test_not_firing_and_exact_match() -> None:
    """not_firing fails when the alert fires; match = exact demands every label."""
    text = with_tests('''
[[tests]]
name = "should not fire"
eval_time = "3h"
alert = "insight"
expect = "not_firing"

[[tests]]
name = "exact but partial"
eval_time = "3h"
alert = "insight"
match = "exact"
code = "450 4.4.316"
''')
    verdicts = {o.name: o for o in run_tests(loads_scenario(text, "t.toml"))}
    assert not verdicts["should not fire"].passed
    assert not verdicts["exact but partial"].passed
    assert any(line.strip().startswith("severity:") for line in verdicts["exact but partial"].diff)


def test_metric_failure_diff() -> None:
    """A metric off by more than its tolerance fails, saying by how much."""
    text = with_tests('[[tests]]\nname = "status"\neval_time = "30m"\nmetric = "queue_status"\nvalue = "Retry"\n'
                      '[[tests]]\nname = "delivered"\neval_time = "30m"\nmetric = "delivered"\nvalue = 1\n')
    verdicts = {o.name: o for o in run_tests(loads_scenario(text, "t.toml"))}
    assert not verdicts["status"].passed
    assert verdicts["status"].diff[1] in ("got: Active", "got: Ready")
    assert not verdicts["delivered"].passed and "off by" in verdicts["delivered"].diff[1]


def test_cli_runner_exit_codes_and_junit(tmp_path: Path) -> None:
    """A deliberately wrong expectation gives exit 1 and a diff naming the field; all tests run; JUnit is written."""
    bad = tmp_path / "wrong.toml"
    bad.write_text(with_tests('''
[[tests]]
name = "wrong on purpose"
eval_time = "2h30m"
alert = "insight"
code = "450 4.4.312"

[[tests]]
name = "right"
eval_time = "2h30m"
alert = "insight"
code = "450 4.4.316"
'''))
    junit = tmp_path / "junit.xml"
    out = cli("test", str(bad), "--junit", str(junit))
    assert out.returncode == 1
    assert "FAIL" in out.stdout and "PASS" in out.stdout and "code: expected '450 4.4.312'" in out.stdout
    assert "1 passed, 1 failed" in out.stdout
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "1"
    only = cli("test", str(bad), "--run", "^right$")
    assert only.returncode == 0 and "1 passed, 0 failed" in only.stdout


def test_bundled_scenarios_pass_their_own_tests() -> None:
    """Every bundled scenario carries tests that pin its story, and they pass."""
    files = sorted(str(p) for p in SCENARIOS.glob("*.toml"))
    out = cli("test", *files)
    assert out.returncode == 0, out.stdout
    assert " 0 failed" in out.stdout and "no tests" not in out.stdout


def test_junit_is_valid_xml() -> None:
    """junit_xml of no outcomes is still a valid document."""
    assert ET.fromstring(junit_xml([]).split("\n", 1)[1]).tag == "testsuites"


def test_transcript_of_first_failure() -> None:
    """--transcript first-failure prints the failing attempt swaks-style, ending in the outcome code."""
    out = cli("run", "connection-refused", "--quiet", "--transcript", "first-failure")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert any(line.startswith("=== Trying mail.contoso.com:25...") for line in lines)
    assert lines[-1].startswith("=== Outcome: 450 4.4.316 Connection refused")


def test_transcript_of_nth_attempt() -> None:
    """--transcript N shows the whole dialogue of a successful attempt, from the same attempt logic."""
    out = cli("run", "healthy-baseline", "--quiet", "--transcript", "1")
    text = out.stdout
    for fragment in ("<-  220 ", "->  EHLO ", "250-STARTTLS", "->  MAIL FROM:", "->  RCPT TO:", "->  DATA",
                     "=== Outcome: 250 2.6.0"):
        assert fragment in text
    bad = cli("run", "healthy-baseline", "--transcript", "zero")
    assert bad.returncode == 2
