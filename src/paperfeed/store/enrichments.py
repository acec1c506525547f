"""The store interface for enrichment: what paperfeed computed from each paper's text (paperfeed.enrich). A
paper whose content changed since it was enriched is in the backlog again."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date, datetime

from paperfeed.models import Enrichment, Paper


class EnrichmentStore(abc.ABC):
    """``method`` names the enrichment method: a row made by another method (an older release's) is stale too,
    so a better method reaches every paper by the same backlog."""

    @abc.abstractmethod
    def enrichment_backlog(
        self, limit: int, *, after: int = 0, method: str = "", since: date | None = None
    ) -> list[tuple[int, Paper]]:
        """Up to ``limit`` papers (with their keys, above ``after``, in key order; of feed date ``since`` or
        later when given) never enriched by ``method``, or changed since they were."""

    @abc.abstractmethod
    def count_enrichment_backlog(self, method: str = "", since: date | None = None) -> int:
        """How many papers :meth:`enrichment_backlog` would page through."""

    @abc.abstractmethod
    def save_enrichments(self, rows: Sequence[tuple[int, Enrichment]], method: str = "") -> None:
        """Store each key's enrichment (replacing any older one) in one transaction, marked as computed by
        ``method`` from the paper's current content; keys of papers that no longer exist are skipped."""

    @abc.abstractmethod
    def enrichments(self, arxiv_ids: Sequence[str]) -> dict[str, Enrichment]:
        """The stored enrichment of each paper that has one."""

    @abc.abstractmethod
    def stars_backlog(self, limit: int, checked_before: datetime) -> list[tuple[int, str]]:
        """Up to ``limit`` (key, github.com repository) pairs whose stars were never looked up, or not since
        ``checked_before``; never looked up first."""

    @abc.abstractmethod
    def save_stars(self, key: int, stars: int | None, now: datetime) -> None:
        """Record a lookup of a paper's repository stars (None: unknown, e.g. the repository is gone)."""
