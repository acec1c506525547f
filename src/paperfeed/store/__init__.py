"""Persistence. ``open_store(url)`` picks the backend from the database URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from paperfeed.errors import BadRequest, StoreError
from paperfeed.store.base import PreparedBatch, SortOrder, Store, StoreStats, UpsertResult

__all__ = ["PreparedBatch", "SortOrder", "Store", "StoreStats", "UpsertResult", "database_url", "open_store"]


def database_url(url: str) -> sa.URL:
    """``url`` parsed, with the driver paperfeed uses for its backend: ``sqlite:///path`` (the embedded default)
    or ``postgresql://user:password@host:port/database`` (psycopg 3). Raises BadRequest for anything else."""
    try:
        parsed = sa.engine.make_url(
            url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
        )
    except sa.exc.ArgumentError as exc:
        raise BadRequest(f"database URL {url!r} is not a valid URL") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise BadRequest(
            f"database URL scheme {parsed.drivername!r} is not supported (use sqlite:///path or postgresql://...)"
        )
    return parsed


def open_store(url: str) -> Store:
    """Open (not create) the store at ``url``; see :func:`database_url`. PostgreSQL's database must exist."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        from paperfeed.store.sql import SqlStore

        return SqlStore(parsed)
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {folder}: {exc.strerror}") from exc
    from paperfeed.store.sql import SqlStore

    return SqlStore(parsed)
