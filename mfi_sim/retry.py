"""Retry policies: how long a failed connector queue, or a deferred message, waits before trying again.

A policy is a small pure object: given how many consecutive failures there have been and how old the
failing item is, it names the wait before the next attempt. It holds no state, reads no clock and draws
no random numbers, so the engine can ask it anything at any time and the answer is always the same.

Policies are picked by name from `PRESETS` (or built from a list of durations) with `get_policy`; each
preset also implies a message lifetime and a delay-notification setting, see `preset_defaults`.
"""
from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mfi_sim.units import parse_duration

__all__ = [
    "RetryPolicy", "PresetDefaults", "IntervalSchedule", "ClampedAgeBackoff", "EximRule", "EximRules",
    "PRESETS", "DEFAULT_PRESET", "get_policy", "preset_defaults", "schedule",
    "exchange_online", "exchange_server", "postfix", "exim",
]

_MINUTE = 60.0
_HOUR = 3600.0
_DAY = 86400.0


@runtime_checkable
class RetryPolicy(Protocol):
    """Decides the wait before the next attempt after a run of consecutive failures."""

    @property
    def name(self) -> str:
        """The name the policy is known by (a preset name, or `custom:...`)."""
        ...

    def next_delay(self, failures: int, age: float) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based), `age` seconds into the
        failing item's life (from the first failure of the run for a queue, from arrival for a message;
        the caller decides). Always positive and finite."""
        ...


@dataclass(frozen=True)
class PresetDefaults:
    """What a preset implies besides its intervals: message lifetime and delay notification, in seconds."""

    expiration: float
    delay_notification: float | None  # None: no delay notification is sent


def _check_arguments(failures: int, age: float) -> None:
    if failures < 1:
        raise ValueError(f"failures counts from 1, got {failures}")
    if not age >= 0:  # also rejects NaN
        raise ValueError(f"age must be >= 0 seconds, got {age}")


@dataclass(frozen=True)
class IntervalSchedule:
    """A fixed list of waits, one per consecutive failure; the last one repeats for ever. Ignores age."""

    name: str
    intervals: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.intervals:
            raise ValueError(f"retry policy {self.name!r} needs at least one interval")
        for interval in self.intervals:
            if not (interval > 0 and math.isfinite(interval)):
                raise ValueError(f"retry policy {self.name!r}: intervals must be positive, got {interval}")

    def next_delay(self, failures: int, age: float) -> float:
        _check_arguments(failures, age)
        return self.intervals[min(failures, len(self.intervals)) - 1]


@dataclass(frozen=True)
class ClampedAgeBackoff:
    """Wait as long as the item is old, but never less than `minimum` nor more than `maximum` seconds."""

    name: str
    minimum: float
    maximum: float

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.maximum < math.inf:
            raise ValueError(f"retry policy {self.name!r}: need 0 < minimum <= maximum < inf, "
                             f"got {self.minimum}, {self.maximum}")

    def next_delay(self, failures: int, age: float) -> float:
        _check_arguments(failures, age)
        return min(max(age, self.minimum), self.maximum)


@dataclass(frozen=True)
class EximRule:
    """One Exim retry rule: applies while the age since the first failure is below `cutoff`.

    `factor` is None for a fixed rule (`F,cutoff,interval`): every wait is `interval`. Otherwise the rule
    is geometric (`G,cutoff,interval,factor`): the first wait is `interval` and each later one is the
    previous wait times `factor`.
    """

    cutoff: float
    interval: float
    factor: float | None = None


@dataclass(frozen=True)
class EximRules:
    """Exim-style retry rules, tried in order; the first whose cutoff is above the age decides.

    The rules are a pure function of age. A geometric rule counts its waits from the moment the rule
    takes over (the previous rule's cutoff, or 0): the k-th geometric wait covers the ages from the
    phase start plus the k earlier waits, so a caller that retries on time sees interval, interval *
    factor, interval * factor**2, ... as in Exim, where each geometric wait grows from the previous one.
    Exim gives up once the age passes the last cutoff; here the message lifetime does that, so past the
    last cutoff the wait the last rule had reached at its cutoff goes on repeating.
    """

    name: str
    rules: tuple[EximRule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError(f"retry policy {self.name!r} needs at least one rule")
        previous = 0.0
        for rule in self.rules:
            if not (previous < rule.cutoff < math.inf):
                raise ValueError(f"retry policy {self.name!r}: cutoffs must grow and be finite")
            if not (0 < rule.interval < math.inf):
                raise ValueError(f"retry policy {self.name!r}: intervals must be positive")
            if rule.factor is not None and not (1 <= rule.factor < math.inf):
                raise ValueError(f"retry policy {self.name!r}: a geometric factor must be >= 1")
            previous = rule.cutoff

    def next_delay(self, failures: int, age: float) -> float:
        _check_arguments(failures, age)
        phase_start = 0.0
        for rule in self.rules:
            if age < rule.cutoff:
                return self._wait(rule, age - phase_start, rule.cutoff - phase_start)
            phase_start = rule.cutoff
        last = self.rules[-1]
        start_of_last = self.rules[-2].cutoff if len(self.rules) > 1 else 0.0
        return self._wait(last, last.cutoff - start_of_last, last.cutoff - start_of_last)

    @staticmethod
    def _wait(rule: EximRule, into_phase: float, phase_length: float) -> float:
        """The wait a rule gives `into_phase` seconds after it took over (at most `phase_length`).

        Steps once per geometric wait already taken in the phase: six for the exim preset.
        """
        if rule.factor is None:
            return rule.interval
        wait = rule.interval
        waited = wait  # end of the window in which `wait` applies
        while waited <= into_phase and waited < phase_length:
            wait *= rule.factor
            waited += wait
        return wait


def _exim_rules(name: str, text: str) -> EximRules:
    """Rules written as Exim writes them, e.g. "F,2h,15m; G,16h,1h,1.5; F,4d,6h"."""
    rules: list[EximRule] = []
    for part in text.split(";"):
        fields = [field.strip() for field in part.split(",")]
        kind = fields[0].upper()
        if kind == "F" and len(fields) == 3:
            rules.append(EximRule(parse_duration(fields[1]), parse_duration(fields[2])))
        elif kind == "G" and len(fields) == 4:
            rules.append(EximRule(parse_duration(fields[1]), parse_duration(fields[2]), float(fields[3])))
        else:
            raise ValueError(f"bad Exim retry rule {part.strip()!r} (use F,cutoff,interval or "
                             f"G,cutoff,interval,factor)")
    return EximRules(name, tuple(rules))


def exchange_online() -> tuple[IntervalSchedule, PresetDefaults]:
    """Exchange Online / EOP, the default.

    Microsoft's FAQ on queued and deferred mail in EOP says the service retries a deferred message within
    about 15 minutes at first and then waits longer between attempts, reaching an hour after roughly six
    retries. The list below is our reading of that: 5m, 5m, 10m, 15m, 15m, 20m, 30m, 40m, 50m, then 60m
    for ever. The service keeps messages for 24 hours (Set-TransportConfig -MessageExpiration); the delay
    notification goes out after 4 hours, the Exchange Server default.
    """
    intervals = tuple(m * _MINUTE for m in (5, 5, 10, 15, 15, 20, 30, 40, 50, 60))
    return IntervalSchedule("exchange-online", intervals), PresetDefaults(24 * _HOUR, 4 * _HOUR)


def exchange_server() -> tuple[IntervalSchedule, PresetDefaults]:
    """Exchange Server (on-premises) transport.

    A failed connection is first retried as a "glitch" 4 times, a minute apart; then come 6 transient
    retries 5 minutes apart; after that the queue waits the outbound connection failure retry interval,
    10 minutes, each time. Messages expire after 2 days and the delay DSN goes out after 4 hours (the
    transport server's default settings).
    """
    intervals = (1 * _MINUTE,) * 4 + (5 * _MINUTE,) * 6 + (10 * _MINUTE,)
    return IntervalSchedule("exchange-server", intervals), PresetDefaults(2 * _DAY, 4 * _HOUR)


def postfix() -> tuple[ClampedAgeBackoff, PresetDefaults]:
    """Postfix queue manager.

    Postfix waits about as long as a deferred message has already been in the queue, so the backoff
    roughly doubles with each attempt, held between minimal_backoff_time (300 s) and maximal_backoff_time
    (4000 s). A message is returned after maximal_queue_lifetime (5 days); delay_warning_time defaults to
    0, which means no delay warning is sent.
    """
    return ClampedAgeBackoff("postfix", 300.0, 4000.0), PresetDefaults(5 * _DAY, None)


def exim() -> tuple[EximRules, PresetDefaults]:
    """Exim's default retry rule, `F,2h,15m; G,16h,1h,1.5; F,4d,6h`.

    For the first 2 hours after the first failure, try every 15 minutes; until 16 hours, wait 1 hour and
    then half as long again each time; from then until 4 days, every 6 hours. At 4 days Exim gives up,
    which is the lifetime implied here. Delay notification is off in this preset (Exim's own
    delay_warning option would warn after a day; set `delay_notification` to compare with that).
    """
    return _exim_rules("exim", "F,2h,15m; G,16h,1h,1.5; F,4d,6h"), PresetDefaults(4 * _DAY, None)


DEFAULT_PRESET = "exchange-online"

PRESETS: Mapping[str, tuple[RetryPolicy, PresetDefaults]] = types.MappingProxyType({
    "exchange-online": exchange_online(),
    "exchange-server": exchange_server(),
    "postfix": postfix(),
    "exim": exim(),
})

# A custom list of intervals keeps messages as long as the service does by default.
_CUSTOM_DEFAULTS = PresetDefaults(24 * _HOUR, 4 * _HOUR)


def get_policy(spec: str | Sequence[str]) -> RetryPolicy:
    """The policy named by `spec`: a preset name, or a list of durations (the last one repeats).

    Raises ValueError, with a one-line message, for an unknown name, an empty list, or a duration that is
    malformed or not positive.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in PRESETS:
            known = ", ".join(sorted(PRESETS))
            raise ValueError(f"unknown retry policy {spec!r} (known: {known}; or a list of durations)")
        return PRESETS[key][0]
    if not isinstance(spec, Sequence):
        raise ValueError(f"retry must be a preset name or a list of durations, got {spec!r}")
    if len(spec) == 0:
        raise ValueError("retry: the list of durations is empty (give at least one, e.g. ['5m'])")
    intervals: list[float] = []
    for position, text in enumerate(spec, start=1):
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            raise ValueError(f"retry: duration {position}: {error}") from None
        if not seconds > 0:
            raise ValueError(f"retry: duration {position} ({text!r}) must be longer than zero")
        intervals.append(seconds)
    name = "custom:" + ",".join(text.strip() for text in spec)
    return IntervalSchedule(name, tuple(intervals))


def preset_defaults(spec: str | Sequence[str]) -> PresetDefaults:
    """Expiration and delay notification implied by `spec`; a custom list implies 24h and 4h.

    Raises the same errors as `get_policy`.
    """
    policy = get_policy(spec)
    if isinstance(spec, str):
        return PRESETS[policy.name][1]
    return _CUSTOM_DEFAULTS


def schedule(policy: RetryPolicy, count: int, start_age: float = 0.0) -> list[float]:
    """The first `count` waits of `policy` for an item that fails every time, starting `start_age`
    seconds old; the age advances by each wait."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    delays: list[float] = []
    age = start_age
    for failures in range(1, count + 1):
        delay = policy.next_delay(failures, age)
        delays.append(delay)
        age += delay
    return delays
