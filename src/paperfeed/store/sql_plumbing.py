"""What the SQL mixins (search data, community, digests) need from :class:`paperfeed.store.sql.SqlStore`:
connections for reading and writing, paper loading and the dialect's INSERT. Declared once here."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import NotFound
from paperfeed.models import Paper
from paperfeed.store.base import EmbeddingRow
from paperfeed.store.schema import papers


class SqlPlumbing:
    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _load(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[Paper]:
        raise NotImplementedError

    def _insert(self, table: sa.Table) -> Any:
        raise NotImplementedError

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def mirror_embeddings(self, conn: sa.Connection, rows: Sequence[EmbeddingRow]) -> None:
        """Copy freshly saved embeddings to the database's vector index, where there is one."""


def paper_key(conn: sa.Connection, arxiv_id: str) -> int:
    """The store's key of a paper, or NotFound naming it."""
    found = conn.execute(sa.select(papers.c.id).where(papers.c.arxiv_id == arxiv_id)).scalar()
    if found is None:
        raise NotFound(f"paper {arxiv_id} is not in this instance")
    return int(found)
