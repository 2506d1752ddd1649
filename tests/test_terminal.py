"""The terminal summary: the timeline wraps to the terminal's width, under its text."""
from __future__ import annotations

import os
import subprocess
import sys

from mfi_sim import load_scenario, simulate
from mfi_sim.output.terminal import summary_text

from helpers import REPO


def test_timeline_wraps_to_the_width_under_its_text() -> None:
    """With a width, no timeline line is longer and continuation lines start under the entry's text."""
    result = simulate(load_scenario("connection-refused"))
    text = summary_text(result, 80)
    timeline = text.split("Timeline\n", 1)[1].splitlines()
    assert all(len(line) <= 80 for line in timeline)
    continued = [line for line in timeline if line.startswith(" " * 22)]
    assert continued, "a long entry must wrap"
    flat = summary_text(result).split("Timeline\n", 1)[1].splitlines()
    assert len(flat) == len(result.timeline) < len(timeline)
    assert " ".join(" ".join(timeline).split()) == " ".join(" ".join(flat).split()), "wrapping loses no word"


def test_cli_wraps_to_columns_and_not_in_a_pipe() -> None:
    """`run` wraps to $COLUMNS; with no COLUMNS and output to a pipe, one line per entry."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    cmd = [sys.executable, "-m", "mfi_sim", "run", "connection-refused"]
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120).stdout
    narrow = subprocess.run(cmd, capture_output=True, text=True, env={**env, "COLUMNS": "70"}, cwd=REPO,
                            timeout=120).stdout
    assert max(len(line) for line in piped.split("Timeline\n", 1)[1].splitlines()) > 120
    assert max(len(line) for line in narrow.split("Timeline\n", 1)[1].splitlines()) <= 70
