"""The SQLAlchemy Core store. SQLite (WAL) is the embedded default; other dialects plug in here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from paperfeed.errors import BadRequest, StoreError
from paperfeed.models import Author, Paper, PaperVersion, merge_papers, version_is_older
from paperfeed.store import migrations
from paperfeed.store.base import PreparedBatch, SortOrder, Store, StoreStats, UpsertResult, VoteStats
from paperfeed.store.prepared import Children, PreparedPaper, children, paper_row, prepare_papers
from paperfeed.store.schema import (
    ingest_state,
    paper_authors,
    paper_categories,
    paper_embeddings,
    paper_versions,
    papers,
)
from paperfeed.store.sql_alerts import AlertMixin
from paperfeed.store.sql_ann import AnnMixin
from paperfeed.store.sql_artifacts import ArtifactMixin
from paperfeed.store.sql_digest_slots import DigestSlotMixin
from paperfeed.store.sql_digests import DigestMixin
from paperfeed.store.sql_enrich import EnrichmentMixin
from paperfeed.store.sql_follows import FollowMixin
from paperfeed.store.sql_library import LibraryMixin
from paperfeed.store.sql_queue import JobMixin
from paperfeed.store.sql_readers import ReaderMixin
from paperfeed.store.sql_related import RelatedMixin
from paperfeed.store.sql_search import SearchDataMixin, next_seq

log = logging.getLogger("paperfeed.store")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # durable at every checkpoint; WAL keeps the file consistent on a crash
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)

_LIST_COLUMNS = [c for c in papers.c if c.name not in ("content_hash", "created_at", "updated_at", "seq")]


def _paper_from_row(row: Any, versions: Sequence[PaperVersion] = (), *, local: bool = True) -> Paper:
    """The paper of a row; with ``local``, its counts include this instance's votes and comments."""
    local_votes, local_comments = (row.local_upvotes, row.local_comments) if local else (0, 0)
    return Paper(
        arxiv_id=row.arxiv_id,
        version=row.version,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(Author(a["name"], a.get("affiliation")) for a in orjson.loads(row.authors)),
        categories=tuple(row.categories.split()),
        first_version_at=row.first_version_at,
        latest_version_at=row.latest_version_at,
        comment=row.comment,
        journal_ref=row.journal_ref,
        doi=row.doi,
        license=row.license,
        feed_date=row.feed_date,
        source=row.source,
        versions=tuple(versions),
        upvotes=row.upvotes + local_votes,
        num_comments=row.num_comments + local_comments,
        submitted_by=row.submitted_by,
        submitted_at=row.submitted_at,
        extra_links=orjson.loads(row.extra_links) if row.extra_links else {},
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" hook below (pysqlite's own is unreliable for DDL).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front so two importers queue instead of failing mid-transaction.
    mode = "IMMEDIATE" if conn.get_execution_options().get("paperfeed_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


class SqlStore(
    AlertMixin,
    AnnMixin,
    ArtifactMixin,
    ReaderMixin,
    DigestMixin,
    DigestSlotMixin,
    RelatedMixin,
    EnrichmentMixin,
    FollowMixin,
    LibraryMixin,
    JobMixin,
    SearchDataMixin,
    Store,
):
    """A Store over one SQLAlchemy engine."""

    def __init__(self, url: sa.URL) -> None:
        self.url = url
        if url.get_backend_name() == "postgresql":
            # each web process and worker keeps a small pool; pre-ping survives a database restart or failover
            self.engine = sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        else:
            self.engine = sa.create_engine(url)
        # per table: compiled INSERT, its parameter names in order, and their bind processors
        self._insert_cache: dict[str, tuple[SQLCompiler, list[str], dict[str, Any]]] = {}
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_on_connect)
            sa.event.listen(self.engine, "begin", _sqlite_on_begin)

    # -- plumbing ---------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with _operational_errors(self._safe_url()), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with _operational_errors(self._safe_url()), self.engine.connect() as conn:
            conn.execution_options(paperfeed_write=True)
            with conn.begin():
                yield conn

    def _insert(self, table: sa.Table) -> Any:
        if self.engine.dialect.name == "sqlite":
            return sqlite_dialect.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def migrate(self) -> list[int]:
        with _operational_errors(self._safe_url()):
            applied = migrations.migrate(self.engine.execution_options(paperfeed_write=True))
            if 10 in applied:
                self.index_authors()
        if self._pg() and (applied or self._ann_ready is None):
            self.setup_ann()
        return applied

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        with self._write() as conn:
            empty = conn.execute(sa.select(papers.c.id).limit(1)).first() is None
            if empty:
                for name in migrations.BULK_DEFERRED_INDEXES:
                    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        try:
            yield empty
        except Exception:
            if empty:
                try:
                    self._build_deferred()
                except StoreError as exc:  # the import's own error is the one to report
                    log.warning("the deferred indexes were not built (%s); the next migrate builds them", exc)
            raise
        # an interrupt (BaseException) skips the build: it may have stopped a write mid-transaction, whose
        # connection then holds the lock the build would wait 30 s for, and the user asked to stop now
        if empty:
            self._build_deferred()

    def _build_deferred(self) -> None:
        with self._write() as conn:
            migrations.ensure_indexes(conn)

    def _pg(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def schema_version(self) -> int:
        with self._read() as conn:
            return migrations.current_version(conn)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------------------

    def preparer(self) -> Callable[[Sequence[Paper]], PreparedBatch]:
        return prepare_papers

    def upsert_papers(
        self,
        papers_in: Sequence[Paper] | PreparedBatch,
        *,
        state_key: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> UpsertResult:
        batch = papers_in if isinstance(papers_in, PreparedBatch) else prepare_papers(papers_in)
        incoming: dict[str, PreparedPaper] = batch.payload
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._write() as conn:
            removed = self._removed_among(conn, list(incoming))  # an admin took these out: keep them out
            incoming = {pid: item for pid, item in incoming.items() if pid not in removed}
            stored = self._stored_heads(conn, list(incoming))
            seq = next_seq(conn, papers.c.seq)
            new = [pid for pid in incoming if pid not in stored]
            changed = [
                pid
                for pid, item in incoming.items()
                if pid in stored
                and stored[pid][1] != item.digest
                and not version_is_older(item.version, stored[pid][0])
            ]
            if new:
                self._insert_new(conn, [incoming[pid] for pid in new], now, seq)
            if changed:
                self._update_changed(conn, {pid: incoming[pid] for pid in changed}, now, seq)
            if state_key is not None:
                self._save_state(conn, state_key, state or {}, now)
        return UpsertResult(len(new), len(changed), batch.count - len(new) - len(changed))

    def _stored_heads(self, conn: sa.Connection, ids: list[str]) -> dict[str, tuple[int | None, str]]:
        if not ids:
            return {}
        query = sa.select(papers.c.arxiv_id, papers.c.version, papers.c.content_hash).where(papers.c.arxiv_id.in_(ids))
        return {row.arxiv_id: (row.version, row.content_hash) for row in conn.execute(query)}

    def _insert_new(self, conn: sa.Connection, items: list[PreparedPaper], now: datetime, seq: int) -> None:
        extra = {"created_at": now, "updated_at": now, "seq": seq, "local_upvotes": 0, "local_comments": 0}
        self._bulk_insert(conn, papers, [{**item.row, "content_hash": item.digest, **extra} for item in items])
        self._write_children(conn, [item.children for item in items])

    def _update_changed(self, conn: sa.Connection, rows: dict[str, PreparedPaper], now: datetime, seq: int) -> None:
        """Merge each incoming record into its stored row. The stored hash becomes the incoming record's,
        so the same record arriving again is recognised as unchanged."""
        stored = {p.arxiv_id: p for p in self._load(conn, papers.c.arxiv_id.in_(list(rows)), local=False)}
        merged = [(merge_papers(stored[pid], item.paper()), item.digest) for pid, item in rows.items()]
        values: dict[str, Any] = {c: sa.bindparam(c) for c in paper_row(merged[0][0]) if c != "arxiv_id"}
        statement = (
            papers.update()
            .where(papers.c.arxiv_id == sa.bindparam("b_arxiv_id"))
            .values(**values, content_hash=sa.bindparam("content_hash"), updated_at=sa.bindparam("updated_at"), seq=seq)
        )
        params = []
        for p, h in merged:
            row = paper_row(p)
            row["b_arxiv_id"] = row.pop("arxiv_id")
            params.append({**row, "content_hash": h, "updated_at": now})
        conn.execute(statement, params)
        conn.execute(paper_categories.delete().where(paper_categories.c.arxiv_id.in_(list(rows))))
        conn.execute(paper_authors.delete().where(paper_authors.c.arxiv_id.in_(list(rows))))
        self._write_children(conn, [children(p) for p, _ in merged])

    def _write_children(self, conn: sa.Connection, rows: list[Children]) -> None:
        if cats := [row for child in rows for row in child.categories]:
            self._bulk_insert(conn, paper_categories, cats)
        if names := [row for child in rows for row in child.authors]:
            self._bulk_insert(conn, paper_authors, names)
        if versions := [row for child in rows for row in child.versions]:
            stmt = self._insert(paper_versions)
            stmt = stmt.on_conflict_do_update(
                index_elements=["arxiv_id", "version"],
                set_={"created_at": sa.func.coalesce(stmt.excluded.created_at, paper_versions.c.created_at)},
            )
            conn.execute(stmt, versions)

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """executemany of a plain INSERT, compiled once per table for this dialect.

        Same SQL and the same value conversions (the column types' bind processors) as ``conn.execute(
        table.insert(), rows)``, without SQLAlchemy's per-row parameter assembly, which cost about a sixth of a
        bulk import's time.
        """
        # the columns the rows carry: a key left out (a new row's id) is the database's to fill in
        columns = [c.name for c in table.c if c.name in rows[0]]
        cache_key = f"{table.name}:{','.join(columns)}"
        cached = self._insert_cache.get(cache_key)
        if cached is None:
            compiled = table.insert().compile(dialect=self.engine.dialect, column_keys=columns)
            names = list(compiled.positiontup or compiled.params)
            processors = {
                name: proc
                for name in names
                if (proc := table.c[name].type._cached_bind_processor(self.engine.dialect)) is not None
            }
            cached = self._insert_cache[cache_key] = (compiled, names, processors)
        compiled, names, processors = cached
        if compiled.positiontup is not None:
            params: list[Any] = [
                tuple(processors[n](row.get(n)) if n in processors else row.get(n) for n in names) for row in rows
            ]
        else:
            params = [{n: processors[n](row.get(n)) if n in processors else row.get(n) for n in names} for row in rows]
        conn.exec_driver_sql(str(compiled), params)

    def _save_state(self, conn: sa.Connection, key: str, value: dict[str, Any], now: datetime) -> None:
        stmt = self._insert(ingest_state).values(key=key, value=orjson.dumps(value).decode(), updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        conn.execute(stmt)

    def set_state(self, key: str, value: dict[str, Any]) -> None:
        with self._write() as conn:
            self._save_state(conn, key, value, datetime.now(UTC).replace(tzinfo=None))

    def delete_state(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(ingest_state.delete().where(ingest_state.c.key == key))

    # -- reads ------------------------------------------------------------------------------------------

    def get_state(self, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            value = conn.execute(sa.select(ingest_state.c.value).where(ingest_state.c.key == key)).scalar()
        return orjson.loads(value) if value is not None else None

    def _load(self, conn: sa.Connection, where: sa.ColumnElement[bool], *, local: bool = True) -> list[Paper]:
        rows = conn.execute(sa.select(*_LIST_COLUMNS).where(where)).all()
        ids = [row.arxiv_id for row in rows]
        history: dict[str, list[PaperVersion]] = {}
        if ids:
            query = (
                sa.select(paper_versions)
                .where(paper_versions.c.arxiv_id.in_(ids))
                .order_by(paper_versions.c.arxiv_id, paper_versions.c.version)
            )
            for v in conn.execute(query):
                history.setdefault(v.arxiv_id, []).append(PaperVersion(v.version, v.created_at))
        return [_paper_from_row(row, history.get(row.arxiv_id, ()), local=local) for row in rows]

    def get_paper(self, arxiv_id: str) -> Paper | None:
        with self._read() as conn:
            found = self._load(conn, papers.c.arxiv_id == arxiv_id)
        return found[0] if found else None

    def _window(
        self, start: date, end: date, category: str | None, submitter: str | None = None
    ) -> sa.ColumnElement[bool]:
        where = sa.and_(papers.c.feed_date >= start, papers.c.feed_date <= end)
        if submitter:
            where = sa.and_(where, papers.c.submitted_by == submitter)
        if category:
            in_category = sa.select(paper_categories.c.arxiv_id).where(paper_categories.c.category == category)
            where = sa.and_(where, papers.c.arxiv_id.in_(in_category))
        return where

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
        orders = {
            "upvotes": (
                (papers.c.upvotes + papers.c.local_upvotes).desc(),
                papers.c.feed_date.desc(),
                papers.c.arxiv_id.desc(),
            ),
            "newest": (papers.c.feed_date.desc(), papers.c.arxiv_id.desc()),
            "oldest": (papers.c.feed_date.asc(), papers.c.arxiv_id.asc()),
        }
        query = (
            sa.select(*_LIST_COLUMNS)
            .where(self._window(start, end, category, submitter))
            .order_by(*orders[sort])
            .limit(limit)
            .offset(offset)
        )
        with self._read() as conn:
            return [_paper_from_row(row) for row in conn.execute(query)]

    def vote_stats(
        self, start: date, end: date, *, category: str | None = None, submitter: str | None = None
    ) -> list[VoteStats]:
        p = papers.c
        query = sa.select(
            p.id, (p.upvotes + p.local_upvotes).label("upvotes"), (p.num_comments + p.local_comments).label("comments"),
            p.submitted_at, p.feed_date,
        ).where(self._window(start, end, category, submitter))  # fmt: skip
        with self._read() as conn:
            return [VoteStats(r.id, r.upvotes, r.comments, r.submitted_at, r.feed_date) for r in conn.execute(query)]

    def newest_keys(self, before: int | None, limit: int) -> list[int]:
        query = sa.select(papers.c.id).order_by(papers.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(papers.c.id < before)
        with self._read() as conn:
            return [int(row[0]) for row in conn.execute(query)]

    def count_papers(self, start: date, end: date, *, category: str | None = None, submitter: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(papers).where(self._window(start, end, category, submitter))
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def category_counts(self, start: date, end: date, limit: int = 12) -> list[tuple[str, int]]:
        count = sa.func.count()
        query = (
            sa.select(paper_categories.c.category, count)
            .join(papers, papers.c.arxiv_id == paper_categories.c.arxiv_id)
            .where(self._window(start, end, None))
            .group_by(paper_categories.c.category)
            .order_by(count.desc(), paper_categories.c.category)
            .limit(limit)
        )
        with self._read() as conn:
            return [(str(c), int(n)) for c, n in conn.execute(query).all()]

    def latest_feed_date(self) -> date | None:
        with self._read() as conn:
            value = conn.execute(sa.select(sa.func.max(papers.c.feed_date))).scalar()
        return _as_date(value)

    def neighbour_feed_dates(self, day: date) -> tuple[date | None, date | None]:
        with self._read() as conn:
            before = conn.execute(sa.select(sa.func.max(papers.c.feed_date)).where(papers.c.feed_date < day))
            after = conn.execute(sa.select(sa.func.min(papers.c.feed_date)).where(papers.c.feed_date > day))
            return _as_date(before.scalar()), _as_date(after.scalar())

    def total_papers(self) -> int:
        with self._read() as conn:
            if migrations.current_version(conn) == 0:
                return 0
            return int(conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0)

    def stats(self) -> StoreStats:
        def count(table: sa.Table) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)

        with self._read() as conn:
            version = migrations.current_version(conn)
            if version == 0:
                return StoreStats(0, 0, 0, database=self._safe_url(), size_bytes=self._size())
            query = sa.select(papers.c.source, sa.func.count()).group_by(papers.c.source)
            by_source = {str(row[0]): int(row[1]) for row in conn.execute(query)}
            first, last = conn.execute(
                sa.select(sa.func.min(papers.c.feed_date), sa.func.max(papers.c.feed_date))
            ).one()
            return StoreStats(
                papers=count(papers),
                versions=count(paper_versions),
                categories=int(
                    conn.execute(sa.select(sa.func.count(sa.distinct(paper_categories.c.category)))).scalar() or 0
                ),
                by_source=by_source,
                first_feed_date=_as_date(first),
                last_feed_date=_as_date(last),
                schema_version=version,
                embeddings=count(paper_embeddings),
                database=self._safe_url(),
                size_bytes=self._size(),
            )

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _size(self) -> int | None:
        if self.engine.dialect.name == "postgresql":
            with self._read() as conn:
                return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0)
        if not self.engine.url.database:
            return None
        base = Path(self.engine.url.database)
        files = [base, base.with_name(base.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())


@contextmanager
def _operational_errors(database: str) -> Iterator[None]:
    """Turn the database's operational failures (cannot open, locked, disk full, missing tables) into
    StoreError with the driver's one-line reason, and values it cannot take (PostgreSQL refuses NUL characters
    and out-of-range numbers) into BadRequest; integrity errors (bugs, bad rows) pass through. The transaction
    is rolled back either way: nothing is half written."""
    try:
        yield
    except sa.exc.DataError as exc:
        reason = (str(exc.orig) if exc.orig is not None else str(exc)).strip().splitlines()[0]
        raise BadRequest(f"a value given cannot be stored or looked up: {reason}") from exc
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        reason = (str(exc.orig) if exc.orig is not None else str(exc)).strip().splitlines()[0]
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            raise StoreError(f"database {database} is not initialised: run `paperfeed init`") from exc
        if isinstance(exc, sa.exc.ProgrammingError):
            raise
        if "FATAL:  database" in reason and "does not exist" in reason:  # PostgreSQL: paperfeed makes no databases
            reason += " (create it first: createdb NAME, or CREATE DATABASE)"
        raise StoreError(f"database {database}: {reason}") from exc


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
