"""Nearest-neighbour search inside PostgreSQL with pgvector (HNSW, cosine), when the server has the extension.

``paper_ann`` mirrors the stored embeddings (``paper_embeddings`` stays the source of truth, on every backend) as
``vector(384)`` under an HNSW index, so web processes on many machines share one graph instead of each building
its own. It is set up by ``paperfeed init`` (``migrate``) outside the numbered migrations, because the extension
is optional: where ``CREATE EXTENSION vector`` fails (not installed, or no right to create it), search falls back
to the in-process HNSW index (usearch) and ``paperfeed stats`` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from paperfeed.store.base import EmbeddingRow
from paperfeed.store.schema import paper_embeddings
from paperfeed.store.sql_plumbing import SqlPlumbing

log = logging.getLogger("paperfeed.store")
DIM = 384  # all-MiniLM-L6-v2
BACKFILL = 2_000
REBUILD_ABOVE = 5_000  # rows to backfill above which the HNSW index is dropped and built again after

_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"""CREATE TABLE IF NOT EXISTS paper_ann (
        paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
        embedding vector({DIM}) NOT NULL
    )""",
)
# built after the backfill: one bulk build is many times faster than growing the graph row by row
_INDEX = (
    "SET LOCAL maintenance_work_mem = '512MB'",
    "CREATE INDEX IF NOT EXISTS ix_paper_ann_hnsw ON paper_ann USING hnsw (embedding vector_cosine_ops) "
    "WITH (m = 16, ef_construction = 128)",
)


def vector_literal(blob: bytes) -> str:
    """pgvector's text form of a stored float16 embedding."""
    return "[" + ",".join(map(repr, np.frombuffer(blob, dtype=np.float16).astype(np.float32).tolist())) + "]"


class AnnMixin(SqlPlumbing):
    _ann_ready: bool | None = None

    def _pg(self) -> bool:
        raise NotImplementedError

    def ann_backend(self) -> str | None:
        """ "pgvector" when nearest-neighbour queries run in the database, else None."""
        if not self._pg():
            return None
        if self._ann_ready is None:
            with self._read() as conn:
                self._ann_ready = bool(conn.exec_driver_sql("SELECT to_regclass('paper_ann') IS NOT NULL").scalar())
        return "pgvector" if self._ann_ready else None

    def setup_ann(self) -> str:
        """Create (or check) the pgvector mirror and fill in what it lacks; a line saying what was done."""
        if not self._pg():
            return "vector search: in-process HNSW (usearch)"
        try:
            with self._write() as conn:
                for statement in _SETUP:
                    conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            self._ann_ready = False
            log.warning("pgvector unavailable (%s): vector search uses the in-process index", reason)
            return f"vector search: in-process HNSW (usearch); pgvector unavailable: {reason}"
        self._ann_ready = True
        with self._read() as conn:
            missing = conn.execute(
                sa.text(
                    "SELECT count(*) FROM paper_embeddings e WHERE NOT EXISTS "
                    "(SELECT 1 FROM paper_ann a WHERE a.paper_id = e.paper_id) AND octet_length(e.vector) = :size"
                ),
                {"size": 2 * DIM},
            ).scalar()
        if (missing or 0) > REBUILD_ABOVE:  # a bulk load: fill the table bare, then build the graph once
            with self._write() as conn:
                conn.exec_driver_sql("DROP INDEX IF EXISTS ix_paper_ann_hnsw")
        added = self._backfill_ann()
        with self._write() as conn:
            for statement in _INDEX:
                conn.exec_driver_sql(statement)
        return f"vector search: pgvector HNSW (cosine){f', {added:,} vectors added' if added else ''}"

    def _backfill_ann(self) -> int:
        e = paper_embeddings.c
        added, after = 0, 0
        missing = sa.text(
            "NOT EXISTS (SELECT 1 FROM paper_ann a WHERE a.paper_id = paper_embeddings.paper_id) "
            "AND octet_length(paper_embeddings.vector) = :size"
        ).bindparams(size=2 * DIM)
        while True:
            with self._read() as conn:
                query = sa.select(e.paper_id, e.vector).where(e.paper_id > after, missing).order_by(e.paper_id)
                rows = conn.execute(query.limit(BACKFILL)).all()
            if not rows:
                return added
            with self._write() as conn:
                self._mirror(conn, [(r.paper_id, r.vector) for r in rows])
            added += len(rows)
            after = rows[-1].paper_id

    def _mirror(self, conn: sa.Connection, rows: Sequence[tuple[int, bytes]]) -> None:
        """Upsert embeddings into the pgvector mirror (inside the caller's transaction)."""
        rows = [(key, blob) for key, blob in rows if len(blob) == 2 * DIM]  # another model's size fits no index
        if not rows or not self.ann_backend():
            return
        conn.execute(
            sa.text(
                "INSERT INTO paper_ann (paper_id, embedding) VALUES (:k, CAST(:v AS vector)) "
                "ON CONFLICT (paper_id) DO UPDATE SET embedding = excluded.embedding"
            ),
            [{"k": key, "v": vector_literal(blob)} for key, blob in rows],
        )

    def mirror_embeddings(self, conn: sa.Connection, rows: Sequence[EmbeddingRow]) -> None:
        self._mirror(conn, [(r.key, r.vector) for r in rows if r.vector is not None])

    def nearest(self, vector: Sequence[float], k: int, *, ef_search: int = 200) -> list[tuple[int, float]]:
        """The ``k`` papers nearest to ``vector`` by cosine, (key, cosine) best first, from the HNSW index
        (``ef_search``: candidates visited, 1 to 1,000 as pgvector allows)."""
        literal = "[" + ",".join(map(repr, [float(x) for x in vector])) + "]"
        with self._read() as conn:
            conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {max(1, min(int(ef_search), 1000))}")
            rows = conn.execute(
                sa.text(
                    "SELECT paper_id, embedding <=> CAST(:q AS vector) AS d FROM paper_ann "
                    "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k"
                ),
                {"q": literal, "k": k},
            ).all()
        return [(int(r.paper_id), 1.0 - float(r.d)) for r in rows]
