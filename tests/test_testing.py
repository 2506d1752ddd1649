"""`mfi-sim test`: expectations in the scenario file, readable diffs, JUnit, and a runner that can fail."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mfi_sim import loads_scenario, simulate
from mfi_sim.errors import ScenarioError
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


def test_bundled_tests_hold_on_other_seeds() -> None:
    """The bundled stories are pinned to the model, not to one seed: no test is FLAKY over derived seeds."""
    files = sorted(str(p) for p in SCENARIOS.glob("*.toml"))
    out = cli("test", *files, "--seeds", "4")
    assert out.returncode == 0, out.stdout
    assert "FLAKY" not in out.stdout and " 0 failed" in out.stdout


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


# ---------------------------------------------------------------------------------------------- no vacuous pass
# Each of these files passed before issue 12 (a `not_firing` test with a selector or label that can match
# nothing always passes); each must now be refused when it loads, naming file, line and field.
VACUOUS = [
    ('alert = "insigth"', "alert", "did you mean 'insight'?"),
    ('alert = "Messages have been delayd"', "alert", "did you mean 'Messages have been delayed'?"),
    ('alert = "4.7.320"', "alert", "did you mean '450 4.7.320'?"),
    ('alert = "450 4.7.3200"', "alert", "catalogue's format"),
    ('alert = "550 4.4.316"', "alert", "did you mean '450 4.4.316'?"),
    ('alert = "insight"\ncode = "4.4.316"', "code", "lacks its reply code"),
    ('alert = "insight"\nconector = "To on-premises"', "conector", "did you mean 'connector'?"),
    ('alert = "insight"\nseverity = "Hgih"', "severity", "did you mean 'High'?"),
    ('alert = "insight"\nqueued_messages = "12"', "queued_messages", "expected an integer"),
    ('alert = "insight"\nkind = "insigth"', "kind", "did you mean 'insight'?"),
    ('alert = "insight"\nconnector = "To on-premise"', "connector", "did you mean 'To on-premises'?"),
]


def test_misspelt_selectors_codes_and_labels_are_load_errors(tmp_path: Path) -> None:
    """A selector, code or label no alert can carry is exit 2, one line naming file:line, field and a near match."""
    for body, field_name, hint in VACUOUS:
        path = tmp_path / "vacuous.toml"
        text = with_tests(f'[[tests]]\nname = "never fires"\neval_time = "30m"\n{body}\nexpect = "not_firing"\n')
        path.write_text(text)
        line = max(no for no, ln in enumerate(text.splitlines(), 1) if ln.startswith(f"{field_name} ="))
        out = cli("test", str(path))
        assert out.returncode == 2, (body, out.stdout, out.stderr)
        err = out.stderr.strip()
        assert len(err.splitlines()) == 1 and f"{path}:{line}: tests[0].{field_name}:" in err, (body, err)
        assert hint in err, (body, err)


def test_partner_codes_from_the_scenario_are_valid_selectors() -> None:
    """A code the scenario's own faults reply with is a selector an alert can carry; the same code elsewhere is not."""
    reply = '[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\nreply = "451 4.7.500 Busy"\n'
    test = '[[tests]]\neval_time = "2h"\nalert = "451 4.7.500"\n'
    loads_scenario(scenario_text(duration="4h", faults=reply) + test, "t.toml")
    with pytest.raises(ScenarioError, match="neither in the code catalogue"):
        loads_scenario(with_tests(test), "t.toml")


def test_ndr_status_must_be_one_the_scenario_can_write() -> None:
    """metric = "ndr" with a status the tool never writes is refused, with the known statuses."""
    bad = '[[tests]]\neval_time = "2h"\nmetric = "ndr"\nstatus = "5.1.1"\nvalue = 0\n'
    with pytest.raises(ScenarioError, match="did you mean .5.1.10."):
        loads_scenario(with_tests(bad), "t.toml")
    with pytest.raises(ScenarioError, match="only applies to metric"):
        loads_scenario(with_tests(bad.replace('"ndr"', '"queued"')), "t.toml")


@pytest.mark.parametrize("body, field_name, message", [
    ('[[actions]]\nat = "5h"\ndo = "fix_now"\nconnector = "To on-premises"\n', "at", "after the end of the run"),
    ('[[tests]]\neval_time = "4h1m"\nalert = "insight"\n', "eval_time", "after the end of the run"),
    ('[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "3h"\nend = "2h"\n', "end",
     "ends (2h) before it starts (3h)"),
    ('[[tests]]\nalert = "insight"\nraised_within = ["3h", "2h"]\n', "raised_within", "ends (2h) before"),
])
def test_out_of_range_times_are_load_errors(body: str, field_name: str, message: str) -> None:
    """Instants outside the run (or a window that ends before it starts) are errors, not silent no-ops."""
    with pytest.raises(ScenarioError, match=re.escape(message)) as info:
        loads_scenario(with_tests(body), "t.toml")
    assert info.value.field is not None and info.value.field.endswith(field_name)
    assert info.value.line is not None


def test_empty_selection_and_files_without_tests_are_errors(tmp_path: Path) -> None:
    """--run selecting nothing, and a file with no [[tests]], exit 2 with one line; --allow-empty accepts both."""
    empty = tmp_path / "empty.toml"
    empty.write_text(scenario_text(duration="1h"))
    out = cli("test", str(empty))
    assert out.returncode == 2 and "no [[tests]]" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert cli("test", str(empty), "--allow-empty").returncode == 0
    some = tmp_path / "some.toml"
    some.write_text(with_tests('[[tests]]\nname = "right"\neval_time = "30m"\nmetric = "queued"\nvalue = 0\n'
                               'tolerance = 1000\n'))
    out = cli("test", str(some), "--run", "^typo$")
    assert out.returncode == 2 and "selects no test" in out.stderr
    assert cli("test", str(some), "--run", "^typo$", "--allow-empty").returncode == 0


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    """Every file loads and runs; a bad one is an error for itself (JUnit <error>); exit code is the worst seen."""
    bad = tmp_path / "bad.toml"
    bad.write_text(with_tests('[[tests]]\neval_time = "30m"\nalert = "insigth"\n'))
    failing = tmp_path / "failing.toml"
    failing.write_text(with_tests('[[tests]]\nname = "wrong"\neval_time = "30m"\nmetric = "queued"\nvalue = 99999\n'))
    good = tmp_path / "good.toml"
    good.write_text(with_tests('[[tests]]\nname = "fine"\neval_time = "30m"\nmetric = "queued"\nvalue = 0\n'
                               'tolerance = 1000\n'))
    junit = tmp_path / "junit.xml"
    out = cli("test", str(bad), str(failing), str(good), "--junit", str(junit))
    assert out.returncode == 2
    assert "FAIL" in out.stdout and "PASS" in out.stdout and "1 passed, 1 failed, 1 error(s)" in out.stdout
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1" and root.get("failures") == "1"
    assert root.find(".//testcase/error") is not None
    assert cli("test", str(failing), str(good)).returncode == 1


def test_whole_run_alert_expectations() -> None:
    """raised_within, resolved_within, count and notifications pass when right and fail (with a diff) when wrong."""
    text = with_tests('''
[[tests]]
name = "right window"
alert = "insight"
raised_within = ["2h", "2h10m"]
count = 1
notifications = 0

[[tests]]
name = "wrong window"
alert = "insight"
raised_within = ["3h", "3h10m"]

[[tests]]
name = "never resolved"
alert = "insight"
resolved_within = ["2h", "4h"]

[[tests]]
name = "wrong count"
alert = "450 4.4.316"
count = 1

[[tests]]
name = "policy notifies"
alert = "policy"
notifications = 1
''')
    verdicts = {o.name: o for o in run_tests(loads_scenario(text.replace('rate = "600/h"', 'rate = "3000/h"'),
                                                           "t.toml"))}
    assert verdicts["right window"].passed, verdicts["right window"]
    assert not verdicts["wrong window"].passed and "got: raised at 2h5m" in verdicts["wrong window"].diff
    assert not verdicts["never resolved"].passed and "still firing" in verdicts["never resolved"].diff[1]
    assert not verdicts["wrong count"].passed and verdicts["wrong count"].diff[1] == "got: 2 (insight-1, policy-1)"
    assert verdicts["policy notifies"].passed, verdicts["policy notifies"]


def test_ndr_status_and_latency_metrics() -> None:
    """metric = "ndr" with a status counts only those NDRs; latency percentiles read the delivered messages."""
    text = scenario_text(duration="3h", traffic="invalid_recipient_fraction = 0.5") + '''
[[tests]]
name = "unknown recipients"
eval_time = "3h"
metric = "ndr"
status = "5.1.10"
value = 900
tolerance = 100

[[tests]]
name = "no expiry NDRs"
eval_time = "3h"
metric = "ndr"
status = "5.4.316"
value = 0

[[tests]]
name = "fast delivery"
eval_time = "3h"
metric = "latency_p95"
value = "1s"
tolerance = "1s"

[[tests]]
name = "slow delivery"
eval_time = "3h"
metric = "latency_max"
value = "1h"
'''
    verdicts = {o.name: o for o in run_tests(loads_scenario(text, "t.toml"))}
    assert verdicts["unknown recipients"].passed, verdicts["unknown recipients"]
    assert verdicts["no expiry NDRs"].passed
    assert verdicts["fast delivery"].passed, verdicts["fast delivery"]
    slow = verdicts["slow delivery"]
    assert not slow.passed and slow.diff[0] == "expected: latency_max = 1h"


def test_seed_and_flaky_verdicts(tmp_path: Path) -> None:
    """--seed changes the run; --seeds N reports a test whose verdict differs between seeds as FLAKY (exit 1)."""
    from mfi_sim.replications import replication_seeds
    from mfi_sim.testing import run_seeds

    text = scenario_text(duration="2h", rate="60/h") + '''
[[tests]]
name = "exactly this many arrive"
eval_time = "2h"
metric = "received"
value = 120

[[tests]]
name = "within reason"
eval_time = "2h"
metric = "received"
value = 120
tolerance = 120
'''
    sc = loads_scenario(text, "t.toml")
    received = {o.summary for s in replication_seeds(1, 4) for o in run_tests(sc, "exactly", s)}
    assert len(received) > 1, "different seeds must give different arrivals"
    outcomes = {o.name: o for o in run_seeds(sc, replication_seeds(1, 8))}
    assert outcomes["within reason"].passed and not outcomes["within reason"].flaky
    exact = outcomes["exactly this many arrive"]
    assert exact.verdict in ("FLAKY", "FAIL") and not exact.passed
    path = tmp_path / "f.toml"
    path.write_text(text)
    out = cli("test", str(path), "--seeds", "8", "--run", "within")
    assert out.returncode == 0 and "(on 8 seeds)" in out.stdout


def test_a_test_fails_on_a_real_flaky_pair() -> None:
    """run_seeds marks FLAKY exactly when some seeds pass and others fail."""
    from mfi_sim.testing import run_seeds

    text = scenario_text(duration="2h", rate="60/h") + '[[tests]]\nname = "t"\neval_time = "2h"\nmetric = "received"\n'
    sc = loads_scenario(text + "value = 0\n", "t.toml")
    seeds = list(range(1, 13))
    counts = [int(run_tests(sc, None, s)[0].summary.rsplit("= ", 1)[1]) for s in seeds]
    middle = sorted(counts)[len(counts) // 2]
    flaky = run_seeds(loads_scenario(text + f"value = {middle}\ntolerance = 0.5\n", "t.toml"), seeds)[0]
    assert flaky.flaky == (0 < counts.count(middle) < len(counts))


def test_duration_cut_short_is_said_on_stderr() -> None:
    """run --duration shorter than an action or a test says so on stderr (the run itself still succeeds)."""
    out = cli("run", "connection-refused", "--quiet", "--duration", "2h")
    assert out.returncode == 0
    assert "cuts the run short: action fix_now at 5h" in out.stderr
    assert "test 'after Fix now nothing is queued' looks at 6h" in out.stderr


def test_sweep_duration_cut_short_is_said_on_stderr() -> None:
    """sweep --duration says what every point of the sweep leaves out, as run does."""
    out = cli("sweep", "connection-refused", "--quiet", "--duration", "2h", "--replications", "1")
    assert out.returncode == 0, out.stderr
    assert "cuts the run short: action fix_now at 5h" in out.stderr


def test_matchable_labels_are_the_fields_alerts_carry() -> None:
    """The labels a test may match are exactly the fields a real alert carries (no label matches nothing)."""
    from mfi_sim.scenario.expectations import ALERT_LABELS

    result = simulate(loads_scenario(with_tests(""), "t.toml"))
    assert result.alerts
    for alert in result.alerts:
        assert set(alert.fields()) == ALERT_LABELS | {"connector"}
