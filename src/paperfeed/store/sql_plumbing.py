"""What the SQL mixins (search data, community, digests) need from :class:`paperfeed.store.sql.SqlStore`:
connections for reading and writing, paper loading and the dialect's INSERT. Declared once here."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from paperfeed.models import Paper
from paperfeed.store.base import EmbeddingRow


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
