"""The HTML report: every section, self-contained, escaped, deterministic, and drawn by a real browser."""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mfi_sim import load_scenario, loads_scenario, simulate
from mfi_sim.errors import ScenarioError
from mfi_sim.engine import Result
from mfi_sim.output.html_report import report_html
from mfi_sim.output.json_result import result_dict
from mfi_sim.scenario import bundled_names
from mfi_sim.units import format_duration, iso_at

from helpers import cli, run_text, scenario_text

EVIL = '<script>alert(1)</script> "quotes" & <b>bold</b>'


def _bundled(name: str) -> Result:
    return simulate(load_scenario(name))


@pytest.fixture(scope="module")
def refused() -> str:
    return report_html(_bundled("connection-refused"))


class _Tags(HTMLParser):
    """Collects every start tag with its attributes, and the text inside <article> cards."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="card.*?</article>', html, re.S)


# ------------------------------------------------------------------------------------------------ content
def test_report_has_every_section(refused: str) -> None:
    """The report tells the story and has the summary, charts, alerts, timeline and NDR sections."""
    for anchor in ("story", "summary", "charts", "alerts", "timeline", "ndrs"):
        assert f'id="{anchor}"' in refused
    assert "<h1>On-premises server refuses connections</h1>" in refused
    assert "Contoso moved every mailbox to Exchange Online" in refused
    assert "Latency of delivered mail" in refused and "Peak queue" in refused
    assert "Admin clicks Fix now on" in refused            # a timeline entry
    assert "<code>5.4.316</code>" in refused or "<code>5.1.10</code>" in refused


def test_queue_chart_has_bands_threshold_markers_and_legend(refused: str) -> None:
    """The queue chart draws both lines, the fault band, the threshold line, raise/resolve markers and a legend."""
    assert refused.count("<svg ") == 2                      # queue depth and attempts, one connector
    queue_svg = refused[refused.index("<svg "):refused.index("</svg>")]
    assert queue_svg.count("<polyline") == 2                # queued, and queued over 1h
    assert "fault: connection refused on 198.51.100.10" in queue_svg
    assert 'fill-opacity="0.13"' in queue_svg               # the shaded fault band
    assert "alert threshold (messages queued over 1h): 2,000" in queue_svg
    assert 'stroke-dasharray="8 5"' in queue_svg            # the dashed threshold line
    assert queue_svg.count("<polygon") >= 3                 # insight and policy raised, plus the legend swatches
    assert "<circle" in queue_svg                           # resolved
    assert "insight: 450 4.4.316 Connection refused" in queue_svg
    assert "alert policy: Messages have been delayed (High)" in queue_svg
    for legend in ("queued messages", "queued over 1h", "alert threshold", "fault in force", "insight raised",
                   "alert policy raised", "resolved"):
        assert f">{legend}" in queue_svg
    assert "messages in the queue" in queue_svg and "hours since the start of the run" in queue_svg
    assert "first messages expire" not in refused           # the queue drained long before anything expired


REFUSED_FROM_30M = """
[[faults]]
kind = "connection_refused"
target = "198.51.100.10"
start = "30m"
"""


def test_expiry_horizon_is_drawn_when_messages_expire_in_the_run() -> None:
    """When messages expire during the run, a line marks the first expiry: the oldest waiting message's deadline."""
    html = report_html(_bundled("outage-longer-than-expiration"))
    assert ">first messages expire</text>" in html and 'stroke-dasharray="8 3 2 3"' in html
    result = run_text(scenario_text(duration="4h", tenant='message_expiration = "2h"', faults=REFUSED_FROM_30M))
    assert result_dict(result)["ndrs"]["by_status"].get("5.4.316", 0) > 0
    html = report_html(result)
    assert ">first messages expire</text>" in html
    oldest = min(s.oldest_arrival for s in result.snapshots if s.oldest_arrival is not None)
    assert f"The first messages expire at +{format_duration(oldest + 7200)} " in html


def test_expiry_after_the_run_is_forecast_in_the_caption() -> None:
    """A queue still stuck at the end says when its oldest message would expire, and draws no line."""
    result = run_text(scenario_text(duration="3h", faults=REFUSED_FROM_30M))
    last = result.snapshots[-1]
    assert last.status == "Retry" and last.oldest_arrival is not None
    html = report_html(result)
    assert "first messages expire" not in html
    assert (f"The first messages would expire at +{format_duration(last.oldest_arrival + 86400)} "
            f"({iso_at(result.scenario.start, last.oldest_arrival + 86400)}), after the end of the run.") in html


def test_attempts_chart_stacks_outcomes_per_hour() -> None:
    """The attempts chart stacks accepted and failed attempts per hour, with a legend entry per code."""
    result = _bundled("partner-rejects")
    html = report_html(result)
    attempts_svg = html[html.index("<svg ", html.index("Delivery attempts per hour")):]
    attempts_svg = attempts_svg[:attempts_svg.index("</svg>")]
    assert "delivery attempts per hour" in attempts_svg
    assert ">accepted by the destination</text>" in attempts_svg
    assert ">failed: 451 4.7.500 reply from the destination</text>" in attempts_svg
    assert ">failed: 550 5.7.1 reply from the destination</text>" in attempts_svg
    by_hour = result.connectors[0].failures_by_hour
    assert f"+1h to +2h: {by_hour[1]['451 4.7.500']:,} 451 4.7.500" in attempts_svg
    total = sum(n for per in by_hour.values() for n in per.values())
    assert f"({total:,} in all)" in html


def test_alert_cards_show_what_the_admin_sees(refused: str) -> None:
    """Each alert is a card with code, title, causes, fixes, times and connector; 4.4.316 offers Fix now."""
    cards = _cards(refused)
    assert len(cards) == 2
    for card in cards:
        assert "<code>450 4.4.316</code> Connection refused" in card
        assert "Likely causes" in card and "How to fix" in card and card.count("<li>") >= 4
        assert "2026-03-02T10:05:00.000Z" in card or "2026-03-02T12:45:00.000Z" in card
        assert "To on-premises" in card and "mail.contoso.com" in card and "198.51.100.10" in card
        assert '<span class="fix-now"' in card and ">Fix now</span>" in card
    assert "Medium" in cards[0] and "High" in cards[1]


def test_fix_now_only_where_it_applies() -> None:
    """Alerts for codes other than 4.4.316 have no Fix now badge."""
    html = report_html(_bundled("dns-query-failed"))
    assert _cards(html)
    assert 'class="fix-now"' not in html


@pytest.mark.parametrize("name", bundled_names())
def test_no_external_resource(name: str) -> None:
    """The page loads nothing from anywhere: no script, link, import, font or URL in src/href, and a CSP says so."""
    html = report_html(_bundled(name))
    assert "http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"" in html
    for tag, attrs in _tags(html):
        assert tag not in ("script", "link", "iframe", "img", "object", "embed", "base")
        for key, value in attrs:
            if key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                assert value is not None and value.startswith("#"), (tag, key, value)
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    assert not re.search(r"\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", html)


def test_scenario_strings_are_escaped() -> None:
    """Names, descriptions, connector names, hostnames and replies from the scenario never become markup."""
    toml = json.dumps   # a JSON string is a valid TOML basic string
    text = scenario_text(duration="3h", faults=f"""
[[faults]]
kind = "smtp_reply"
target = "198.51.100.10"
stage = "rcpt"
reply = {toml("451 4.7.500 " + EVIL)}
start = "30m"
end = "2h30m"
""")
    text = text.replace('name = "test"', f"name = {toml(EVIL)}\ndescription = {toml(EVIL + ' (story)')}", 1)
    text = text.replace('name = "To on-premises"', f"name = {toml('To ' + EVIL)}", 1)
    with pytest.raises(ScenarioError, match="hostname"):   # a host name is checked as one, so it holds no markup
        loads_scenario(text.replace('hostname = "mail.contoso.com"', f"hostname = {toml(EVIL)}", 1))
    result = run_text(text)
    d = result_dict(result)
    assert EVIL in (d["connectors"][0]["last_error"] or "")      # the reply really reaches the report's data
    assert d["alerts"], "the scenario should raise an insight so the card shows the evil strings"
    html = report_html(result)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quotes&quot; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    tags = _tags(html)
    assert not [t for t, _ in tags if t in ("script", "b")]
    assert not [k for _, attrs in tags for k, _ in attrs if k.startswith("on")]
    labels = [v for t, attrs in tags if t == "svg" for k, v in attrs if k == "aria-label"]
    assert labels and all(v is not None and v.endswith("To " + EVIL) for v in labels)   # quotes stayed inside


def test_report_is_deterministic() -> None:
    """Two runs of the same scenario give byte-identical reports."""
    assert report_html(_bundled("connection-refused")) == report_html(_bundled("connection-refused"))
    assert report_html(_bundled("partner-rejects")) == report_html(_bundled("partner-rejects"))


def test_cli_writes_the_report(tmp_path: Path) -> None:
    """`mfi-sim run connection-refused --quiet --report PATH` exits 0 and writes the same bytes, whatever the
    hash seed, as report_html of the same run."""
    texts = []
    for seed in ("1", "2"):
        path = tmp_path / f"report-{seed}.html"
        out = cli("run", "connection-refused", "--quiet", "--report", str(path),
                  env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.returncode == 0, out.stderr
        assert out.stdout == ""
        texts.append(path.read_text(encoding="utf-8"))
    assert texts[0] == texts[1]
    assert texts[0].startswith("<!DOCTYPE html>") and texts[0].rstrip().endswith("</html>")
    assert texts[0] == report_html(_bundled("connection-refused"))


# ------------------------------------------------------------------------------------------------ browser
def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")


def _browse(browser: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Runs headless Chromium on a local file with no network features; its log (and page console) on stderr."""
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


def _console_lines(stderr: str) -> list[str]:
    """Messages the page sent to its console (Chromium logs them as `INFO:CONSOLE...`), and uncaught errors."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_in_a_headless_browser(tmp_path: Path) -> None:
    """Chromium loads the report with no console message or error, and draws it (screenshot far from blank).

    What is checked: (1) a control page with a failing script is reported on stderr as a CONSOLE line, so the
    check below can see errors at all; (2) loading the report logs no CONSOLE line and no "Uncaught" error (the
    page has no script, so any console line would be an error or a Content-Security-Policy violation, i.e. an
    attempt to fetch something); (3) the 1280x2000 screenshot is a PNG of that size and several times the size
    of the control page's nearly blank one; (4) the DOM after load still holds both charts' SVG elements.
    Screenshots stay in pytest's tmp_path, never in the repository.
    """
    browser = _chromium()
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><title>control</title><script>undefinedFunction();</script>\n")
    shot = ["--window-size=1280,2000", "--hide-scrollbars"]
    out = _browse(browser, control, tmp_path / "profile-control", f"--screenshot={tmp_path / 'control.png'}", *shot)
    assert any("undefinedFunction" in line for line in _console_lines(out.stderr)), out.stderr[-2000:]

    page = tmp_path / "report.html"
    page.write_text(report_html(_bundled("connection-refused")), encoding="utf-8")
    png = tmp_path / "report.png"
    out = _browse(browser, page, tmp_path / "profile-shot", f"--screenshot={png}", *shot)
    assert out.returncode == 0, out.stderr[-2000:]
    assert _console_lines(out.stderr) == []
    assert png.exists() and _png_size(png) == (1280, 2000)
    assert png.stat().st_size > 3 * (tmp_path / "control.png").stat().st_size

    out = _browse(browser, page, tmp_path / "profile-dom", "--dump-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _console_lines(out.stderr) == []
    dom = out.stdout
    assert dom.count("<svg ") == 2
    assert dom.count("<polyline ") == 2 and dom.count("<rect ") > 10 and "<polygon " in dom
    assert "alert threshold (messages queued over 1h): 2,000" in dom
    assert "admin: Fix now at +5h" in dom                  # the admin action's mark survives rendering
    assert 'class="fix-now"' in dom


# ------------------------------------------------------------------------------------------------ marks
def _queue_svgs(html: str) -> dict[str, str]:
    """The queue-depth chart of each connector, by connector name."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<h3>Queue depth: ([^<]*)</h3>\s*(<svg .*?</svg>)', html, re.S)}


def test_admin_actions_and_certificate_expiry_are_marked(refused: str) -> None:
    """Admin actions and a certificate that runs out are vertical marks with a label, a legend entry and a
    mention in the caption."""
    queue_svg = _queue_svgs(refused)["To on-premises"]
    assert "admin: Fix now at +5h" in queue_svg and ">admin action" in queue_svg
    assert 'stroke-dasharray="2 3"' in queue_svg
    assert "Marked: admin: Fix now at +5h" in refused
    expired = report_html(_bundled("certificate-expired"))
    chart = _queue_svgs(expired)["To on-premises"]
    assert "certificate of mail.contoso.com expires at +2h" in chart and ">certificate expires" in chart
    assert "admin: certificate renewed (198.51.100.10) at +6h" in chart
    healthy = _queue_svgs(report_html(_bundled("healthy-baseline")))
    assert all("admin:" not in s and "certificate of" not in s for s in healthy.values())


TWO_CONNECTORS = scenario_text(duration="4h", faults=REFUSED_FROM_30M) + '''
[[connectors]]
name = "To Fabrikam"
smart_hosts = ["203.0.113.25"]
recipient_domains = ["fabrikam.com"]

[[servers]]
address = "203.0.113.25"
hostname = "mail.fabrikam.com"
certificate = { names = ["mail.fabrikam.com"], not_before = "2025-01-01T00:00:00Z", not_after = "2026-03-02T10:00:00Z" }

[[traffic]]
rate = "300/h"
to = "fabrikam.com"

[[actions]]
at = "3h"
do = "disable_connector"
connector = "To Fabrikam"
'''


def test_faults_and_marks_only_on_the_connectors_they_touch() -> None:
    """With two connectors, a fault on one's server is drawn on that connector's chart only; so are a
    certificate on the other's route and an action on the other connector."""
    html = report_html(run_text(TWO_CONNECTORS))
    charts = _queue_svgs(html)
    assert set(charts) == {"To on-premises", "To Fabrikam"}
    assert "fault: connection refused on 198.51.100.10" in charts["To on-premises"]
    assert "fault:" not in charts["To Fabrikam"] and ">fault in force" not in charts["To Fabrikam"]
    assert "certificate of mail.fabrikam.com expires at +2h" in charts["To Fabrikam"]
    assert "certificate of" not in charts["To on-premises"]
    assert "admin: connector off at +3h" in charts["To Fabrikam"] and "admin:" not in charts["To on-premises"]
