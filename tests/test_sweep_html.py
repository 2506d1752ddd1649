"""The sweep report: one self-contained page with a chart per figure and setting (bands, a line per value of the
other setting), the table and the manifest; escaped, deterministic, and drawn by a real browser."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfi_sim.figures import FIGURES
from mfi_sim.grid import parse_set
from mfi_sim.output.sweep_html import sweep_html
from mfi_sim.scenario import parse_toml
from mfi_sim.whatif import SweepRun, run_sweep

from helpers import cli, scenario_text
from test_html_report import _browse, _chromium, _console_lines, _png_size

EVIL = '<script>alert(1)</script> "q" & <b>x</b>'
BASE = scenario_text(duration="3h", rate="600/h",
                     faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "30m"\n'
                            'duration = "1h"\n').replace('name = "test"', f"name = '{EVIL}'")


@pytest.fixture(scope="module")
def run() -> SweepRun:
    settings = [parse_set("faults[0].duration=30m,1h,2h"), parse_set("connectors[0].max_connections=2,20")]
    return run_sweep(parse_toml(BASE), BASE, "evil<&>.toml", settings, 2, workers=2)


def test_one_chart_per_figure_and_setting(run: SweepRun) -> None:
    """Every figure against each swept setting: 2 x len(FIGURES) charts, each with a line and a band per value of
    the other setting (where there are intervals), and a legend naming that value."""
    page = sweep_html(run)
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 2 * len(FIGURES)
    peak = next(c for c in charts if 'aria-label="peak queue against faults[0].duration"' in c)
    assert peak.count("<polyline") == 2 and peak.count('fill-opacity="0.18"') == 2
    assert "connectors[0].max_connections = 2" in peak and "95% confidence interval" in peak
    by_connections = next(c for c in charts if 'aria-label="peak queue against connectors[0].max_connections"' in c)
    assert by_connections.count("<polyline") == 3          # one line per outage length
    policy = next(c for c in charts if "first policy alert after first failure against faults" in c)
    assert "never happened at any point" in policy          # an empty figure says so instead of drawing zero


def test_page_is_self_contained_and_escaped(run: SweepRun) -> None:
    """A CSP forbids every fetch, nothing points outside the page, and scenario and path text is escaped."""
    page = sweep_html(run)
    assert "default-src 'none'" in page and "<script" not in page.replace("&lt;script", "")
    assert not re.search(r"(src|href)\s*=", page) and "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "evil&lt;&amp;&gt;.toml" in page
    assert 'id="table"' in page and 'id="manifest"' in page and "replication_seeds" in page
    assert "p95_time_in_system_s" in page and "± &lt;5m" in page      # resolution, not a false ± 0
    assert page == sweep_html(run)


def test_command_writes_the_report(tmp_path: Path) -> None:
    """`sweep --report` writes the page, the same on every backend (but for the manifest's backend line)."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(BASE)
    args = ["sweep", str(scenario), "--set", "faults[0].duration=30m,1h", "--quiet"]
    out = cli(*args, "--workers", "1", "--report", str(tmp_path / "a.html"))
    assert out.returncode == 0, out.stderr
    again = cli(*args, "--workers", "2", "--report", str(tmp_path / "b.html"))
    assert again.returncode == 0, again.stderr
    a, b = ((tmp_path / name).read_text() for name in ("a.html", "b.html"))
    assert "processes:1" in a and "processes:2" in b     # the manifest says which backend ran it
    assert a.replace("processes:1", "processes:2") == b


def test_sweep_report_in_a_headless_browser(tmp_path: Path, run: SweepRun) -> None:
    """Chromium loads the page with no console message (no script, no CSP violation) and draws the charts; the
    screenshot stays in tmp_path."""
    browser = _chromium()
    page = tmp_path / "sweep.html"
    page.write_text(sweep_html(run), encoding="utf-8")
    png = tmp_path / "sweep.png"
    out = _browse(browser, page, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000",
                  "--hide-scrollbars")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _console_lines(out.stderr) == []
    assert _png_size(png) == (1280, 2000) and png.stat().st_size > 60_000
    out = _browse(browser, page, tmp_path / "profile-dom", "--dump-dom")
    assert out.returncode == 0 and _console_lines(out.stderr) == []
    assert out.stdout.count("<svg ") == 2 * len(FIGURES) and out.stdout.count("<polyline ") > 2 * len(FIGURES)
