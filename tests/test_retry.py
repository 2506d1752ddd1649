"""Retry policies and presets (mfi_sim/retry.py)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfi_sim.retry import (
    DEFAULT_PRESET, PRESETS, ClampedAgeBackoff, EximRules, IntervalSchedule, PresetDefaults, RetryPolicy,
    get_policy, preset_defaults, schedule,
)

M = 60.0
H = 3600.0
D = 86400.0


# --- exchange-online -------------------------------------------------------------------------------

def test_exchange_online_is_the_default_preset() -> None:
    """The default preset is exchange-online."""
    assert DEFAULT_PRESET == "exchange-online"
    assert get_policy(DEFAULT_PRESET).name == "exchange-online"


def test_exchange_online_exact_sequence_and_cap() -> None:
    """exchange-online waits 5,5,10,15,15,20,30,40,50 minutes, then 60 minutes for ever."""
    policy = get_policy("exchange-online")
    expected = [5, 5, 10, 15, 15, 20, 30, 40, 50, 60, 60, 60]
    assert schedule(policy, len(expected)) == [m * M for m in expected]
    assert policy.next_delay(1000, 23 * H) == 60 * M


def test_exchange_online_matches_the_faq_shape() -> None:
    """exchange-online's first retries are 15 minutes or less and the 60-minute cap comes after about six."""
    delays = schedule(get_policy("exchange-online"), 20)
    assert all(d <= 15 * M for d in delays[:3])
    assert max(delays) == 60 * M
    assert 5 <= delays.index(60 * M) <= 10


def test_exchange_online_ignores_age() -> None:
    """exchange-online depends only on the failure count, not on age."""
    policy = get_policy("exchange-online")
    assert policy.next_delay(3, 0.0) == policy.next_delay(3, 20 * H) == 10 * M


def test_exchange_online_defaults() -> None:
    """exchange-online implies a 24h expiration and a 4h delay notification."""
    assert preset_defaults("exchange-online") == PresetDefaults(24 * H, 4 * H)


# --- exchange-server -------------------------------------------------------------------------------

def test_exchange_server_sequence() -> None:
    """exchange-server waits 4 x 1 minute, then 6 x 5 minutes, then 10 minutes for ever."""
    policy = get_policy("exchange-server")
    assert schedule(policy, 14) == [1 * M] * 4 + [5 * M] * 6 + [10 * M] * 4
    assert policy.next_delay(500, 40 * H) == 10 * M


def test_exchange_server_defaults() -> None:
    """exchange-server implies a 2-day expiration and a 4h delay DSN."""
    assert preset_defaults("exchange-server") == PresetDefaults(2 * D, 4 * H)


# --- postfix -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("age", "delay"), [
    (0.0, 300.0), (1.0, 300.0), (299.9, 300.0), (300.0, 300.0),  # held at minimal_backoff_time
    (301.0, 301.0), (1234.5, 1234.5), (3999.0, 3999.0),         # in between: as old as the message
    (4000.0, 4000.0), (4001.0, 4000.0), (5 * D, 4000.0),         # held at maximal_backoff_time
])
def test_postfix_clamps_age(age: float, delay: float) -> None:
    """postfix waits clamp(age, 300 s, 4000 s)."""
    assert get_policy("postfix").next_delay(1, age) == delay


def test_postfix_ignores_failure_count() -> None:
    """postfix depends only on age, not on the failure count."""
    policy = get_policy("postfix")
    assert policy.next_delay(1, 1000.0) == policy.next_delay(50, 1000.0) == 1000.0


def test_postfix_schedule_doubles_then_caps() -> None:
    """Retrying on time, postfix waits 300, 300, 600, 1200, 2400, then 4000 s."""
    assert schedule(get_policy("postfix"), 7) == [300.0, 300.0, 600.0, 1200.0, 2400.0, 4000.0, 4000.0]


def test_postfix_defaults() -> None:
    """postfix implies a 5-day lifetime and no delay warning."""
    assert preset_defaults("postfix") == PresetDefaults(5 * D, None)


# --- exim ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("age", [0.0, 1.0, 15 * M, 1 * H, 2 * H - 1])
def test_exim_first_phase_is_fixed_15_minutes(age: float) -> None:
    """exim waits 15 minutes while less than 2h have passed since the first failure."""
    assert get_policy("exim").next_delay(1, age) == 15 * M


@pytest.mark.parametrize(("age", "delay"), [
    (2 * H, 1 * H), (2.5 * H, 1 * H),                 # first geometric wait: 1h
    (3 * H, 1.5 * H), (4.4 * H, 1.5 * H),             # then 1h * 1.5
    (4.5 * H, 2.25 * H), (6.75 * H, 3.375 * H),       # then * 1.5 again each time
    (10.125 * H, 5.0625 * H), (15.1875 * H, 7.59375 * H), (16 * H - 1, 7.59375 * H),
])
def test_exim_second_phase_is_geometric(age: float, delay: float) -> None:
    """exim grows from 1h by a factor of 1.5 per wait between 2h and 16h after the first failure."""
    assert get_policy("exim").next_delay(9, age) == pytest.approx(delay)


@pytest.mark.parametrize("age", [16 * H, 20 * H, 3 * D, 4 * D - 1, 4 * D, 10 * D])
def test_exim_third_phase_is_fixed_6_hours(age: float) -> None:
    """exim waits 6 hours from 16h after the first failure, and keeps doing so past 4 days."""
    assert get_policy("exim").next_delay(20, age) == 6 * H


def test_exim_schedule_on_time() -> None:
    """Retrying on time, exim gives 8 x 15m, then 1h, 1.5h, 2.25h, ... until 16h, then 6h."""
    delays = schedule(get_policy("exim"), 16)
    assert delays[:8] == [15 * M] * 8
    assert delays[8:14] == pytest.approx([H * 1.5 ** k for k in range(6)])
    assert delays[14:] == [6 * H, 6 * H]


def test_exim_defaults() -> None:
    """exim implies a 4-day expiration and no delay notification."""
    assert preset_defaults("exim") == PresetDefaults(4 * D, None)


# --- custom lists --------------------------------------------------------------------------------

def test_custom_list_repeats_its_last_value() -> None:
    """A custom list gives its intervals in order, then repeats the last one."""
    policy = get_policy(["1m", "5m", "30m"])
    assert schedule(policy, 6) == [1 * M, 5 * M, 30 * M, 30 * M, 30 * M, 30 * M]
    assert policy.next_delay(10_000, 0.0) == 30 * M


def test_custom_list_accepts_compound_durations_and_tuples() -> None:
    """A custom list takes any duration form units.parse_duration accepts, in a list or a tuple."""
    assert schedule(get_policy(("1h30m", "250ms")), 3) == [5400.0, 0.25, 0.25]


def test_custom_list_single_value() -> None:
    """A one-element custom list always waits that long."""
    assert schedule(get_policy(["7m"]), 3) == [7 * M] * 3


def test_custom_list_name_shows_the_intervals() -> None:
    """A custom policy is named after its intervals, so sweep output tells them apart."""
    assert get_policy(["1m", " 5m"]).name == "custom:1m,5m"


def test_custom_defaults() -> None:
    """A custom list implies a 24h expiration and a 4h delay notification."""
    assert preset_defaults(["1m", "5m"]) == PresetDefaults(24 * H, 4 * H)


# --- the registry and errors ---------------------------------------------------------------------

def test_presets_registry() -> None:
    """The registry holds the four presets, each a RetryPolicy under its own name, and is read-only."""
    assert sorted(PRESETS) == ["exchange-online", "exchange-server", "exim", "postfix"]
    for name, (policy, defaults) in PRESETS.items():
        assert isinstance(policy, RetryPolicy)
        assert policy.name == name
        assert get_policy(name) is policy
        assert preset_defaults(name) is defaults
    with pytest.raises(TypeError):
        PRESETS["mine"] = PRESETS["postfix"]  # type: ignore[index]


def test_preset_names_ignore_case_and_spaces() -> None:
    """Preset names are matched without regard to case or surrounding spaces."""
    assert get_policy(" Exchange-Online ") is get_policy("exchange-online")
    assert preset_defaults("POSTFIX") == preset_defaults("postfix")


def test_unknown_name_lists_known_ones() -> None:
    """An unknown preset name is a one-line ValueError listing the known presets."""
    with pytest.raises(ValueError) as caught:
        get_policy("sendmail")
    message = str(caught.value)
    assert "\n" not in message and "sendmail" in message
    for name in PRESETS:
        assert name in message
    with pytest.raises(ValueError, match="sendmail"):
        preset_defaults("sendmail")


def test_empty_list_is_an_error() -> None:
    """An empty list of durations is a one-line ValueError."""
    with pytest.raises(ValueError, match="empty") as caught:
        get_policy([])
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="empty"):
        preset_defaults([])


@pytest.mark.parametrize("bad", ["5x", "", "five minutes", "-5m", "1h-", "m"])
def test_malformed_duration_is_an_error(bad: str) -> None:
    """A malformed duration in a custom list is a one-line ValueError naming its position."""
    with pytest.raises(ValueError, match="duration 2") as caught:
        get_policy(["1m", bad, "5m"])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("zero", ["0s", "0m", "0ms", "0h0m"])
def test_non_positive_duration_is_an_error(zero: str) -> None:
    """A zero-length interval in a custom list is a ValueError."""
    with pytest.raises(ValueError, match="longer than zero"):
        get_policy(["1m", zero])


@pytest.mark.parametrize("bad", [[5, 10], [None], 300, {"a": "5m"}])
def test_non_string_specs_are_errors(bad: object) -> None:
    """Numbers, nulls and tables are not retry specs: a ValueError, not a crash."""
    with pytest.raises(ValueError):
        get_policy(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("failures", "age"), [(0, 0.0), (-1, 0.0), (1, -1.0), (1, math.nan)])
def test_bad_arguments_are_rejected(failures: int, age: float) -> None:
    """Every policy rejects failures < 1 and a negative or NaN age (those are caller bugs)."""
    for policy, _ in PRESETS.values():
        with pytest.raises(ValueError):
            policy.next_delay(failures, age)


def test_policy_objects_validate_themselves() -> None:
    """Policy objects built directly refuse empty or non-positive settings."""
    with pytest.raises(ValueError):
        IntervalSchedule("x", ())
    with pytest.raises(ValueError):
        IntervalSchedule("x", (60.0, 0.0))
    with pytest.raises(ValueError):
        ClampedAgeBackoff("x", 0.0, 10.0)
    with pytest.raises(ValueError):
        ClampedAgeBackoff("x", 20.0, 10.0)
    with pytest.raises(ValueError):
        EximRules("x", ())


# --- schedule helper -----------------------------------------------------------------------------

def test_schedule_counts_and_start_age() -> None:
    """schedule gives `count` waits and starts at `start_age`; zero gives an empty list."""
    postfix = get_policy("postfix")
    assert schedule(postfix, 0) == []
    assert schedule(postfix, 2, start_age=1000.0) == [1000.0, 2000.0]
    assert schedule(get_policy("exim"), 1, start_age=17 * H) == [6 * H]
    with pytest.raises(ValueError):
        schedule(postfix, -1)


# --- properties ----------------------------------------------------------------------------------

duration_texts = st.integers(min_value=1, max_value=10_000).map(lambda n: f"{n}s")
any_policy = st.one_of(
    st.sampled_from(sorted(PRESETS)).map(get_policy),
    st.lists(duration_texts, min_size=1, max_size=12).map(get_policy),
)
failure_counts = st.integers(min_value=1, max_value=10**9)
ages = st.floats(min_value=0.0, allow_nan=False, allow_infinity=True)


@given(any_policy, failure_counts, ages)
def test_every_delay_is_positive_and_finite(policy: RetryPolicy, failures: int, age: float) -> None:
    """Every policy returns a positive, finite wait for any failures >= 1 and age >= 0."""
    delay = policy.next_delay(failures, age)
    assert delay > 0 and math.isfinite(delay)


@given(any_policy, failure_counts, ages)
def test_policies_are_pure(policy: RetryPolicy, failures: int, age: float) -> None:
    """Asking a policy the same question twice gives the same answer."""
    assert policy.next_delay(failures, age) == policy.next_delay(failures, age)


@given(failure_counts, ages)
def test_exchange_online_never_decreases(failures: int, age: float) -> None:
    """exchange-online waits never shrink as failures grow, and stay between 5 and 60 minutes."""
    policy = get_policy("exchange-online")
    now, later = policy.next_delay(failures, age), policy.next_delay(failures + 1, age)
    assert 5 * M <= now <= later <= 60 * M


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12), failure_counts)
def test_sorted_custom_list_never_decreases(seconds: list[int], failures: int) -> None:
    """A custom list given in non-decreasing order never waits less after more failures."""
    policy = get_policy([f"{n}s" for n in sorted(seconds)])
    assert policy.next_delay(failures, 0.0) <= policy.next_delay(failures + 1, 0.0)
    assert policy.next_delay(failures, 0.0) <= max(seconds)


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12), failure_counts)
def test_custom_list_follows_its_values(seconds: list[int], failures: int) -> None:
    """A custom list gives its n-th value at the n-th failure and its last one after that."""
    policy = get_policy([f"{n}s" for n in seconds])
    assert policy.next_delay(failures, 0.0) == float(seconds[min(failures, len(seconds)) - 1])


@given(ages, ages)
def test_postfix_never_decreases_with_age(a: float, b: float) -> None:
    """postfix waits never shrink as the failing item gets older."""
    young, old = sorted((a, b))
    policy = get_policy("postfix")
    assert policy.next_delay(1, young) <= policy.next_delay(1, old)


def test_exim_drops_back_to_6_hours_after_the_geometric_phase() -> None:
    """exim is not monotonic in age: the last geometric wait (about 7.6h) is longer than the 6h after it."""
    policy = get_policy("exim")
    assert policy.next_delay(1, 16 * H - 1) > policy.next_delay(1, 16 * H) == 6 * H
