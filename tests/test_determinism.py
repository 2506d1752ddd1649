"""Same scenario and seed give byte-identical --json and --events, in-process and across PYTHONHASHSEED."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfi_sim.scenario import bundled_names

from helpers import cli


def _run(tmp: Path, name: str, tag: str, hashseed: str) -> tuple[bytes, bytes]:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    j, e = tmp / f"{tag}.json", tmp / f"{tag}.jsonl"
    out = cli("run", name, "--quiet", "--json", str(j), "--events", str(e), env=env)
    assert out.returncode == 0, out.stderr
    return j.read_bytes(), e.read_bytes()


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_scenario_is_byte_identical(tmp_path: Path, name: str) -> None:
    """Two runs with different hash seeds write exactly the same JSON and events."""
    a = _run(tmp_path, name, "a", "0")
    b = _run(tmp_path, name, "b", "4242")
    assert a[0] == b[0]
    assert a[1] == b[1]
    assert len(a[1]) > 0


def test_seed_changes_the_run(tmp_path: Path) -> None:
    """A different --seed gives a different (but equally valid) run."""
    env = dict(os.environ)
    cli("run", "connection-refused", "--quiet", "--seed", "1", "--json", str(tmp_path / "1.json"), env=env)
    cli("run", "connection-refused", "--quiet", "--seed", "2", "--json", str(tmp_path / "2.json"), env=env)
    assert (tmp_path / "1.json").read_bytes() != (tmp_path / "2.json").read_bytes()
