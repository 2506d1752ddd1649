"""The field catalogue is the single source of truth: the loader accepts exactly it, the README shows it."""
from __future__ import annotations

from pathlib import Path

from mfi_sim.scenario import parse_toml, scenario_from_data
from mfi_sim.scenario.fields import END, FIELDS, START, markdown_table

from helpers import REPO

EVERY = Path(__file__).parent / "data" / "every-field.toml"


def test_every_documented_field_is_read_by_the_loader() -> None:
    """A file using every catalogue field loads, and the loader read each one (none documented but ignored)."""
    text = EVERY.read_text()
    used: set[tuple[str, str]] = set()
    scenario_from_data(parse_toml(text), str(EVERY), text, used)
    used = {u for u in used if u[0] != "servers.replies"}   # its keys are SMTP stages, listed under `replies`
    catalogue = {(f.table, f.name) for f in FIELDS}
    assert catalogue - used == set(), "documented but not exercised/read"
    assert used - catalogue == set(), "read but not documented"


def test_readme_table_is_generated_from_the_catalogue() -> None:
    """The README's field reference is exactly the generated table (python -m mfi_sim.scenario README.md)."""
    readme = (REPO / "README.md").read_text()
    assert START in readme and END in readme
    between = readme.split(START, 1)[1].split(END, 1)[0]
    assert between == "\n" + markdown_table()


def test_the_every_field_scenario_runs() -> None:
    """It is a real scenario too: it runs end to end with both connectors moving mail."""
    from mfi_sim import load_scenario, simulate

    result = simulate(load_scenario(str(EVERY)))
    assert all(q.received > 0 for q in result.connectors)
