"""Persistence. ``open_store(url)`` picks the backend from the database URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from paperfeed.errors import BadRequest
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
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    from paperfeed.store.sql import SqlStore

    return SqlStore(url)
