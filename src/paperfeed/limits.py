"""Rate limits: at most ``limit`` events per key in a fixed window, counted in this process's memory.

Used for logins (per client address and per account) and writes (per user). Each server worker keeps its own
counts, so with N workers a client can reach N times the limit at worst; that still stops password guessing
and comment floods, which is what the limits are for (docs/decisions.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from paperfeed.errors import TooManyRequests


class RateLimiter:
    """Fixed-window counters; ``hit`` raises TooManyRequests once a key is over its limit."""

    def __init__(self, limit: int, window_s: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.what, self.clock = limit, window_s, what, clock
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> None:
        now = self.clock()
        if len(self._counts) > 100_000:  # forget finished windows so memory stays bounded
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window_s}
        started, count = self._counts.get(key, (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        if count >= self.limit:
            wait = max(1, math.ceil(self.window_s - (now - started)))
            raise TooManyRequests(f"too many {self.what}: try again in {wait} s", retry_after=wait)
        self._counts[key] = (started, count + 1)

    def reset(self, key: str) -> None:
        self._counts.pop(key, None)


class FailureBackoff:
    """Per-key failure counts with a doubling wait: after ``free`` failures in a row a key must wait
    ``base_s`` seconds before its next try, then twice that after each further failure (at most ``max_s``).
    A success forgets the key. Used per account for log-ins, beside the per-address RateLimiter, so that
    guessing one reader's password from many addresses slows down exponentially."""

    def __init__(
        self, free: int, what: str, base_s: float = 30.0, max_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.free, self.what, self.base_s, self.max_s, self.clock = free, what, base_s, max_s, clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures in a row, may try again at)

    def check(self, key: str) -> None:
        """TooManyRequests when ``key`` is still waiting after its last failure."""
        _, until = self._failures.get(key, (0, 0.0))
        wait = until - self.clock()
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(f"too many {self.what}: try again in {seconds} s", retry_after=seconds)

    def failed(self, key: str) -> None:
        now = self.clock()
        if len(self._failures) > 100_000:  # keep memory bounded: forget keys whose wait is over
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        count = self._failures.get(key, (0, 0.0))[0] + 1
        over = count - self.free + 1
        until = now + min(self.max_s, self.base_s * 2 ** min(over - 1, 30)) if over > 0 else 0.0
        self._failures[key] = (count, until)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
