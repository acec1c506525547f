"""SQL for artifacts (see :class:`paperfeed.store.artifacts.ArtifactStore`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from paperfeed.store.artifacts import Artifact, ArtifactStore
from paperfeed.store.schema import artifacts
from paperfeed.store.sql_plumbing import SqlPlumbing

A = artifacts.c


class ArtifactMixin(SqlPlumbing, ArtifactStore):
    def save_artifact(self, name: str, meta: dict[str, Any], data: bytes) -> int:
        now = datetime.now(UTC)
        with self._write() as conn:
            # the row lock (PostgreSQL) or the write lock (SQLite) orders two savers: versions never repeat
            current = conn.execute(sa.select(A.version).where(A.name == name).with_for_update()).scalar()
            version = (current or 0) + 1
            row = {"meta": orjson.dumps(meta).decode(), "data": data, "version": version, "created_at": now}
            stmt = self._insert(artifacts).values(name=name, **row)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=row))
        return version

    def artifact_version(self, name: str) -> int | None:
        with self._read() as conn:
            found: int | None = conn.execute(sa.select(A.version).where(A.name == name)).scalar()
        return found

    def load_artifact(self, name: str) -> Artifact | None:
        with self._read() as conn:
            row = conn.execute(sa.select(artifacts).where(A.name == name)).first()
        if row is None:
            return None
        return Artifact(row.name, row.version, orjson.loads(row.meta), bytes(row.data), row.created_at)
