"""The notebook API: load with --set overrides, simulate, sweep; plain records; the README session runs."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mfi_sim
from mfi_sim import backends, grid, replications
from mfi_sim.errors import MfiSimError
from mfi_sim.scenario import parse_toml

from helpers import REPO, scenario_text

BASE = scenario_text(duration="3h", rate="600/h",
                     faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "30m"\n'
                            'duration = "1h"\n')


def _readme_blocks() -> list[str]:
    """The python blocks of the README's notebook section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("#### From a notebook"):text.index("#### On a Dask cluster")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_public_api_is_exported_lazily() -> None:
    """`import mfi_sim` loads no simulation library; load/simulate/sweep are in __all__ and typed."""
    code = "import sys, mfi_sim; print(sorted(m for m in ('simpy', 'dns', 'mfi_sim.engine') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    for name in ("load", "simulate", "sweep", "Loaded", "SweepResult", "Result"):
        assert name in mfi_sim.__all__ and callable(getattr(mfi_sim, name))


def test_load_applies_overrides_like_set(tmp_path: Path) -> None:
    """Overrides by dotted path, as keywords or a dict; a bad value is a one-line error naming the field."""
    path = tmp_path / "s.toml"
    path.write_text(BASE)
    sc = mfi_sim.load(path, **{"faults[0].duration": "2h", "connectors[0].max_connections": 5})
    assert sc.faults[0].end - sc.faults[0].start == 7200 and sc.connectors[0].max_connections == 5
    same = mfi_sim.load(str(path), overrides={"faults[0].duration": "2h", "connectors[0].max_connections": 5})
    assert same.scenario == sc.scenario
    with pytest.raises(MfiSimError, match=r"traffic\[0\]\.rate"):
        mfi_sim.load(path, **{"traffic.rate": "lots"})


def test_sweep_rows_match_the_command_line_tasks(tmp_path: Path) -> None:
    """mfi_sim.sweep gives the rows of the same grid run through the sweep machinery, as flat records."""
    path = tmp_path / "s.toml"
    path.write_text(BASE)
    result = mfi_sim.sweep(mfi_sim.load(path), {"faults[0].duration": ["30m", "1h"]}, replications=2)
    points = grid.plan(parse_toml(BASE), [grid.parse_set("faults[0].duration=30m,1h")], str(path))
    rows = backends.run_tasks(replications.tasks_for(points, replications.replication_seeds(1, 2), str(path)))
    assert [r["delivered"] for r in result.rows] == [r["delivered"] for r in rows]
    assert all(isinstance(v, (str, int, float, bool, type(None))) for r in result.rows for v in r.values())
    assert result.rows[0]["faults[0].duration"] == "30m" and len(result.summary) == 2
    assert result.connectors[0]["connector"] == "To on-premises"
    assert "drain_after_recovery_s_ci95" in result.summary[0] and "±" in result.table()


def test_readme_notebook_session_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's notebook session runs as written; the plot part where pandas and matplotlib are installed."""
    blocks = _readme_blocks()
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md (notebook)", "exec"), namespace)
    assert (tmp_path / "sweep.html").read_text().startswith("<!DOCTYPE html>")
    if importlib.util.find_spec("pandas") is None or importlib.util.find_spec("matplotlib") is None:
        pytest.skip("pandas or matplotlib is not installed (pip install -e '.[notebook]'): plot part not run")
    import matplotlib

    matplotlib.use("Agg")
    exec(compile(blocks[1], "README.md (plot)", "exec"), namespace)
    assert (tmp_path / "drain.png").stat().st_size > 1000


def test_loaded_scenarios_copy_and_show_in_a_notebook(tmp_path: Path) -> None:
    """A loaded scenario pickles and copies; a sweep shows itself in a notebook cell with styles kept to itself."""
    import copy
    import pickle

    path = tmp_path / "s.toml"
    path.write_text(BASE)
    loaded = mfi_sim.load(path)
    assert pickle.loads(pickle.dumps(loaded)).scenario == loaded.scenario
    assert copy.deepcopy(loaded).name == "test"
    cell = mfi_sim.sweep(loaded, {"faults[0].duration": ["30m"]}, replications=1)._repr_html_()
    assert cell.startswith('<div class="mfi-sweep"><style>') and "<svg " in cell
    style = cell[cell.index("<style>"):cell.index("</style>")]
    rules = [r.split("{")[0].strip() for r in style.removeprefix("<style>").split("}") if "{" in r]
    assert rules and all(r.startswith(".mfi-sweep") for r in rules), rules
