"""SQL for the search indexes: the papers' change feed and stored embeddings (see :class:`SearchData`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from paperfeed.models import Paper
from paperfeed.store.base import EmbeddingJob, EmbeddingRow, IndexDoc, SearchData, StoredVector
from paperfeed.store.schema import paper_embeddings, papers
from paperfeed.store.sql_plumbing import SqlPlumbing

# SQLite caps bound parameters per statement (32766 in current builds); stay well below.
_IN_CHUNK = 900


def next_seq(conn: sa.Connection, column: sa.Column[Any]) -> int:
    """The commit sequence number for the current write transaction on ``column``'s table.

    Writers hold the write lock for the whole transaction, so no other writer can take the same number, and a
    reader sees a transaction's rows all at once: following (seq, key) never skips a row. SQLite has one write
    lock per database (taken by BEGIN IMMEDIATE); on PostgreSQL, writers of one table's sequence take a
    transaction-scoped advisory lock here instead, so sequence numbers still commit in order.
    """
    if conn.dialect.name == "postgresql":
        lock = sa.func.hashtext(f"paperfeed.seq.{column.table.name}")
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(column), 0))).scalar() or 0) + 1


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]


def _after(seq: sa.ColumnElement[Any], key: sa.ColumnElement[Any], after: tuple[int, int]) -> sa.ColumnElement[bool]:
    """Rows past position ``after`` in (seq, key) order."""
    return sa.tuple_(seq, key) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))


def _stale(model: str, only_missing: bool = False) -> sa.ColumnElement[bool]:
    e = paper_embeddings.c
    if only_missing:
        return e.paper_id.is_(None)
    return sa.or_(e.paper_id.is_(None), e.model != model, e.paper_seq < papers.c.seq)


class SearchDataMixin(SqlPlumbing, SearchData):
    """SearchData for :class:`paperfeed.store.sql.SqlStore`, which supplies ``_read``, ``_write`` and ``_load``."""

    def change_seq(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(papers.c.seq), 0))).scalar() or 0)

    def changed_papers(self, after: tuple[int, int], limit: int) -> list[IndexDoc]:
        p = papers.c
        query = (
            sa.select(p.id, p.arxiv_id, p.title, p.authors_text, p.abstract, p.categories, p.feed_date, p.seq)
            .where(_after(p.seq, p.id, after))
            .order_by(p.seq, p.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [
                IndexDoc(r.id, r.arxiv_id, r.title, r.authors_text, r.abstract, tuple(r.categories.split()),
                         r.feed_date, r.seq)
                for r in conn.execute(query)
            ]  # fmt: skip

    def paper_keys(self, arxiv_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._read() as conn:
            for chunk in _chunks(list(arxiv_ids)):
                query = sa.select(papers.c.arxiv_id, papers.c.id).where(papers.c.arxiv_id.in_(chunk))
                found.update({r.arxiv_id: r.id for r in conn.execute(query)})
        return found

    def keys_by_doi(self, dois: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._read() as conn:
            for chunk in _chunks([d.lower() for d in dict.fromkeys(dois)]):
                query = sa.select(sa.func.lower(papers.c.doi), papers.c.id).where(
                    sa.func.lower(papers.c.doi).in_(chunk)
                )
                found.update({str(doi): int(key) for doi, key in conn.execute(query)})
        return found

    def papers_by_key(self, keys: Sequence[int]) -> dict[int, Paper]:
        found: dict[int, Paper] = {}
        with self._read() as conn:
            for chunk in _chunks(list(keys)):
                ids = dict(conn.execute(sa.select(papers.c.arxiv_id, papers.c.id).where(papers.c.id.in_(chunk))).all())
                found.update({ids[p.arxiv_id]: p for p in self._load(conn, papers.c.id.in_(chunk))})
        return found

    def upvotes_by_key(self, keys: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        with self._read() as conn:
            for chunk in _chunks(list(keys)):
                query = sa.select(papers.c.id, papers.c.upvotes + papers.c.local_upvotes).where(papers.c.id.in_(chunk))
                found.update({int(key): int(count) for key, count in conn.execute(query)})
        return found

    def upvotes_between(self, start: date, end: date) -> dict[int, int]:
        p = papers.c
        query = sa.select(p.id, p.upvotes + p.local_upvotes).where(p.feed_date >= start, p.feed_date <= end)
        with self._read() as conn:
            return {int(key): int(count) for key, count in conn.execute(query)}

    def embedding_backlog(self, model: str, *, only_missing: bool = False) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(papers.outerjoin(paper_embeddings, paper_embeddings.c.paper_id == papers.c.id))
            .where(_stale(model, only_missing))
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def embedding_jobs(
        self, model: str, after_key: int, limit: int, *, only_missing: bool = False, upto_key: int | None = None,
        since: date | None = None,
    ) -> list[EmbeddingJob]:  # fmt: skip
        e = paper_embeddings.c
        stored_hash = sa.case((e.model == model, e.text_hash), else_=None)
        within = papers.c.id > after_key if upto_key is None else papers.c.id.between(after_key + 1, upto_key)
        if since is not None:
            within = sa.and_(within, papers.c.feed_date >= since)
        query = (
            sa.select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.seq, stored_hash.label("stored_hash"))
            .select_from(papers.outerjoin(paper_embeddings, e.paper_id == papers.c.id))
            .where(_stale(model, only_missing), within)
            .order_by(papers.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [EmbeddingJob(r.id, r.title, r.abstract, r.seq, r.stored_hash) for r in conn.execute(query)]

    def embedding_chunks(self, model: str, size: int, *, only_missing: bool = False) -> list[tuple[int, int]]:
        number = sa.func.row_number().over(order_by=papers.c.id).label("n")
        backlog = (
            sa.select(papers.c.id, number)
            .select_from(papers.outerjoin(paper_embeddings, paper_embeddings.c.paper_id == papers.c.id))
            .where(_stale(model, only_missing))
            .subquery()
        )
        last = sa.select(sa.func.max(backlog.c.n)).scalar_subquery()
        query = (
            sa.select(backlog.c.id).where(sa.or_(backlog.c.n % size == 0, backlog.c.n == last)).order_by(backlog.c.id)
        )
        with self._read() as conn:
            ends = [int(r[0]) for r in conn.execute(query)]
        return list(zip([0, *ends[:-1]], ends, strict=True)) if ends else []

    def save_embeddings(self, model: str, rows: Sequence[EmbeddingRow], *, replace: bool = True) -> None:
        if not rows:
            return
        e = paper_embeddings.c
        with self._write() as conn:
            seq = next_seq(conn, e.seq)
            unchanged = [{"k": r.key, "ps": r.paper_seq} for r in rows if r.vector is None]
            if unchanged:
                stmt = (
                    paper_embeddings.update()
                    .where(e.paper_id == sa.bindparam("k"), e.model == model)
                    .values(paper_seq=sa.bindparam("ps"))
                )
                conn.execute(stmt, unchanged)
            fresh = [
                {"paper_id": r.key, "model": model, "text_hash": r.text_hash, "paper_seq": r.paper_seq, "seq": seq,
                 "vector": r.vector}
                for r in rows
                if r.vector is not None
            ]  # fmt: skip
            if fresh and not replace:  # the first tier: never over a vector another job wrote meanwhile
                taken = {
                    k
                    for (k,) in conn.execute(
                        sa.select(e.paper_id).where(e.paper_id.in_([r["paper_id"] for r in fresh]))
                    )
                }
                fresh = [r for r in fresh if r["paper_id"] not in taken]
                rows = [r for r in rows if r.key not in taken]
            if fresh:
                conn.execute(paper_embeddings.delete().where(e.paper_id.in_([r["paper_id"] for r in fresh])))
                conn.execute(paper_embeddings.insert(), fresh)
                self.mirror_embeddings(conn, rows)

    def embeddings_since(self, model: str, after: tuple[int, int], limit: int) -> list[StoredVector]:
        e = paper_embeddings.c
        query = (
            sa.select(e.paper_id, e.seq, e.vector)
            .where(
                e.model == model, sa.tuple_(e.seq, e.paper_id) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
            )
            .order_by(e.seq, e.paper_id)
            .limit(limit)
        )
        with self._read() as conn:
            return [StoredVector(r.paper_id, r.seq, r.vector) for r in conn.execute(query)]

    def count_embeddings(self, model: str) -> int:
        query = sa.select(sa.func.count()).select_from(paper_embeddings).where(paper_embeddings.c.model == model)
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)
