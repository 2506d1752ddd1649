"""Durations, rates, sizes and instants as scenario files write them."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfi_sim.units import format_duration, iso_at, parse_duration, parse_instant, parse_rate, parse_size


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("90s", 90), ("5m", 300), ("1h30m", 5400),
                                          ("2d", 172800), ("1.5h", 5400), ("1d2h3m4s", 93784)])
def test_durations(text: str, seconds: float) -> None:
    """Every unit and combination of units reads as the right number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "h", "5x", "1h 30", "-5m", "5m3", 5])
def test_bad_durations(text: object) -> None:
    """Malformed durations are refused with ValueError."""
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


def test_rates_and_sizes() -> None:
    """Rates come out per second; sizes in bytes with 1 KB = 1024 B."""
    assert parse_rate("600/h") == pytest.approx(600 / 3600)
    assert parse_rate("100/s") == 100
    assert parse_rate("1440/d") == pytest.approx(1 / 60)
    assert parse_size("60KB") == 61440
    assert parse_size("2MB") == 2 * 1024 * 1024
    for bad in ("600", "600/y", "/h"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ValueError):
        parse_size("60 kilobytes")


def test_instants() -> None:
    """ISO-8601 instants need an offset; iso_at renders UTC with milliseconds and Z."""
    start = parse_instant("2026-03-02T08:00:00Z")
    assert iso_at(start, 3600.25) == "2026-03-02T09:00:00.250Z"
    assert parse_instant("2026-03-02T09:00:00+01:00") == start
    with pytest.raises(ValueError):
        parse_instant("2026-03-02T08:00:00")


@given(st.integers(min_value=1, max_value=10 * 86400))
def test_format_round_trips(seconds: int) -> None:
    """format_duration writes a duration parse_duration reads back exactly."""
    assert parse_duration(format_duration(seconds)) == seconds
