"""The store interface for enrichment: what paperfeed computed from each paper's text (paperfeed.enrich). A
paper whose content changed since it was enriched is in the backlog again."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from paperfeed.models import Enrichment, Paper


class EnrichmentStore(abc.ABC):
    @abc.abstractmethod
    def enrichment_backlog(self, limit: int, *, after: int = 0) -> list[tuple[int, Paper]]:
        """Up to ``limit`` papers (with their keys, above ``after``, in key order) never enriched, or changed
        since they were."""

    @abc.abstractmethod
    def count_enrichment_backlog(self) -> int:
        """How many papers :meth:`enrichment_backlog` would page through."""

    @abc.abstractmethod
    def save_enrichments(self, rows: Sequence[tuple[int, Enrichment]]) -> None:
        """Store each key's enrichment (replacing any older one) in one transaction, marked as computed from
        the paper's current content; keys of papers that no longer exist are skipped."""

    @abc.abstractmethod
    def enrichments(self, arxiv_ids: Sequence[str]) -> dict[str, Enrichment]:
        """The stored enrichment of each paper that has one."""
