"""What-if sweeps: --set paths, validation, stable seeds, confidence intervals, identical results on every backend."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mfi_sim import backends, grid, replications
from mfi_sim.errors import OptionError, ScenarioError
from mfi_sim.scenario import parse_toml

from helpers import cli, scenario_text

#: The CSV columns issue 11 promises to scripts.
CONTRACT = ("received", "delivered", "ndr", "rejected", "queued_at_end", "peak_queue", "p50_time_in_system_s",
            "p95_time_in_system_s", "p95_delivered_latency_s", "delivered_within_1h", "delivered_within_4h",
            "delivered_within_24h", "first_insight_after_failure_s", "first_policy_after_failure_s",
            "drain_after_recovery_s", "utilisation")

BASE = scenario_text(duration="3h", rate="600/h",
                     faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "30m"\n'
                            'duration = "1h"\n')


def test_parse_set_paths_and_types() -> None:
    """Keys become paths with indexes; values are read as TOML would, falling back to strings."""
    s = grid.parse_set("faults[0].duration=2h,6h")
    assert s.path == ("faults", 0, "duration") and s.values == ("2h", "6h")
    n = grid.parse_set("connectors[0].max_connections=10,20")
    assert n.values == (10, 20)
    assert grid.parse_set("tenant.retry=exchange-online,postfix").values == ("exchange-online", "postfix")
    for bad in ("nokey", "=1", "a[x]=1", "a=1,,2"):
        with pytest.raises(OptionError):
            grid.parse_set(bad)


def test_plan_is_the_cartesian_product_and_fans_out_over_arrays() -> None:
    """Two settings of 2 and 3 values make 6 points; a path without index changes every table."""
    data = parse_toml(BASE)
    points = grid.plan(data, [grid.parse_set("traffic.rate=100/h,200/h"),
                               grid.parse_set("faults[0].duration=1h,2h,3h")], "t.toml")
    assert len(points) == 6
    labels, variant = points[5]
    assert labels == {"traffic.rate": "200/h", "faults[0].duration": "3h"}
    assert variant["traffic"][0]["rate"] == "200/h" and variant["faults"][0]["duration"] == "3h"
    assert data["traffic"][0]["rate"] == "600/h"     # the original is untouched


def test_invalid_points_are_refused_before_running() -> None:
    """A value that makes the scenario invalid is a ScenarioError naming the setting and the field."""
    with pytest.raises(ScenarioError) as info:
        grid.plan(parse_toml(BASE), [grid.parse_set("traffic.rate=100/h,lots")], "t.toml")
    assert "traffic.rate=lots" in str(info.value) and "traffic[0].rate" in str(info.value)
    with pytest.raises(OptionError):
        grid.plan(parse_toml(BASE), [grid.parse_set("faults[3].duration=1h")], "t.toml")


def test_replication_seeds_are_stable_and_distinct() -> None:
    """Seeds derive from the scenario seed only: same every time, distinct per replication."""
    a = replications.replication_seeds(7, 5)
    assert a == replications.replication_seeds(7, 5) and len(set(a)) == 5
    assert a != replications.replication_seeds(8, 5)
    assert a[0] == 2152226915113334822      # pinned: changing the derivation changes every sweep


def test_confidence_interval_math() -> None:
    """Mean and 95% half-width follow Student's t: n=4, values 1..4 -> 2.5 ± 3.182*sd/2."""
    rows = [{"point": 0, "replication": i, "seed": i, "delivered": v, "ndr": None, "peak_queue": 1}
            for i, v in enumerate([1, 2, 3, 4])]
    summary = replications.summarize(rows, 1)[0]
    stat = summary["delivered"]
    assert stat is not None and (stat.mean, stat.n) == (2.5, 4)
    assert stat.ci95 == pytest.approx(3.182 * 1.2909944 / 2, rel=1e-4)
    assert summary["ndr"] is None and summary["received"] is None
    assert replications.t_quantile(1000) == 1.960 and 2.0 < replications.t_quantile(45) < 2.021


def _tasks() -> list[replications.Task]:
    points = grid.plan(parse_toml(BASE), [grid.parse_set("faults[0].duration=30m,1h")], "t.toml")
    seeds = replications.replication_seeds(1, 2)
    return [replications.Task(i, r, s, variant, "t.toml") for i, (_, variant) in enumerate(points)
            for r, s in enumerate(seeds)]


def test_process_pool_matches_inline() -> None:
    """Running on a process pool gives exactly the rows of running inline, in task order."""
    tasks = _tasks()
    inline = backends.run_tasks(tasks, workers=1)
    pooled = backends.run_tasks(tasks, workers=2)
    assert inline == pooled
    assert inline[0]["delivered"] > 0 and inline[2]["peak_queue"] > inline[0]["peak_queue"]


def test_dask_local_cluster_matches_inline() -> None:
    """A Dask LocalCluster runs the same tasks to bit-identical rows."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    tasks = _tasks()
    assert backends.run_tasks(tasks, workers=2, dask="local") == backends.run_tasks(tasks, workers=1)


def test_sweep_command_writes_rows_summary_and_manifest(tmp_path: Path) -> None:
    """`mfi-sim sweep` prints a table with CIs and writes rows, summary and manifest; results repeat exactly."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(BASE)
    out = cli("sweep", str(scenario), "--set", "faults[0].duration=30m,90m", "--replications", "3",
              "--workers", "2", "--csv", str(tmp_path / "run.csv"))
    assert out.returncode == 0, out.stderr
    assert "±" in out.stdout and "faults[0].duration" in out.stdout
    rows = (tmp_path / "run.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3 and rows[0].startswith("point,replication,seed,faults[0].duration")
    header = rows[0].split(",")
    for column in CONTRACT:
        assert column in header, column
    summary = (tmp_path / "run-summary.csv").read_text().splitlines()
    assert len(summary) == 3
    for column in CONTRACT:
        assert all(f"{column}_{part}" in summary[0].split(",") for part in ("mean", "ci95", "n")), column
    per_connector = (tmp_path / "run-connectors.csv").read_text().splitlines()
    assert per_connector[0].endswith("connector,received,delivered,ndr,expired,rejected,queued_at_end")
    assert len(per_connector) == 1 + 2 * 3
    manifest = json.loads((tmp_path / "run-manifest.json").read_text())
    assert manifest["replication_seeds"] == replications.replication_seeds(1, 3)
    assert len(manifest["scenario_sha256"]) == 64 and manifest["settings"][0]["values"] == ["30m", "90m"]
    again = cli("sweep", str(scenario), "--set", "faults[0].duration=30m,90m", "--replications", "3",
                "--workers", "1", "--csv", str(tmp_path / "again.csv"))
    assert again.returncode == 0
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "run.csv").read_text()


@pytest.mark.parametrize("args", [["--set", "nonsense"], ["--set", "traffic.rate=fast"], ["--replications", "0"]])
def test_bad_sweep_options_exit_2(args: list[str]) -> None:
    """Bad --set or options: exit 2 with one line, no traceback."""
    out = cli("sweep", "connection-refused", *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_longer_outage_means_more_backlog() -> None:
    """Sanity of the figures: a longer outage gives a higher peak queue and later drain."""
    rows = backends.run_tasks(_tasks(), workers=1)
    short = [r for r in rows if r["point"] == 0]
    long = [r for r in rows if r["point"] == 1]
    assert all(a["peak_queue"] < b["peak_queue"] for a, b in zip(short, long))
    assert all(r["drain_after_fault_end_s"] is not None and not math.isnan(r["drain_after_fault_end_s"])
               for r in rows)
    assert all(r["drain_after_recovery_s"] is not None for r in rows)


def test_table_shows_human_durations_and_resolution_not_zero() -> None:
    """Durations read 2h05m, not seconds; an interval narrower than the figure's resolution reads '± <5m', never
    '± 0'; a figure that never happened reads '–'; the CSV keeps seconds at full precision."""
    from mfi_sim.figures import FIGURES
    from mfi_sim.output.sweep_report import human_duration, stat_text

    assert [human_duration(s) for s in (0.49, 4.21, 42, 750, 7500, 93600)] == \
        ["490ms", "4.2s", "42s", "12m30s", "2h05m", "1d02h"]
    drain = next(f for f in FIGURES if f.key == "drain_after_recovery_s")
    same = replications.Stat(291.0, 0.0, 5, resolution=300.0)
    assert stat_text(drain, same, 5) == "4m51s ± <5m"
    assert stat_text(drain, replications.Stat(7500.0, 900.0, 5, resolution=300.0), 5) == "2h05m ± 15m00s"
    assert stat_text(drain, None, 5) == "–"
    p95 = next(f for f in FIGURES if f.key == "p95_time_in_system_s")
    assert stat_text(p95, replications.Stat(7200.0, 10.0, 3, True, 72.0), 3) == "> 2h00m ± <1%"


def test_target_width_adds_replications_until_the_interval_is_narrow() -> None:
    """--target-width: replications are added per point until the 95% CI is within ±P% of the mean (or the cap);
    the same inputs give the same replications and rows on any backend."""
    points = grid.plan(parse_toml(BASE), [grid.parse_set("faults[0].duration=30m,1h")], "t.toml")

    def run(tasks: list[replications.Task]) -> list[dict[str, object]]:
        return backends.run_tasks(tasks, workers=1)

    rows, used = replications.replicate_to_width(points, 1, 2, "delivered", 0.01, 8, run, "t.toml")
    assert all(2 < n <= 8 for n in used) and len(rows) == sum(used)
    summary = replications.summarize(rows, 2)
    for i, stat in enumerate(summary):
        d = stat["delivered"]
        assert d is not None and (d.ci95 <= 0.01 * d.mean or used[i] == 8)
    again, used_again = replications.replicate_to_width(points, 1, 2, "delivered", 0.01, 8,
                                                        lambda t: backends.run_tasks(t, workers=2), "t.toml")
    assert (again, used_again) == (rows, used)
    wide, few = replications.replicate_to_width(points, 1, 2, "delivered", 0.5, 8, run, "t.toml")
    assert few == [2, 2]


def test_target_width_from_the_command_line(tmp_path: Path) -> None:
    """The manifest records the target and the replications used per point."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(BASE)
    out = cli("sweep", str(scenario), "--set", "faults[0].duration=30m", "--replications", "2", "--workers", "1",
              "--target-width", "2", "--target", "delivered", "--max-replications", "6", "--csv",
              str(tmp_path / "t.csv"), "--quiet")
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "t-manifest.json").read_text())
    assert manifest["target"] == {"figure": "delivered", "width": 0.02, "max_replications": 6}
    assert 2 <= manifest["replications_used"][0] <= 6
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 1 + manifest["replications_used"][0]
    bad = cli("sweep", str(scenario), "--set", "faults[0].duration=30m", "--target-width", "5", "--target", "nope")
    assert bad.returncode == 2 and "not a figure" in bad.stderr


def test_readme_sweep_example_runs_as_written() -> None:
    """Setting a fault's duration replaces its end (the bundled scenario gives an end): the README example runs."""
    points = grid.plan(parse_toml((Path(__file__).parents[1] / "scenarios" /
                                   "outage-longer-than-expiration.toml").read_text()),
                       [grid.parse_set("faults[0].duration=2h,6h,12h")], "outage-longer-than-expiration")
    assert [p[1]["faults"][0].get("end") for p in points] == [None, None, None]
    assert [p[1]["faults"][0]["duration"] for p in points] == ["2h", "6h", "12h"]


def test_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    """SIGTERM to `sweep --workers 2` leaves no worker running: each worker exits once its parent is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(duration="48h", rate="20/s"))
    proc = subprocess.Popen([sys.executable, "-m", "mfi_sim", "sweep", str(scenario), "--set",
                             "traffic.rate=20/s,21/s,22/s,23/s", "--workers", "2", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == proc.pid:
                    found.append(int(entry))
        return found

    workers: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = children()
        assert len(workers) >= 2, "the sweep did not start its workers"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and
                     " Z " not in Path(f"/proc/{pid}/stat").read_text()]
        assert alive == [], f"workers {alive} outlived the sweep"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_shorter_run_is_not_refused_for_the_scenarios_tests() -> None:
    """A sweep runs no [[tests]]: cutting the bundled scenario to 24 h is fine though a test looks at 30h30m."""
    data = parse_toml((Path(__file__).parents[1] / "scenarios" / "outage-longer-than-expiration.toml").read_text())
    points = grid.plan(data, [grid.parse_set("scenario.duration=24h,36h")], "outage-longer-than-expiration")
    assert len(points) == 2 and all("tests" not in variant for _, variant in points)
    assert "tests" in data
