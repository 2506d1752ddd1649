"""`--metrics` (OpenMetrics text with timestamps) and `--promtool-series` (promtool test rules input)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mfi_sim import load_scenario, simulate
from mfi_sim.engine import Result
from mfi_sim.output.metrics import compress_values, openmetrics_text, promtool_duration, promtool_series_yaml

from helpers import cli, run_text, scenario_text

_RUN = re.compile(r"(-?\d+(?:\.\d+)?)([+-])(\d+(?:\.\d+)?)x(\d+)")


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation, read independently of the writer: `a+bxn` is n + 1 values, `_` none."""
    out: list[float | None] = []
    for token in values.split():
        m = _RUN.fullmatch(token)
        if token == "_":
            out.append(None)
        elif m:
            a, sign, b, n = float(m.group(1)), m.group(2), float(m.group(3)), int(m.group(4))
            step = b if sign == "+" else -b
            out.extend(a + k * step for k in range(n + 1))
        else:
            out.append(float(token))
    return out


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[float, float]]:
    """{(sample name, labels): {timestamp: value}} from a real OpenMetrics parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            ts = s.timestamp
            seconds = float(ts.sec + ts.nsec / 1e9) if hasattr(ts, "sec") else float(ts)
            out.setdefault(_key(s.name, s.labels), {})[seconds] = s.value
    return out


_SELECTOR = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _parse_selector(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    m = _SELECTOR.match(text)
    assert m, text
    labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2))}
    return _key(m.group(1), labels)


@pytest.fixture(scope="module")
def refused() -> Result:
    return simulate(load_scenario("connection-refused"))


@pytest.fixture(scope="module")
def families(refused: Result) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(openmetrics_text(refused))}


def test_parses_as_openmetrics(refused: Result, families: dict[str, Any]) -> None:
    """A real OpenMetrics parser reads every family with its type and unit; the text ends in # EOF."""
    text = openmetrics_text(refused)
    assert text.endswith("\n# EOF\n")
    types = {name: f.type for name, f in families.items()}
    assert types["mfi_queue_messages"] == "gauge"
    assert types["mfi_queue_aged_messages"] == "gauge"
    assert types["mfi_queue_status"] == "gauge"
    assert types["mfi_alert_firing"] == "gauge"
    for counter in ("mfi_messages_received", "mfi_messages_delivered", "mfi_messages_ndr", "mfi_messages_rejected",
                    "mfi_attempts"):
        assert types[counter] == "counter"
        assert {s.name for s in families[counter].samples} == {f"{counter}_total"}
    assert families["mfi_queue_oldest_message_age_seconds"].unit == "seconds"
    assert all(f.documentation for f in families.values())


def test_timestamps_are_the_snapshot_instants(refused: Result) -> None:
    """Every series has one sample per snapshot, stamped start epoch + simulated seconds."""
    epoch = refused.scenario.start.timestamp()
    expected = {epoch + t for t in {s.t for s in refused.snapshots}}
    for points in _samples(openmetrics_text(refused)).values():
        assert set(points) == expected


def test_queue_values_match_the_snapshots(refused: Result) -> None:
    """Gauges and counters carry the snapshot figures of their connector at each instant."""
    samples = _samples(openmetrics_text(refused))
    epoch = refused.scenario.start.timestamp()
    for s in refused.snapshots:
        labels = {"connector": s.connector}
        ts = epoch + s.t
        assert samples[_key("mfi_queue_messages", labels)][ts] == s.queued_messages
        assert samples[_key("mfi_queue_aged_messages", labels)][ts] == s.aged_messages
        assert samples[_key("mfi_queue_retries", labels)][ts] == s.retry_count
        assert samples[_key("mfi_messages_received_total", labels)][ts] == s.received
        assert samples[_key("mfi_messages_delivered_total", labels)][ts] == s.delivered
        assert samples[_key("mfi_messages_ndr_total", labels)][ts] == s.ndr
        assert samples[_key("mfi_messages_rejected_total", labels)][ts] == s.rejected
        assert samples[_key("mfi_attempts_total", labels)][ts] == s.attempts
        for status in ("Ready", "Active", "Retry", "Suspended"):
            assert samples[_key("mfi_queue_status", dict(labels, status=status))][ts] == int(s.status == status)


def test_counters_never_decrease(families: dict[str, Any]) -> None:
    """Each counter series only grows over time."""
    for name, family in families.items():
        if family.type != "counter":
            continue
        series: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        for s in family.samples:
            series.setdefault(tuple(sorted(s.labels.items())), []).append(s)
        for points in series.values():
            values = [p.value for p in points]
            assert values == sorted(values), name


def test_alert_firing_follows_the_alerts(refused: Result) -> None:
    """mfi_alert_firing is 1 exactly at the evaluations where each alert's condition held, with its code, 0
    elsewhere (from when the condition clears, even while a policy alert stays Active)."""
    samples = _samples(openmetrics_text(refused))
    epoch = refused.scenario.start.timestamp()
    alerts = refused.alerts
    assert {a.kind for a in alerts} == {"insight", "policy"}
    ones: dict[tuple[str, tuple[tuple[str, str], ...]], set[float]] = {}
    for a in alerts:
        for t, fields in a.history:
            key = _key("mfi_alert_firing", {"alertname": a.policy, "connector": fields["connector"],
                                            "code": fields["code"] or "", "kind": a.kind})
            ones.setdefault(key, set()).add(epoch + t)
        assert a.condition_cleared_s is not None
    firing = {k: {ts for ts, v in points.items() if v == 1} for k, points in samples.items()
              if k[0] == "mfi_alert_firing"}
    assert firing == ones
    for a in alerts:
        raised = epoch + a.raised_s
        resolved = epoch + a.condition_cleared_s  # type: ignore[operator]
        mine = [points for k, points in samples.items() if k[0] == "mfi_alert_firing"
                and dict(k[1])["alertname"] == a.policy and dict(k[1])["connector"] == a.connector]
        assert any(points[raised] == 1 for points in mine)
        assert all(points[resolved] == 0 for points in mine)


def _odd_name_run() -> Result:
    text = scenario_text(duration="3h", faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\n'
                                              'start = "10m"\nduration = "2h"\n')
    name = 'Say "hi" \\ to O\'Brien'
    text = text.replace('name = "To on-premises"', "name = '''" + name + "'''")
    result = run_text(text)
    assert result.connectors[0].name == name
    return result


def test_label_values_are_escaped() -> None:
    """Quotes and backslashes in a connector name are escaped in the text and read back unchanged."""
    result = _odd_name_run()
    name = result.connectors[0].name
    text = openmetrics_text(result)
    assert 'connector="Say \\"hi\\" \\\\ to O\'Brien"' in text
    connectors = {dict(k[1]).get("connector") for k in _samples(text)}
    assert connectors == {name}
    document = yaml.safe_load(promtool_series_yaml(result))
    selectors = {_parse_selector(s["series"]) for s in document["tests"][0]["input_series"]}
    assert {dict(labels)["connector"] for _, labels in selectors} == {name}


def _promtool_document(result: Result) -> tuple[str, dict[str, Any]]:
    text = promtool_series_yaml(result)
    return text, yaml.safe_load(text)


def test_promtool_file_shape(refused: Result) -> None:
    """The promtool file is a test file: evaluation_interval, one test group with interval and input_series."""
    text, doc = _promtool_document(refused)
    assert "# interval: 5m" in text.splitlines()[1]
    assert set(doc) == {"evaluation_interval", "tests"}
    assert doc["evaluation_interval"] == "5m"
    (group,) = doc["tests"]
    assert group["interval"] == "5m"
    assert group["name"] == refused.scenario.name
    assert all(set(s) == {"series", "values"} for s in group["input_series"])


def test_promtool_series_round_trip(refused: Result) -> None:
    """Every OpenMetrics series is in input_series, and its expanded values are its samples in time order."""
    samples = _samples(openmetrics_text(refused))
    _, doc = _promtool_document(refused)
    series = {_parse_selector(s["series"]): expand(s["values"]) for s in doc["tests"][0]["input_series"]}
    assert set(series) == set(samples)
    for key, values in series.items():
        points = [v for _, v in sorted(samples[key].items())]
        assert values == pytest.approx(points), key
    snaps = [s for s in refused.snapshots]
    aged = series[_key("mfi_queue_aged_messages", {"connector": "To on-premises"})]
    assert aged == [s.aged_messages for s in snaps]


def test_promtool_leaves_out_off_cadence_snapshots() -> None:
    """With a run that ends between evaluations, the final snapshot is in --metrics but not in the promtool file."""
    result = run_text(scenario_text(duration="1h2m"))
    times = sorted({s.t for s in result.snapshots})
    assert times[-1] == 3720.0 and times[-2] == 3600.0
    _, doc = _promtool_document(result)
    for s in doc["tests"][0]["input_series"]:
        assert len(expand(s["values"])) == 13          # 0, 5m, ..., 60m
    assert f"{int(result.scenario.start.timestamp() + 3720)}" in openmetrics_text(result)


def test_compress_values() -> None:
    """Runs of whole numbers with a constant step become a+bxn (n + 1 values); the rest is written as is."""
    assert compress_values([0, 0, 0, 0]) == "0+0x3"
    assert compress_values([1, 2, 3, 4, 10]) == "1+1x3 10"
    assert compress_values([5, 3, 1]) == "5-2x2"
    assert compress_values([1, 2]) == "1 2"
    assert compress_values([0.5, 1.5, None, 7]) == "0.5 1.5 _ 7"
    assert compress_values([]) == ""
    for values in ([0, 0, 1, 1, 1, 2, 4, 6, 8, 3], [7], [2.25, 2, 2, 2, None, None, 0], [9, 8, 7, 6, 6, 6]):
        assert expand(compress_values(values)) == values


def test_promtool_duration() -> None:
    """Prometheus durations: whole units, combined, or milliseconds."""
    assert promtool_duration(300) == "5m"
    assert promtool_duration(3600) == "1h"
    assert promtool_duration(5400) == "1h30m"
    assert promtool_duration(90) == "1m30s"
    assert promtool_duration(0.25) == "250ms"


def test_same_run_same_bytes(tmp_path: Path) -> None:
    """Two CLI runs under different hash seeds write byte-identical metrics and promtool files."""
    outputs = []
    for seed in ("0", "123"):
        m, p = tmp_path / f"{seed}.om", tmp_path / f"{seed}.yml"
        out = cli("run", "connection-refused", "--quiet", "--metrics", str(m), "--promtool-series", str(p),
                  env=dict(os.environ, PYTHONHASHSEED=seed))
        assert out.returncode == 0, out.stderr
        outputs.append((m.read_bytes(), p.read_bytes()))
    assert outputs[0] == outputs[1]


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package: prometheus)")

RULES = """\
groups:
  - name: mail-queue
    rules:
      - alert: ConnectorQueueBacklog
        expr: mfi_queue_aged_messages > 100
        for: 15m
        labels:
          severity: page
"""


def _promtool(tmp: Path, series: str, tests: str) -> subprocess.CompletedProcess[str]:
    """Appends rules and alert tests to an exported file, as the README shows, and runs promtool on it."""
    (tmp / "rules.yml").write_text(RULES)
    path = tmp / "incident.yml"
    path.write_text(series + tests + "rule_files: [rules.yml]\n")
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)


@needs_promtool
def test_promtool_accepts_the_export_as_is(tmp_path: Path, refused: Result) -> None:
    """`promtool test rules` runs the exported file unchanged (no rules yet) and passes."""
    path = tmp_path / "series.yml"
    path.write_text(promtool_series_yaml(refused))
    out = subprocess.run([str(PROMTOOL), "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_rule_fires_when_expected(tmp_path: Path, refused: Result) -> None:
    """A user rule (aged messages > 100 for 15m) fires 15 minutes after the first evaluation above 100."""
    snaps = [s for s in refused.snapshots if s.t % 300 == 0]
    first = next(i for i, s in enumerate(snaps) if s.aged_messages > 100)
    assert all(s.aged_messages > 100 for s in snaps[first:first + 4])
    fires = snaps[first].t + 900
    tests = f"""\
    alert_rule_test:
      - eval_time: {promtool_duration(fires - 300)}
        alertname: ConnectorQueueBacklog
        exp_alerts: []
      - eval_time: {promtool_duration(fires)}
        alertname: ConnectorQueueBacklog
        exp_alerts:
          - exp_labels: {{severity: page, connector: To on-premises}}
"""
    out = _promtool(tmp_path, promtool_series_yaml(refused), tests)
    assert out.returncode == 0, out.stdout + out.stderr
    early = tests.replace(f"eval_time: {promtool_duration(fires)}", f"eval_time: {promtool_duration(fires - 300)}")
    assert _promtool(tmp_path, promtool_series_yaml(refused), early).returncode != 0


@needs_promtool
def test_promtool_reads_escaped_labels(tmp_path: Path) -> None:
    """promtool reads a connector name with quotes and a backslash back as exactly that name (one character each)."""
    result = _odd_name_run()
    tests = """\
    promql_expr_test:
      - expr: 'count(mfi_queue_messages{connector=~"Say .hi. . to O.Brien"})'
        eval_time: 0m
        exp_samples:
          - labels: '{}'
            value: 1
"""
    out = _promtool(tmp_path, promtool_series_yaml(result), tests)
    assert out.returncode == 0, out.stdout + out.stderr
