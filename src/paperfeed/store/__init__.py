"""Persistence. ``open_store(url)`` picks the backend from the database URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from paperfeed.errors import BadRequest, StoreError
from paperfeed.store.base import PreparedBatch, SortOrder, Store, StoreStats, UpsertResult

__all__ = ["PreparedBatch", "SortOrder", "Store", "StoreStats", "UpsertResult", "open_store"]


def open_store(url: str) -> Store:
    """Open (not create) the store at ``url``: ``sqlite:///path`` now; ``postgresql://`` is a later backend."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise BadRequest(f"database URL {url!r} is not a valid URL") from exc
    if parsed.get_backend_name() != "sqlite":
        raise BadRequest(f"database URL scheme {parsed.drivername!r} is not supported yet (use sqlite:///path)")
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {folder}: {exc.strerror}") from exc
    from paperfeed.store.sql import SqlStore

    return SqlStore(url)
