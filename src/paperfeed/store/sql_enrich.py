"""SQL for enrichment (see :class:`paperfeed.store.enrichments.EnrichmentStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from paperfeed.models import Enrichment, Paper
from paperfeed.store.enrichments import EnrichmentStore
from paperfeed.store.schema import paper_enrichment, papers
from paperfeed.store.sql_plumbing import SqlPlumbing

E = paper_enrichment.c
P = papers.c


def _stale() -> sa.ColumnElement[bool]:
    return sa.or_(E.paper_id.is_(None), E.content_hash != P.content_hash)


def _joined() -> sa.FromClause:
    return papers.outerjoin(paper_enrichment, E.paper_id == P.id)


class EnrichmentMixin(SqlPlumbing, EnrichmentStore):
    def enrichment_backlog(self, limit: int, *, after: int = 0) -> list[tuple[int, Paper]]:
        query = sa.select(P.id, P.arxiv_id).select_from(_joined()).where(_stale(), P.id > after)
        with self._read() as conn:
            keys = dict((row.arxiv_id, row.id) for row in conn.execute(query.order_by(P.id).limit(limit)))
            found = self._load(conn, P.id.in_(list(keys.values()))) if keys else []
        return sorted(((keys[p.arxiv_id], p) for p in found), key=lambda pair: pair[0])

    def count_enrichment_backlog(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_joined()).where(_stale())).scalar() or 0)

    def save_enrichments(self, rows: Sequence[tuple[int, Enrichment]]) -> None:
        if not rows:
            return
        now = datetime.now(UTC)
        with self._write() as conn:
            wanted = [key for key, _ in rows]
            hashes = {
                row.id: row.content_hash
                for row in conn.execute(sa.select(P.id, P.content_hash).where(P.id.in_(wanted)))
            }
            conn.execute(sa.delete(paper_enrichment).where(E.paper_id.in_(list(hashes))))
            values = [_row(key, hashes[key], e, now) for key, e in rows if key in hashes]
            if values:
                conn.execute(sa.insert(paper_enrichment), values)

    def enrichments(self, arxiv_ids: Sequence[str]) -> dict[str, Enrichment]:
        wanted = list(dict.fromkeys(arxiv_ids))
        found: dict[str, Enrichment] = {}
        with self._read() as conn:
            for i in range(0, len(wanted), 900):  # within SQLite's limit on bound parameters
                query = (
                    sa.select(P.arxiv_id, paper_enrichment)
                    .select_from(papers.join(paper_enrichment, E.paper_id == P.id))
                    .where(P.arxiv_id.in_(wanted[i : i + 900]))
                )
                found.update((row.arxiv_id, _enrichment(row)) for row in conn.execute(query))
        return found


def _row(key: int, content_hash: str, e: Enrichment, now: datetime) -> dict[str, object]:
    return {
        "paper_id": key, "content_hash": content_hash, "github_repo": e.github_repo, "project_page": e.project_page,
        "keywords": orjson.dumps(list(e.keywords)).decode(), "summary": e.summary, "withdrawn_at": e.withdrawn_at,
        "github_stars": e.github_stars, "enriched_at": now,
    }  # fmt: skip


def _enrichment(row: sa.Row[object]) -> Enrichment:
    m = row._mapping
    return Enrichment(
        github_repo=m["github_repo"], project_page=m["project_page"], keywords=tuple(orjson.loads(m["keywords"])),
        summary=m["summary"], withdrawn_at=m["withdrawn_at"], github_stars=m["github_stars"],
    )  # fmt: skip
