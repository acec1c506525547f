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
