"""SQL for enrichment (see :class:`paperfeed.store.enrichments.EnrichmentStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from paperfeed.models import Enrichment, Paper
from paperfeed.store.enrichments import EnrichmentStore
from paperfeed.store.schema import paper_enrichment, papers
from paperfeed.store.sql_plumbing import SqlPlumbing

E = paper_enrichment.c
P = papers.c


def _stale(method: str) -> sa.ColumnElement[bool]:
    return sa.or_(E.paper_id.is_(None), E.content_hash != P.content_hash + sa.literal(method))


def _joined() -> sa.FromClause:
    return papers.outerjoin(paper_enrichment, E.paper_id == P.id)


class EnrichmentMixin(SqlPlumbing, EnrichmentStore):
    def enrichment_backlog(
        self, limit: int, *, after: int = 0, method: str = "", since: date | None = None
    ) -> list[tuple[int, Paper]]:
        query = sa.select(P.id, P.arxiv_id).select_from(_joined()).where(_stale(method), P.id > after)
        if since is not None:
            query = query.where(P.feed_date >= since)
        with self._read() as conn:
            keys = dict((row.arxiv_id, row.id) for row in conn.execute(query.order_by(P.id).limit(limit)))
            found = self._load(conn, P.id.in_(list(keys.values()))) if keys else []
        return sorted(((keys[p.arxiv_id], p) for p in found), key=lambda pair: pair[0])

    def count_enrichment_backlog(self, method: str = "", since: date | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(_joined()).where(_stale(method))
        if since is not None:
            query = query.where(P.feed_date >= since)
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def save_enrichments(self, rows: Sequence[tuple[int, Enrichment]], method: str = "") -> None:
        if not rows:
            return
        now = datetime.now(UTC)
        with self._write() as conn:
            wanted = [key for key, _ in rows]
            current = conn.execute(sa.select(P.id, P.content_hash).where(P.id.in_(wanted)))
            hashes = {row.id: row.content_hash for row in current}
            # stars looked up before stay while the paper links to the same repository
            looked = sa.select(E.paper_id, E.github_repo, E.github_stars, E.stars_checked_at)
            stars = {r.paper_id: r for r in conn.execute(looked.where(E.paper_id.in_(list(hashes))))}
            conn.execute(sa.delete(paper_enrichment).where(E.paper_id.in_(list(hashes))))
            values = [_row(key, hashes[key] + method, e, now, stars.get(key)) for key, e in rows if key in hashes]
            if values:
                conn.execute(sa.insert(paper_enrichment), values)

    def stars_backlog(self, limit: int, checked_before: datetime) -> list[tuple[int, str]]:
        due = sa.or_(E.stars_checked_at.is_(None), E.stars_checked_at < checked_before)
        query = (
            sa.select(E.paper_id, E.github_repo)
            .where(E.github_repo.like("https://github.com/%"), due)
            .order_by(E.stars_checked_at.is_not(None), E.stars_checked_at, E.paper_id)
            .limit(limit)
        )
        with self._read() as conn:
            return [(row.paper_id, row.github_repo) for row in conn.execute(query)]

    def save_stars(self, key: int, stars: int | None, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                sa.update(paper_enrichment).where(E.paper_id == key).values(github_stars=stars, stars_checked_at=now)
            )

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


def _row(key: int, content_hash: str, e: Enrichment, now: datetime, before: Any) -> dict[str, object]:
    kept = before is not None and before.github_repo == e.github_repo
    return {
        "paper_id": key, "content_hash": content_hash, "github_repo": e.github_repo, "project_page": e.project_page,
        "keywords": orjson.dumps(list(e.keywords)).decode(), "summary": e.summary, "withdrawn_at": e.withdrawn_at,
        "github_stars": before.github_stars if kept else e.github_stars,
        "stars_checked_at": before.stars_checked_at if kept else None, "enriched_at": now,
    }  # fmt: skip


def _enrichment(row: sa.Row[object]) -> Enrichment:
    m = row._mapping
    return Enrichment(
        github_repo=m["github_repo"], project_page=m["project_page"], keywords=tuple(orjson.loads(m["keywords"])),
        summary=m["summary"], withdrawn_at=m["withdrawn_at"], github_stars=m["github_stars"],
    )  # fmt: skip
