"""A connector queue's retry state: Ready / Active / Retry / Suspended, the retry schedule and its history.

A connection-level failure does not stop the queue at once: it becomes *pending* at the instant the failed
attempt ends, and takes effect (`enter`) when the queue's loop reaches that instant. From then on the whole
queue waits until `retry_at` (SPEC 1.2), with the delay from the tenant's retry policy. The state also keeps
what Get-Queue shows: the consecutive failures, the first and last retry and the last error.
"""
from __future__ import annotations

import math
from bisect import bisect_left

from .attempt import Outcome
from .retry import RetryPolicy

__all__ = ["RetryState", "READY", "ACTIVE", "RETRY", "SUSPENDED"]

#: Get-Queue status values.
READY, ACTIVE, RETRY, SUSPENDED = "Ready", "Active", "Retry", "Suspended"
INF = math.inf


class RetryState:
    """Whether a queue is in Retry, until when, and the failures that put it there."""

    __slots__ = ("policy", "retry_at", "pending_fail", "pending_outcome", "failures", "first_retry",
                 "last_retry", "last", "last_error_time", "retries", "history", "_history_times")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.retry_at: float | None = None      # in Retry until then
        self.pending_fail = INF                 # a failed attempt puts the queue into Retry at this time
        self.pending_outcome: Outcome | None = None
        self.failures = 0                       # consecutive connection-level failures (queue retries)
        self.first_retry: float | None = None
        self.last_retry: float | None = None
        self.last: Outcome | None = None        # the last error, as Get-Queue shows it
        self.last_error_time: float | None = None
        self.retries = 0                        # every time the queue entered Retry, since the start
        self.history: list[tuple[float, str, str]] = []   # (time, server, reply) of each failed retry
        self._history_times: list[float] = []

    def waiting(self, now: float) -> bool:
        """In Retry at `now` (the next retry is still ahead)."""
        return self.retry_at is not None and now < self.retry_at

    def failing(self) -> bool:
        """A connection-level failure is in force: in Retry, about to enter it, or not yet recovered."""
        return self.failures > 0 or self.pending_fail < INF or self.retry_at is not None

    def error(self, outcome: Outcome, t: float) -> None:
        """The queue's last error is now `outcome`, seen at `t`."""
        self.last = outcome
        self.last_error_time = t

    def connection_failed(self, outcome: Outcome, end: float) -> None:
        """A connection-level failure ended at `end`: the queue goes into Retry at the earliest such end."""
        self.last = outcome
        self.last_error_time = end
        if end < self.pending_fail:
            self.pending_fail = end
            self.pending_outcome = outcome

    def take_pending(self) -> tuple[float, Outcome]:
        """The pending failure that now takes effect (the caller plays the queue up to its time first)."""
        t, outcome = self.pending_fail, self.pending_outcome
        assert outcome is not None
        self.pending_fail = INF
        self.pending_outcome = None
        return t, outcome

    def enter(self, t: float, outcome: Outcome) -> bool:
        """The queue goes into Retry at `t` after `outcome`; True if this is the first failure in a row."""
        self.history.append((t, outcome.server_name or "", outcome.last_error or outcome.detail))
        self._history_times.append(t)
        if self.failures == 0:
            self.first_retry = t
        self.failures += 1
        self.retries += 1
        first = self.first_retry if self.first_retry is not None else t
        self.retry_at = t + self.policy.next_delay(self.failures, t - first)
        return self.failures == 1

    def attempts_since(self, t: float) -> tuple[tuple[float, str, str], ...]:
        """The failed retries from `t` on (what a message that arrived at `t` lived through), oldest first."""
        return tuple(self.history[bisect_left(self._history_times, t):])

    def retried(self) -> None:
        """The retry time came: the queue may try again."""
        self.last_retry = self.retry_at

    def recovered(self) -> int:
        """A connection worked again: the failures in a row end (their count is returned)."""
        failures = self.failures
        self.failures = 0
        self.first_retry = None
        return failures

    def reset(self) -> None:
        """No retry is pending or scheduled any more (the queue stops trying: Fix now)."""
        self.retry_at = None
        self.pending_fail = INF
        self.pending_outcome = None

    def next_retry(self, t: float) -> float | None:
        """The next retry after `t`, if the queue is waiting for one."""
        return self.retry_at if self.retry_at is not None and self.retry_at > t else None
