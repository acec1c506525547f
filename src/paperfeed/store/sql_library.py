"""SQL for a reader's library (see :class:`paperfeed.store.library.LibraryStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from paperfeed.models import Paper
from paperfeed.store.library import LibraryStore, Note
from paperfeed.store.schema import collection_papers, collections, notes, papers, reads
from paperfeed.store.sql_plumbing import SqlPlumbing, paper_key

N, R, P, CP = notes.c, reads.c, papers.c, collection_papers.c


def _ids(conn: sa.Connection, arxiv_ids: Sequence[str]) -> dict[int, str]:
    wanted, found = list(dict.fromkeys(arxiv_ids)), dict[int, str]()
    for i in range(0, len(wanted), 900):
        rows = conn.execute(sa.select(P.id, P.arxiv_id).where(P.arxiv_id.in_(wanted[i : i + 900])))
        found.update((r.id, r.arxiv_id) for r in rows)
    return found


class LibraryMixin(SqlPlumbing, LibraryStore):
    def set_note(self, user_id: int, arxiv_id: str, body: str, html: str, now: datetime) -> Note | None:
        with self._write() as conn:
            key = paper_key(conn, arxiv_id)
            conn.execute(sa.delete(notes).where(N.user_id == user_id, N.paper_id == key))
            if not body:
                return None
            conn.execute(sa.insert(notes).values(user_id=user_id, paper_id=key, body=body, html=html, updated_at=now))
        return Note(arxiv_id, body, html, now)

    def notes(self, user_id: int, arxiv_ids: Sequence[str]) -> dict[str, Note]:
        with self._read() as conn:
            ids = _ids(conn, arxiv_ids)
            if not ids:
                return {}
            rows = conn.execute(sa.select(notes).where(N.user_id == user_id, N.paper_id.in_(list(ids))))
            return {ids[r.paper_id]: Note(ids[r.paper_id], r.body, r.html, r.updated_at) for r in rows}

    def set_read(self, user_id: int, arxiv_id: str, read: bool, now: datetime) -> None:
        with self._write() as conn:
            key = paper_key(conn, arxiv_id)
            conn.execute(sa.delete(reads).where(R.user_id == user_id, R.paper_id == key))
            if read:
                conn.execute(sa.insert(reads).values(user_id=user_id, paper_id=key, read_at=now))

    def read_ids(self, user_id: int, arxiv_ids: Sequence[str]) -> set[str]:
        with self._read() as conn:
            ids = _ids(conn, arxiv_ids)
            if not ids:
                return set()
            rows = conn.execute(sa.select(R.paper_id).where(R.user_id == user_id, R.paper_id.in_(list(ids))))
            return {ids[r.paper_id] for r in rows}

    def add_to_collection(self, collection_id: int, keys: Sequence[int], now: datetime) -> int:
        wanted = list(dict.fromkeys(keys))
        with self._write() as conn:
            there = set(conn.execute(sa.select(CP.paper_id).where(CP.collection_id == collection_id)).scalars())
            rows = [{"collection_id": collection_id, "paper_id": k, "added_at": now} for k in wanted if k not in there]
            if rows:
                conn.execute(sa.insert(collection_papers), rows)
        return len(rows)

    def saved_papers(self, user_id: int) -> list[Paper]:
        mine = sa.select(collections.c.id).where(collections.c.user_id == user_id)
        order = (
            sa.select(CP.paper_id, sa.func.max(CP.added_at).label("added")).where(CP.collection_id.in_(mine))
            .group_by(CP.paper_id).order_by(sa.desc("added"), CP.paper_id.desc())
        )  # fmt: skip
        with self._read() as conn:
            keys = [r.paper_id for r in conn.execute(order)]
            found: dict[str, Paper] = {}
            for i in range(0, len(keys), 900):
                found.update((p.arxiv_id, p) for p in self._load(conn, P.id.in_(keys[i : i + 900])))
            by_key = _ids(conn, list(found))
        rank = {arxiv_id: n for n, arxiv_id in enumerate(by_key[k] for k in keys if k in by_key)}
        return sorted(found.values(), key=lambda p: rank.get(p.arxiv_id, 0))
