"""The keyword index cut into shards searched in parallel threads, for an instance of millions of papers.

tantivy searches one index's segments one after the other on one thread, and releases the GIL while it does, so
N shards (paper key modulo N, each a :class:`KeywordIndex` of its own) searched by N threads can answer in as little
as an N-th of the time where there are cores to spare. Over bench/scale.py's 2.7M papers on two cores, keyword mode's
p99 went from 25.0 to 20.6 ms with two shards (bench/keyword_scale.py). Each shard scores with its own statistics
(document frequencies and lengths of a random half are those of the whole, within noise, as in a search cluster
that does not share term statistics), decides on its own which words are too common to rank, and counts or
estimates its own total.

``PAPERFEED_KEYWORD_SHARDS`` (default 1: one index, no threads) sets N; a new N builds new shards in a folder of
their own on the next sync.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

from paperfeed.search.keyword import Hit, KeywordIndex, Snippet, Total
from paperfeed.search.query import ParsedQuery
from paperfeed.store import Store

T = TypeVar("T")


class KeywordSearch(Protocol):
    """What the rest of paperfeed asks of a keyword index: one :class:`KeywordIndex` or its shards."""

    def pending(self, store: Store) -> bool: ...
    def sync(self, store: Store) -> int: ...
    def search(
        self, q: ParsedQuery, limit: int, *, within: Sequence[int] | None = None, count: bool = True
    ) -> tuple[list[Hit], int]: ...
    def search_with_total(self, q: ParsedQuery, limit: int) -> tuple[list[Hit], Total]: ...
    def matching_keys(self, q: ParsedQuery, limit: int, within: Sequence[int] | None = None) -> list[int]: ...
    def count_matching(self, q: ParsedQuery) -> int: ...
    def size(self) -> int: ...
    def document_frequency(self, words: Sequence[str]) -> dict[str, int]: ...
    def snippets(self, q: ParsedQuery, keys: Sequence[int]) -> dict[int, tuple[Snippet, Snippet]]: ...
    def segments(self) -> int: ...
    def close(self) -> None: ...


def keyword_index(folder: Path, shards: int = 1) -> KeywordSearch:
    """The keyword index under ``folder``: one index in ``folder/keyword``, or ``shards`` of them in
    ``folder/keyword-shards-N``."""
    if shards == 1:
        return KeywordIndex(folder / "keyword")
    return ShardedKeywordIndex(folder / f"keyword-shards-{shards}", shards)


class ShardedKeywordIndex:
    """N keyword indexes, a paper in the one its key modulo N names, searched at once. Thread-safe as each
    shard is."""

    def __init__(self, folder: Path, shards: int) -> None:
        self.shards = [KeywordIndex(folder / str(i), part=(i, shards)) for i in range(shards)]
        self._pool = ThreadPoolExecutor(max_workers=shards, thread_name_prefix="paperfeed-keyword")

    def close(self) -> None:
        """Stop the search threads (searches in flight finish)."""
        self._pool.shutdown(wait=False)

    def _each(self, work: Callable[[KeywordIndex], T]) -> list[T]:
        return list(self._pool.map(work, self.shards))

    def pending(self, store: Store) -> bool:
        return any(shard.pending(store) for shard in self.shards)

    def sync(self, store: Store) -> int:
        """Bring every shard up to date, one after the other in this thread (each reads the change feed and keeps
        its own papers), so that a long first build never holds the threads searches run on."""
        return sum(shard.sync(store) for shard in self.shards)

    def search(
        self, q: ParsedQuery, limit: int, *, within: Sequence[int] | None = None, count: bool = True
    ) -> tuple[list[Hit], int]:
        """As :meth:`KeywordIndex.search`, over every shard: the best ``limit`` of theirs, and their counts."""
        found = self._each(lambda shard: shard.search(q, limit, within=self._mine(shard, within), count=count))
        hits = [hit for part, _ in found for hit in part]
        if hits and not any(score for _, score in hits):  # no ranking words: newest first, as one index does
            hits = [(key, 0.0) for key in self.matching_keys(q, limit, within)]
        return _best(hits, limit), sum(n for _, n in found)

    def search_with_total(self, q: ParsedQuery, limit: int) -> tuple[list[Hit], Total]:
        found = self._each(lambda shard: shard.search_with_total(q, limit))
        total = Total(sum(t.value for _, t in found), exact=all(t.exact for _, t in found))
        return _best([hit for part, _ in found for hit in part], limit), total

    def matching_keys(self, q: ParsedQuery, limit: int, within: Sequence[int] | None = None) -> list[int]:
        """Newest first, as one index gives them (papers of one day by key)."""
        found = self._each(lambda shard: shard.matching_days(q, limit, self._mine(shard, within)))
        merged = heapq.merge(*(sorted(days, key=_newest) for days in found), key=_newest)
        return [key for key, _ in islice(merged, limit)]

    def count_matching(self, q: ParsedQuery) -> int:
        return sum(self._each(lambda shard: shard.count_matching(q)))

    def size(self) -> int:
        return sum(shard.size() for shard in self.shards)

    def segments(self) -> int:
        return sum(shard.segments() for shard in self.shards)

    def document_frequency(self, words: Sequence[str]) -> dict[str, int]:
        counts = [shard.document_frequency(words) for shard in self.shards]
        return {word: sum(c[word] for c in counts) for word in words}

    def snippets(self, q: ParsedQuery, keys: Sequence[int]) -> dict[int, tuple[Snippet, Snippet]]:
        out: dict[int, tuple[Snippet, Snippet]] = {}
        for part in self._each(lambda shard: shard.snippets(q, self._mine(shard, keys) or [])):
            out.update(part)
        return out

    @staticmethod
    def _mine(shard: KeywordIndex, keys: Sequence[int] | None) -> list[int] | None:
        """The keys among ``keys`` that ``shard`` holds (None: no restriction)."""
        if keys is None:
            return None
        i, n = shard.part
        return [key for key in keys if key % n == i]


def _newest(pair: tuple[int, int]) -> tuple[int, int]:
    key, day = pair
    return (-day, key)


def _best(hits: list[Hit], limit: int) -> list[Hit]:
    """The ``limit`` best of the shards' hits: best score first, then key (scores of 0, a query of filters only,
    keep the order they come in)."""
    if not any(score for _, score in hits):
        return hits[:limit]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))[:limit]
