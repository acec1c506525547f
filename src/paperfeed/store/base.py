"""The store interface: every backend (SQLite now, PostgreSQL later) implements exactly this."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from paperfeed.models import Paper

SortOrder = Literal["upvotes", "newest", "oldest"]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one batch did: rows inserted, rows updated, and records that changed nothing."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Papers readied for writing by :meth:`Store.prepare` (rows built, content hashed), which needs no
    database, so an importer can run it in its reader thread while the previous batch is being written."""

    papers: Sequence[Paper]
    payload: Any = None  # backend-specific


@dataclass(frozen=True, slots=True)
class StoreStats:
    papers: int
    versions: int
    categories: int
    by_source: dict[str, int] = field(default_factory=dict)
    first_feed_date: date | None = None
    last_feed_date: date | None = None
    schema_version: int = 0
    keyword_index_pending: int = 0
    database: str = ""
    size_bytes: int | None = None


class Store(abc.ABC):
    """Persistence for papers and ingestion state. All writes are atomic per call."""

    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Bring the schema up to date; return the migration versions applied (empty when current)."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the database (0 when never initialised)."""

    def prepare(self, papers: Sequence[Paper]) -> PreparedBatch:
        """Do the database-free part of :meth:`upsert_papers` ahead of time (thread-safe)."""
        return PreparedBatch(papers)

    @abc.abstractmethod
    def upsert_papers(
        self,
        papers: Sequence[Paper] | PreparedBatch,
        *,
        state_key: str | None = None,
        state: dict[str, Any] | None = None,
        defer_index: bool = False,
    ) -> UpsertResult:
        """Insert new papers and update changed ones, in one transaction.

        A record equal to the stored one changes nothing; an older version than the stored one is ignored;
        a newer (or same) version with different content updates the row and adds to its version history.
        When ``state_key`` is given, ``state`` is saved under it in the same transaction, so an import's
        checkpoint always matches what was written. The keyword index takes the new rows in the same
        transaction, unless ``defer_index`` (bulk imports), after which :meth:`sync_keyword_index` must run;
        any later non-deferred write also catches the index up.
        """

    @abc.abstractmethod
    def sync_keyword_index(self) -> int:
        """Index every paper the keyword index does not hold yet; return how many were added."""

    @abc.abstractmethod
    def keyword_index_pending(self) -> int:
        """How many papers wait for the keyword index (non-zero only after a deferred bulk write)."""

    @abc.abstractmethod
    def get_paper(self, arxiv_id: str) -> Paper | None:
        """One paper with its version history, or None."""

    @abc.abstractmethod
    def list_papers(
        self,
        start: date,
        end: date,
        *,
        category: str | None = None,
        sort: SortOrder = "upvotes",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Paper]:
        """Papers whose feed date lies in [start, end], sorted, one page."""

    @abc.abstractmethod
    def count_papers(self, start: date, end: date, *, category: str | None = None) -> int:
        """How many papers list_papers would page through."""

    @abc.abstractmethod
    def latest_feed_date(self) -> date | None:
        """The most recent feed date that has any paper."""

    @abc.abstractmethod
    def neighbour_feed_dates(self, day: date) -> tuple[date | None, date | None]:
        """The closest feed dates with papers before and after ``day``."""

    @abc.abstractmethod
    def get_state(self, key: str) -> dict[str, Any] | None:
        """Saved ingestion state (a checkpoint or a harvest position), or None."""

    @abc.abstractmethod
    def set_state(self, key: str, value: dict[str, Any]) -> None:
        """Save ingestion state under ``key``."""

    @abc.abstractmethod
    def delete_state(self, key: str) -> None:
        """Forget ingestion state (no error when absent)."""

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Counts and facts for `paperfeed stats`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
