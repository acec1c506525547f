"""SQL for what leads onward from a paper (see :class:`paperfeed.store.related.RelatedStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from paperfeed.models import Collection, Paper
from paperfeed.store.related import RelatedStore
from paperfeed.store.schema import collection_papers, collections, papers, users, votes
from paperfeed.store.sql_plumbing import SqlPlumbing

CP, C = collection_papers.c, collections.c
VOTERS = 500  # the paper's most recent upvoters looked at: bounded work on a paper everybody upvoted


class RelatedMixin(SqlPlumbing, RelatedStore):
    def also_upvoted(self, arxiv_id: str, limit: int = 5) -> list[tuple[Paper, int]]:
        mine, theirs = votes.alias("mine"), votes.alias("theirs")
        key = sa.select(papers.c.id).where(papers.c.arxiv_id == arxiv_id).scalar_subquery()
        voters = (
            sa.select(mine.c.user_id).where(mine.c.paper_id == key).order_by(mine.c.created_at.desc()).limit(VOTERS)
        ).subquery()
        count = sa.func.count()
        query = (
            sa.select(theirs.c.paper_id, count)
            .where(theirs.c.user_id.in_(sa.select(voters.c.user_id)), theirs.c.paper_id != key)
            .group_by(theirs.c.paper_id)
            .order_by(count.desc(), theirs.c.paper_id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            ranked = [(int(k), int(n)) for k, n in conn.execute(query).all()]
        found = self.papers_by_key([k for k, _ in ranked])
        return [(found[k], n) for k, n in ranked if k in found]

    def collections_with(self, arxiv_id: str, limit: int = 10) -> list[Collection]:
        size = sa.select(sa.func.count()).where(CP.collection_id == C.id).scalar_subquery().label("size")
        holding = sa.select(CP.collection_id).join(papers, papers.c.id == CP.paper_id)
        holding = holding.where(papers.c.arxiv_id == arxiv_id)
        query = (
            sa.select(collections, users.c.name.label("owner"), size)
            .join(users, users.c.id == C.user_id)
            .where(C.public == sa.true(), C.id.in_(holding))
            .order_by(size.desc(), C.name)
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Collection(r.id, r.owner, r.name, r.slug, True, r.created_at, int(r.size)) for r in rows]

    if TYPE_CHECKING:  # supplied by SqlStore (declared here for the type checker only, never shadowing it)

        def papers_by_key(self, keys: Sequence[int]) -> dict[int, Paper]: ...
