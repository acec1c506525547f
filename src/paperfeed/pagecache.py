"""Rendered pages kept in memory for anonymous readers, for a few seconds.

Feed pages are the same for every reader who is not logged in, and most traffic is such readers; serving
them from memory is what lets one small server take a burst (bench/web_load.py). A write through this
process (a vote, a comment, a submission) empties the cache at once; other workers' caches expire within
``ttl`` seconds, which is the staleness an anonymous reader may see.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class PageCache:
    """A bounded LRU of bytes by key, each entry valid for ``ttl`` seconds (0 turns caching off)."""

    def __init__(self, ttl: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self.clock() - found[0] >= self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: str, value: bytes) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        self._entries.clear()
