"""Bad input never crashes, hangs or leaves debris: each file the fuzzer found (tests/data/fuzz, from
../shared/findings) now behaves as its findings table says, and each class has a stated limit."""
from __future__ import annotations

import contextlib
import email
import io
import time
from pathlib import Path

import pytest

from mfi_sim import cli as cli_module
from mfi_sim import loads_scenario
from mfi_sim.errors import ScenarioError
from mfi_sim.scenario import limits

from helpers import scenario_text

FUZZ = Path(__file__).parent / "data" / "fuzz"


def run_cli(*args: str) -> tuple[int, str, str]:
    """`mfi-sim ARGS` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_module.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def refused(name: str, *needles: str, command: str = "validate") -> str:
    """Asserts `command` refuses the fuzz file with one line (exit 2) naming it and containing `needles`,
    quickly; returns the line."""
    path = str(FUZZ / name)
    started = time.monotonic()
    args = (command, path) if command == "validate" else (command, path, "--quiet", "--duration", "2h")
    code, _, err = run_cli(*args)
    assert time.monotonic() - started < 10, f"{name}: took too long"
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 300, err
    assert path in lines[0] or name in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------ the findings table
@pytest.mark.parametrize("name", ["run-traceback--01340-certificate-name-mismatch.toml",
                                  "run-traceback--03776-healthy-baseline.toml",
                                  "repro--renew-before-start.toml"])
def test_certificate_renewed_into_the_past_is_simply_expired(name: str, tmp_path: Path) -> None:
    """A renew_certificate whose not_after is far before the start validates and runs (no negative delay)."""
    path = str(FUZZ / name)
    assert run_cli("validate", path)[0] == 0
    code, _, err = run_cli("run", path, "--quiet", "--duration", "2h", "--json", str(tmp_path / "r.json"))
    assert code == 0, err


def test_expired_renewal_makes_certificate_validation_fail() -> None:
    """After a renewal to a not_after already past, a validating connector gets 4.7.320 (expired certificate)."""
    text = scenario_text(duration="3h", connector='tls = "CertificateValidation"', actions=(
        '[[actions]]\nat = "1h"\ndo = "renew_certificate"\ntarget = "198.51.100.10"\n'
        'not_after = "0001-01-01T00:00:00Z"\n'))
    from mfi_sim import simulate
    result = simulate(loads_scenario(text, "t.toml"))
    assert result.connectors[0].last_error_code == "450 4.7.320"


@pytest.mark.parametrize("name", ["run-hang--00253-cannot-connect-service-unavailable.toml",
                                  "validate-hang--00253-cannot-connect-service-unavailable.toml",
                                  "validate-hang--00521-cannot-connect-tls-required.toml"])
def test_huge_generate_is_refused_before_it_is_expanded(name: str) -> None:
    """`$GENERATE 1-100000` is refused at once, saying the record limit."""
    refused(name, "dns.zone", f"{limits.MAX_ZONE_RECORDS:,}")


@pytest.mark.parametrize("name", ["run-hang--00295-cannot-connect-service-unavailable.toml",
                                  "validate-ok-run-fails--00295-cannot-connect-service-unavailable.toml",
                                  "run-memory--01759-closed-abruptly.toml", "bomb--burst_1e12.toml"])
def test_huge_bursts_are_refused(name: str) -> None:
    """A burst of 10^9 or more messages is refused at load, saying the limit."""
    refused(name, "bursts[0].count", f"{limits.MAX_MESSAGES}")
    refused(name, "bursts[0].count", command="run")


@pytest.mark.parametrize("name", ["run-memory--01135-certificate-expired.toml",
                                  "run-died--04269-outage-longer-than-expiration.toml"])
def test_absurd_rates_are_refused_by_the_message_estimate(name: str) -> None:
    """Rates of 10^9/s and more are refused (rate x duration over the stated message limit), never an OOM."""
    refused(name, "traffic", f"{limits.MAX_MESSAGES:,}", "--max-messages")


def test_evaluation_period_has_a_minimum() -> None:
    """`evaluate_every = "0.001ms"` is refused with the minimum (the service evaluates in minutes)."""
    refused("validate-ok-run-fails--00352-cannot-connect-service-unavailable.toml", "alerts.evaluate_every", "1m")


def test_duration_in_years_is_refused() -> None:
    """A duration of 400 nines in days is refused with the stated maximum."""
    refused("bomb--duration_inf.toml", "scenario.duration", "at most")


def test_max_connections_has_a_stated_limit() -> None:
    """max_connections = 10000 is refused, saying the limit."""
    refused("bomb--max_connections_10000.toml", "max_connections", f"at most {limits.MAX_CONNECTIONS}")


@pytest.mark.parametrize("name", ["run-multiline_error--00088-cannot-connect-service-unavailable.toml",
                                  "run-multiline_error--00194-cannot-connect-service-unavailable.toml"])
def test_key_with_a_newline_is_echoed_escaped_on_one_line(name: str) -> None:
    """A TOML key holding a newline is echoed repr-style (\\n), with the line, on one line."""
    line = refused(name, "x\\ny", "unknown field", f"{name}:24:")
    assert "\n" not in line


def test_deep_nesting_is_one_line() -> None:
    """Arrays nested hundreds deep: one line stating the nesting limit, no RecursionError."""
    refused("bomb--nested_min.toml", f"{limits.MAX_NESTING} levels")
    refused("bomb--nested_min.toml", f"{limits.MAX_NESTING} levels", command="run")


def test_tenant_domain_with_crlf_is_refused() -> None:
    """A tenant domain with CR/LF is not a domain: refused at load, echoed escaped."""
    refused("repro--tenant-crlf.toml", "tenant.domain", "control character", "\\r")


def test_non_ascii_domain_is_refused_with_its_idna_form() -> None:
    """A non-ASCII (IDN) tenant domain is refused, and the error gives its A-label form to write instead."""
    refused("repro--tenant-nonascii.toml", "tenant.domain", "xn--fsq.jp")


@pytest.mark.parametrize("command", ["validate", "run", "sweep", "test"])
def test_non_utf8_file_gives_the_same_line_from_every_command(command: str) -> None:
    """A file that is not UTF-8 gives one line (file, line, the byte) from every command, sweep included."""
    path = str(FUZZ / "repro--not-utf8.toml")
    code, _, err = run_cli(command, path)
    assert code == 2 and err == f"mfi-sim: error: {path}:1: not UTF-8 text: byte 0xff at offset 0 cannot be " \
                                "decoded\n"


def test_delay_notice_after_a_permanent_error_is_written_with_a_delay_status(tmp_path: Path) -> None:
    """A delay notice due while the queue's last error is another recipient's 5.1.10 is written, with a 4.x.x
    status (RFC 3463 class 4 fits "delayed"), never a crash."""
    code, _, err = run_cli("run", str(FUZZ / "repro--delay-notice-crash.toml"), "--quiet", "--duration", "5h",
                           "--ndr-dir", str(tmp_path / "ndr"))
    assert code == 0, err
    delays = sorted((tmp_path / "ndr").glob("*-delay-*.eml"))
    assert delays
    for path in delays[:20]:
        msg = email.message_from_bytes(path.read_bytes())
        status = msg.get_payload()[1].get_payload()[1]
        assert status["Action"] == "delayed" and status["Status"].startswith("4."), status


# ------------------------------------------------------------------------------------ the classes
def _load(**kw: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(scenario_text(**kw), "t.toml")
    return info.value


def test_limits_are_stated_in_the_error() -> None:
    """Each limit names the field and the figure."""
    assert "connectors[0].max_connections" in str(_load(connector="max_connections = 1001"))
    assert "at least 1s" in str(_load(tenant='retry = ["1ms"]'))
    assert "at most 31 days" in str(_load(duration="32d"))
    with pytest.raises(ScenarioError, match=r"servers\[0\].service_time: must be at least 1ms"):
        loads_scenario(scenario_text().replace('service_time = "200ms"', 'service_time = "0.0001ms"'), "t.toml")
    err = _load(rate="1000/s", duration="31d")
    assert "traffic" in str(err) and "20,000,000" in str(err)


def test_max_messages_option_raises_the_limit(tmp_path: Path) -> None:
    """`run --max-messages N` lowers or raises the message guard; `--duration` is checked against it too."""
    path = tmp_path / "s.toml"
    path.write_text(scenario_text(rate="100/h", duration="6h"))
    code, _, err = run_cli("run", str(path), "--quiet", "--max-messages", "100")
    assert code == 2 and "over the limit of 100 " in err
    assert run_cli("run", str(path), "--quiet", "--max-messages", "1000")[0] == 0
    code, _, err = run_cli("run", str(path), "--quiet", "--duration", "40d")
    assert code == 2 and "31 days" in err


def test_control_characters_in_names_are_refused() -> None:
    """ESC, BEL or CR in a name never reaches a terminal, CSV, XML or YAML: refused at load, echoed escaped."""
    text = scenario_text().replace('name = "To on-premises"', 'name = "To \\u001b]0;pwned\\u0007"')
    with pytest.raises(ScenarioError, match=r"connectors\[0\].name: contains the control character"):
        loads_scenario(text, "t.toml")
    assert "\x1b" not in str(ScenarioError("x", file="t\x1b.toml", field="a\x07"))


def test_long_values_are_clipped() -> None:
    """An echoed value thousands of characters long is cut to about 80 characters."""
    err = str(_load(connector='tls = "' + "N" * 5000 + '"'))
    assert len(err) < 300 and "..." in err


def test_zone_given_twice_is_a_fast_error() -> None:
    """The same zone in `zone` and `zones` is refused at once, naming both."""
    text = scenario_text().replace("[dns]\n", '[dns]\nzones = [{text = "$ORIGIN contoso.com.\\n@ 3600 IN SOA ns1 '
                                              'h 1 7200 900 1209600 300\\n"}]\n')
    with pytest.raises(ScenarioError, match="given twice"):
        loads_scenario(text, "t.toml")


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """A scenario file over the size limit is refused before it is parsed."""
    path = tmp_path / "big.toml"
    path.write_text(scenario_text().replace('name = "test"', 'name = "test"\ndescription = "'
                                            + "x" * limits.MAX_FILE_BYTES + '"'))
    code, _, err = run_cli("validate", str(path))
    assert code == 2 and "MiB" in err and len(err.splitlines()) == 1


def test_csv_cells_cannot_be_formulas(tmp_path: Path) -> None:
    """A connector named like a formula reaches the trace CSV with a leading ' (OWASP), never raw."""
    import csv

    path = tmp_path / "s.toml"
    path.write_text(scenario_text(duration="1h").replace('name = "To on-premises"', 'name = "=HYPERLINK(1)"'))
    code, _, err = run_cli("run", str(path), "--quiet", "--trace", str(tmp_path / "t.csv"))
    assert code == 0, err
    rows = list(csv.reader((tmp_path / "t.csv").open(newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(1)" in cells
    assert not any(cell[:1] in ("=", "+", "@") for cell in cells)


def test_escaping_helpers() -> None:
    """Terminal text keeps line breaks but shows ESC/BEL/CR escaped; CSV cells and XML text are made safe."""
    from mfi_sim.escaping import csv_cell, terminal, xml_text
    assert terminal("a\x1b]0;x\x07\r\nb") == "a\\x1b]0;x\\x07\\x0d\nb"
    assert [csv_cell(v) for v in ("=1", "+1", "-1", "@x", "\tx", "\rx", "ok")] == \
        ["'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "ok"]
    assert xml_text("a\x00b\x1b") == "a\\x00b\\x1b"


def test_junit_xml_with_control_characters_still_parses() -> None:
    """A control character in a file name or message never makes the JUnit XML unparseable."""
    import xml.etree.ElementTree as ET

    from mfi_sim.testing import junit_xml, load_error
    root = ET.fromstring(junit_xml([load_error("bad\x1b.toml", "x\x07y\x00")]))
    assert root.find(".//error") is not None


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to simulate a full disk")
def test_full_disk_names_the_file_and_leaves_no_other_output(tmp_path: Path) -> None:
    """A write that fails (ENOSPC from /dev/full) is one line naming that file; the run's other outputs,
    staged beside their targets, are removed (all or nothing)."""
    code, _, err = run_cli("run", "healthy-baseline", "--quiet", "--duration", "1h", "--events",
                           str(tmp_path / "e.jsonl"), "--ndr-dir", str(tmp_path / "ndr"), "--json", "/dev/full")
    errors = [line for line in err.splitlines() if not line.startswith("mfi-sim: note:")]
    assert code == 2 and len(errors) == 1 and "/dev/full" in errors[0] and "No space left" in errors[0], err
    assert list(tmp_path.iterdir()) == []
