"""Arrival streams: Poisson arrivals at a constant rate or an hourly daily profile, plus bursts."""
from __future__ import annotations

import heapq
import math
import random

from .scenario.schema import Traffic

__all__ = ["ArrivalFeed", "MergedFeed"]

_HOUR = 3600.0


class ArrivalFeed:
    """Arrival times of one traffic stream, drawn lazily from its own random stream; `next_time` peeks."""

    __slots__ = ("traffic", "rng", "horizon", "next_time", "_poisson", "_bursts", "_burst_left", "_expo")

    def __init__(self, traffic: Traffic, rng: random.Random, horizon: float) -> None:
        self.traffic = traffic
        self.rng = rng
        self._expo = rng.expovariate
        self.horizon = min(horizon, traffic.end) if traffic.end is not None else horizon
        self._bursts = [(at, n) for at, n in traffic.bursts if at < self.horizon]
        self._burst_left = 0
        self._poisson = self._draw_after(traffic.start)
        self.next_time = math.inf
        self._settle()

    def _draw_after(self, t: float) -> float:
        """Next Poisson arrival after t (non-homogeneous by inversion over the hourly profile)."""
        tr = self.traffic
        if tr.profile is None:
            if tr.rate <= 0:
                return math.inf
            t += self._expo(tr.rate)
            return t if t < self.horizon else math.inf
        need = self._expo(1.0)
        profile = tr.profile
        if not any(profile):
            return math.inf
        while t < self.horizon:
            hour_end = (math.floor(t / _HOUR) + 1) * _HOUR
            rate = profile[int(t // _HOUR) % 24]
            if rate > 0 and t + need / rate < hour_end:
                t += need / rate
                return t if t < self.horizon else math.inf
            need -= rate * (hour_end - t)
            t = hour_end
        return math.inf

    def _settle(self) -> None:
        if self._burst_left == 0 and self._bursts and self._bursts[0][0] <= self._poisson:
            at, n = self._bursts.pop(0)
            self._burst_left = n
            self.next_time = at
            return
        if self._burst_left == 0:
            self.next_time = self._poisson

    def take(self, until: float) -> list[float]:
        """All arrival times up to `until` (inclusive), in order; `next_time` is then the first after it."""
        out: list[float] = []
        tr = self.traffic
        if tr.profile is None and self._burst_left == 0 and tr.rate > 0 and \
                (not self._bursts or self._bursts[0][0] > until):
            # Constant rate, no burst due: the same draws as _draw_after, in a tight loop.
            t, rate, horizon = self._poisson, tr.rate, self.horizon
            rnd, log = self.rng.random, math.log
            append = out.append
            while t <= until:
                append(t)
                t -= log(1.0 - rnd()) / rate
                if t >= horizon:
                    t = math.inf
            self._poisson = t
            self._settle()
            return out
        while self.next_time <= until:
            out.append(self.next_time)
            self.advance()
        return out

    def advance(self) -> None:
        """Moves past the arrival at `next_time`."""
        if self._burst_left:
            self._burst_left -= 1
            if self._burst_left:
                return
        else:
            self._poisson = self._draw_after(self._poisson)
        self._settle()


class MergedFeed:
    """Several streams for one connector in time order; `stream` is the index of the one at `next_time`."""

    def __init__(self, feeds: list[tuple[int, ArrivalFeed]]) -> None:
        self._feeds = feeds
        self._heap = [(f.next_time, i, idx) for i, (idx, f) in enumerate(feeds)]
        heapq.heapify(self._heap)
        self.next_time = self._heap[0][0] if self._heap else math.inf
        self.stream = self._heap[0][2] if self._heap else 0

    def take(self, until: float) -> tuple[list[float], list[int]]:
        """Arrival times up to `until` and the stream of each, in time order."""
        if len(self._feeds) == 1:
            idx, feed = self._feeds[0]
            times = feed.take(until)
            self.next_time = feed.next_time
            return times, [idx] * len(times)
        merged: list[float] = []
        streams: list[int] = []
        while self.next_time <= until:
            merged.append(self.next_time)
            streams.append(self.stream)
            self.advance()
        return merged, streams

    def advance(self) -> None:
        t, i, idx = self._heap[0]
        feed = self._feeds[i][1]
        feed.advance()
        heapq.heapreplace(self._heap, (feed.next_time, i, idx))
        self.next_time, _, self.stream = self._heap[0]
