"""The anonymous page cache: expiry, invalidation, single flight and stale-while-revalidate."""

from __future__ import annotations

import asyncio

from paperfeed.pagecache import PageCache


def test_entries_expire_and_writes_invalidate() -> None:
    now = [0.0]
    cache = PageCache(10, max_entries=2, clock=lambda: now[0])
    cache.put("a", b"A")
    assert cache.get("a") == b"A"
    now[0] = 10.0
    assert cache.get("a") is None
    cache.put("a", b"A")
    cache.put("b", b"B")
    cache.put("c", b"C")  # over the bound: the least recently used goes
    assert (cache.get("a"), cache.get("c")) == (None, b"C")
    cache.invalidate()
    assert cache.get("c") is None
    off = PageCache(0)
    off.put("a", b"A")
    assert off.get("a") is None


def test_one_computation_serves_a_burst_and_stale_entries_bridge_a_refresh() -> None:
    now = [0.0]
    cache = PageCache(10, clock=lambda: now[0])
    runs: list[int] = []

    async def make() -> bytes:
        runs.append(1)
        await asyncio.sleep(0.01)
        return f"v{len(runs)}".encode()

    async def burst() -> list[bytes | None]:
        return list(await asyncio.gather(*(cache.through("k", make) for _ in range(20))))

    assert asyncio.run(burst()) == [b"v1"] * 20
    assert len(runs) == 1
    now[0] = 11.0  # expired: one caller refreshes, the others get the old page meanwhile
    answers = asyncio.run(burst())
    assert len(runs) == 2
    assert answers.count(b"v2") == 1 and answers.count(b"v1") == 19
    assert cache.get("k") == b"v2"


def test_uncacheable_answers_are_not_kept() -> None:
    cache = PageCache(10)

    async def fail() -> bytes | None:
        return None

    assert asyncio.run(cache.through("k", fail)) is None
    assert cache.get("k") is None
