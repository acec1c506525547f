"""The store interface: every backend (SQLite now, PostgreSQL later) implements exactly this."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from paperfeed.models import Paper
from paperfeed.store.alerts import AlertStore
from paperfeed.store.artifacts import ArtifactStore
from paperfeed.store.digest_slots import DigestSlotData
from paperfeed.store.digests import DigestData
from paperfeed.store.enrichments import EnrichmentStore
from paperfeed.store.follows import FollowStore
from paperfeed.store.library import LibraryStore
from paperfeed.store.queue import JobQueue
from paperfeed.store.readers import ReaderData
from paperfeed.store.related import RelatedStore

SortOrder = Literal["upvotes", "newest", "oldest"]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one batch did: rows inserted, rows updated, and records that changed nothing."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Papers readied for writing by :meth:`Store.preparer` (rows built, content hashed), which needs no
    database, so an importer can run it in a reader thread or process while the previous batch is being
    written. ``count``: how many records went in (duplicates of one id included)."""

    count: int
    payload: Any = None  # backend-specific


def keep_papers(papers: Sequence[Paper]) -> PreparedBatch:
    """A batch that is just its papers (the preparer of a store with no database-free work to do)."""
    return PreparedBatch(len(papers), list(papers))


@dataclass(frozen=True, slots=True)
class StoreStats:
    papers: int
    versions: int
    categories: int
    by_source: dict[str, int] = field(default_factory=dict)
    first_feed_date: date | None = None
    last_feed_date: date | None = None
    schema_version: int = 0
    embeddings: int = 0
    database: str = ""
    size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """What the keyword index holds of one paper; ``key`` is the store's stable integer id for the paper."""

    key: int
    arxiv_id: str
    title: str
    authors: str
    abstract: str
    categories: tuple[str, ...]
    feed_date: date | None
    seq: int


@dataclass(frozen=True, slots=True)
class EmbeddingJob:
    """A paper whose embedding is missing or older than the paper (``stored_hash`` is the text hash the stored
    embedding was made from, None when there is none)."""

    key: int
    title: str
    abstract: str
    paper_seq: int
    stored_hash: str | None


@dataclass(frozen=True, slots=True)
class EmbeddingRow:
    """One embedding to save. ``vector`` None means the text is unchanged: only ``paper_seq`` is recorded."""

    key: int
    text_hash: str
    paper_seq: int
    vector: bytes | None


@dataclass(frozen=True, slots=True)
class StoredVector:
    key: int
    seq: int
    vector: bytes


@dataclass(frozen=True, slots=True)
class VoteStats:
    """What ranking by community votes needs of one paper."""

    key: int
    upvotes: int
    comments: int
    submitted_at: datetime | None
    feed_date: date | None


class SearchData(abc.ABC):
    """What the search indexes read and write: a change feed of papers, and stored embeddings.

    Keys are integers the store gives each paper for good; ``seq`` values are commit sequence numbers, equal
    for every row one transaction wrote and increasing from one transaction to the next, so "everything up to
    (seq, key)" is a resumable position in the feed.
    """

    def ann_backend(self) -> str | None:
        """The database's own nearest-neighbour search ("pgvector"), or None: the search engine keeps an
        in-process index instead."""
        return None

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """Around a large first import: where the store holds no papers yet, indexes that row-by-row inserts
        make slow are dropped for the duration and built once at the end, also when the import fails with an
        error (which a failed build never hides). An interrupted import (Ctrl-C) leaves them, like a kill, to
        the next ``migrate``, so that it stops at once. Yields whether it applied. Without such indexes: does
        nothing."""
        yield False

    def setup_ann(self) -> str:
        """Set up the database's nearest-neighbour search where it can have one; a line saying which is used."""
        return "vector search: in-process HNSW (usearch)"

    def nearest(self, vector: Sequence[float], k: int, *, ef_search: int = 200) -> list[tuple[int, float]]:
        """The ``k`` keys nearest ``vector`` by cosine, with their cosines, best first (``ann_backend`` only),
        visiting ``ef_search`` candidates of the graph (more: better recall, slower)."""
        raise NotImplementedError

    @abc.abstractmethod
    def change_seq(self) -> int:
        """The newest commit sequence number among papers (0 when empty)."""

    @abc.abstractmethod
    def changed_papers(self, after: tuple[int, int], limit: int) -> list[IndexDoc]:
        """Papers written after position ``after`` = (seq, key), in (seq, key) order, at most ``limit``."""

    @abc.abstractmethod
    def paper_keys(self, arxiv_ids: Sequence[str]) -> dict[str, int]:
        """The keys of those of ``arxiv_ids`` that are stored."""

    @abc.abstractmethod
    def keys_by_doi(self, dois: Sequence[str]) -> dict[str, int]:
        """The keys of the stored papers with those DOIs (compared in lower case), by DOI."""

    @abc.abstractmethod
    def papers_by_key(self, keys: Sequence[int]) -> dict[int, Paper]:
        """The stored papers among ``keys``, without version history."""

    @abc.abstractmethod
    def upvotes_by_key(self, keys: Sequence[int]) -> dict[int, int]:
        """The upvotes (the source's plus this instance's) of the stored papers among ``keys``: what
        :meth:`papers_by_key` would say, without loading the papers."""

    @abc.abstractmethod
    def upvotes_between(self, start: date, end: date) -> dict[int, int]:
        """The upvotes of every paper whose feed date lies in [start, end], by key, in no particular order: what
        :meth:`vote_stats` says of them, without the dates and comments (a week of every category is some 4,700
        papers, and converting their dates was two thirds of the query's time at 2.7M papers)."""

    @abc.abstractmethod
    def embedding_backlog(self, model: str, *, only_missing: bool = False) -> int:
        """How many papers have no embedding from ``model``, or one older than the paper; with
        ``only_missing``, how many have no embedding at all (from any model: the first tier fills only those)."""

    @abc.abstractmethod
    def embedding_jobs(
        self, model: str, after_key: int, limit: int, *, only_missing: bool = False, upto_key: int | None = None,
        since: date | None = None,
    ) -> list[EmbeddingJob]:  # fmt: skip
        """Up to ``limit`` papers of the backlog (as :meth:`embedding_backlog` counts it) with keys above
        ``after_key`` (and at most ``upto_key``; with a feed date of ``since`` or later), in key order."""

    @abc.abstractmethod
    def embedding_chunks(self, model: str, size: int, *, only_missing: bool = False) -> list[tuple[int, int]]:
        """The backlog cut into key ranges (after, upto] of ``size`` papers each (the last may hold fewer), in
        key order: what parallel workers claim one by one."""

    @abc.abstractmethod
    def save_embeddings(self, model: str, rows: Sequence[EmbeddingRow], *, replace: bool = True) -> None:
        """Store (replace) the embeddings of ``rows`` in one transaction; with ``replace`` False, a paper that
        has an embedding by now (another job's) keeps it."""

    @abc.abstractmethod
    def embeddings_since(self, model: str, after: tuple[int, int], limit: int) -> list[StoredVector]:
        """Embeddings from ``model`` written after position ``after`` = (seq, key), in (seq, key) order."""

    @abc.abstractmethod
    def count_embeddings(self, model: str) -> int:
        """How many papers have an embedding from ``model``."""


class Store(
    SearchData,
    ReaderData,
    DigestData,
    DigestSlotData,
    JobQueue,
    ArtifactStore,
    EnrichmentStore,
    FollowStore,
    AlertStore,
    LibraryStore,
    RelatedStore,
):
    """Persistence for papers, ingestion state and the community. All writes are atomic per call.

    A paper's ``upvotes`` and ``num_comments`` as read are the source's counts plus this instance's own votes
    and visible comments."""

    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Bring the schema up to date; return the migration versions applied (empty when current)."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the database (0 when never initialised)."""

    def preparer(self) -> Callable[[Sequence[Paper]], PreparedBatch]:
        """The function that does the database-free part of :meth:`upsert_papers` ahead of time: thread-safe,
        and pickled by name, so that a reader thread or process can prepare batches for this store. The
        default keeps the papers as they are."""
        return keep_papers

    @abc.abstractmethod
    def upsert_papers(
        self,
        papers: Sequence[Paper] | PreparedBatch,
        *,
        state_key: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> UpsertResult:
        """Insert new papers and update changed ones, in one transaction.

        A record equal to the stored one changes nothing; an older version than the stored one is ignored;
        a newer (or same) version with different content updates the row and adds to its version history.
        When ``state_key`` is given, ``state`` is saved under it in the same transaction, so an import's
        checkpoint always matches what was written. Every row written gets the transaction's commit sequence
        number (see :meth:`change_seq`), which is how the search indexes find what changed.
        """

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
        submitter: str | None = None,
        sort: SortOrder = "upvotes",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Paper]:
        """Papers whose feed date lies in [start, end] (submitted by ``submitter`` when given), sorted, one page."""

    @abc.abstractmethod
    def vote_stats(
        self, start: date, end: date, *, category: str | None = None, submitter: str | None = None
    ) -> list[VoteStats]:
        """Votes, comments and dates of every paper whose feed date lies in [start, end]."""

    @abc.abstractmethod
    def newest_keys(self, before: int | None, limit: int) -> list[int]:
        """Keys of up to ``limit`` papers, newest added first, all below ``before`` when given (a cursor)."""

    @abc.abstractmethod
    def count_papers(self, start: date, end: date, *, category: str | None = None, submitter: str | None = None) -> int:
        """How many papers list_papers would page through."""

    @abc.abstractmethod
    def category_counts(self, start: date, end: date, limit: int = 12) -> list[tuple[str, int]]:
        """The categories (primary or cross-listed) with the most papers whose feed date lies in [start, end],
        most first, with their counts."""

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
    def total_papers(self) -> int:
        """How many papers there are (0 before the schema exists): one count, unlike :meth:`stats`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
