"""Moving an instance between databases (`paperfeed migrate-db`): every table copied in batches, in key order,
then checked: the row count and a checksum of every row, read back from both sides, must agree."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from paperfeed.errors import BadRequest, Conflict
from paperfeed.store.schema import metadata, schema_migrations
from paperfeed.store.sql import SqlStore

BATCH = 2_000
Progress = Callable[[str, int, int], None]  # table, rows done, rows in all

# parents before children (the foreign keys live in the migrations' DDL, not in the query tables)
ORDER = (
    "papers", "paper_versions", "paper_categories", "paper_embeddings", "ingest_state", "removed_papers", "users",
    "sessions", "api_tokens", "votes", "comments", "collections", "collection_papers", "dismissals", "subscriptions",
    "outbox", "jobs", "artifacts", "paper_enrichment", "paper_authors", "follows", "webhooks", "alerts", "notes",
    "reads", "digest_feedback", "digest_slots",
)  # fmt: skip
TABLES = [metadata.tables[name] for name in ORDER]
if {t.name for t in TABLES} | {schema_migrations.name} != set(metadata.tables):  # a new table must be listed
    raise RuntimeError("a table of the schema is missing from paperfeed.store.copy.ORDER")


@dataclass(frozen=True, slots=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def _plain(value: Any) -> Any:
    """One spelling per value whatever the backend returned (SQLite's 0/1 and PostgreSQL's booleans alike)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _rows(store: SqlStore, table: sa.Table) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, a batch at a time (a server-side cursor on PostgreSQL)."""
    query = sa.select(table).order_by(*table.primary_key.columns)
    with store.engine.connect() as conn:
        result = conn.execution_options(yield_per=BATCH).execute(query)
        for part in result.partitions():
            yield [dict(row._mapping) for row in part]


def _count(store: SqlStore, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def checksum(store: SqlStore, table: sa.Table) -> tuple[int, str]:
    """(rows, BLAKE2b of every row's values in key order)."""
    digest, rows = hashlib.blake2b(digest_size=16), 0
    for batch in _rows(store, table):
        for row in batch:
            digest.update(orjson.dumps([_plain(row[c.name]) for c in table.columns]))
        rows += len(batch)
    return rows, digest.hexdigest()


def copy_store(source: SqlStore, target: SqlStore, progress: Progress | None = None) -> list[TableCheck]:
    """Copy every table of ``source`` (migrated to the latest schema) into ``target``, which must hold no rows;
    then compare counts and checksums table by table. Raises Conflict for a target with data, BadRequest for a
    source that was never initialised."""
    if source.schema_version() == 0:
        raise BadRequest(f"the source database {source._safe_url()} holds no paperfeed data (never initialised)")
    source.migrate()
    target.migrate()
    for table in TABLES:
        if _count(target, table):
            raise Conflict(f"the target database already has rows in {table.name}: give an empty database")
    for table in TABLES:
        total, done = _count(source, table), 0
        for batch in _rows(source, table):
            with target.engine.begin() as conn:
                conn.execute(table.insert(), batch)
            done += len(batch)
            if progress is not None:
                progress(table.name, done, total)
        if progress is not None and total == 0:
            progress(table.name, 0, 0)
    _restart_identities(target)
    target.setup_ann()  # PostgreSQL with pgvector: the copied embeddings go into its vector index too
    checks = []
    for table in TABLES:
        (rows_a, sum_a), (rows_b, sum_b) = checksum(source, table), checksum(target, table)
        checks.append(TableCheck(table.name, rows_a, rows_b, sum_a, sum_b))
    return checks


def _restart_identities(store: SqlStore) -> None:
    """PostgreSQL: move each identity past the copied keys (SQLite's AUTOINCREMENT follows by itself)."""
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.begin() as conn:
        for table in TABLES:
            if "id" not in table.c or not table.c.id.primary_key:
                continue
            top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar()
            sequence = sa.func.pg_get_serial_sequence(table.name, "id")
            conn.execute(sa.select(sa.func.setval(sequence, top or 1, top is not None)))
