"""Rendered pages kept in memory for anonymous readers, for a few seconds.

Feed pages are the same for every reader who is not logged in, and most traffic is such readers; serving
them from memory is what lets one small server take a burst (bench/web_load.py). A write through this
process (a vote, a comment, a submission) empties the cache at once; other workers' caches expire within
``ttl`` seconds, which is the staleness an anonymous reader may see.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable


class PageCache:
    """A bounded LRU of bytes by key, each entry valid for ``ttl`` seconds (0 turns caching off)."""

    def __init__(self, ttl: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[bytes | None]] = {}

    async def through(self, key: str, make: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        """The fresh entry; else one shared run of ``make`` per key (single flight), during which callers get
        the expired entry if there is one (stale while revalidating), so an expiry never stalls a burst.
        ``make`` returning None means "not cacheable" (an error page): callers then make their own."""
        entry = self._entries.get(key)
        if entry is not None and self.clock() - entry[0] < self.ttl:
            return entry[1]
        pending = self._pending.get(key)
        if pending is not None:
            return entry[1] if entry is not None else await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        body: bytes | None = None
        try:
            body = await make()
            if body is not None:
                self.put(key, body)
            return body
        finally:
            future.set_result(body)
            del self._pending[key]

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
