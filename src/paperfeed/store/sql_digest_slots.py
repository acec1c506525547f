"""SQL for conformal and exploring digests (see :class:`paperfeed.store.digest_slots.DigestSlotData`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from paperfeed.store.digest_slots import DigestSlotData, Labelled, Slot, SlotKind
from paperfeed.store.schema import digest_feedback, digest_slots, papers, subscriptions
from paperfeed.store.sql_plumbing import SqlPlumbing

D, F = digest_slots.c, digest_feedback.c
JUDGED = ("relevant", "not_for_me")


class DigestSlotMixin(SqlPlumbing, DigestSlotData):
    """DigestSlotData for :class:`paperfeed.store.sql.SqlStore`."""

    def record_slots(self, subscription_id: int, edition: str, slots: Sequence[Slot], now: datetime) -> None:
        if not slots:
            return
        with self._write() as conn:
            found = conn.execute(sa.select(papers.c.arxiv_id, papers.c.id).where(
                papers.c.arxiv_id.in_([s.arxiv_id for s in slots]))).all()  # fmt: skip
            keys = {str(a): int(k) for a, k in found}
            rows = [
                {"subscription_id": subscription_id, "edition": edition, "paper_id": keys[s.arxiv_id],
                 "kind": s.kind, "topic": s.topic, "scores": json.dumps(dict(s.scores)), "created_at": now}
                for s in slots if s.arxiv_id in keys
            ]  # fmt: skip
            if rows:
                conn.execute(self._insert(digest_slots).on_conflict_do_nothing(), rows)

    def labelled_slots(
        self, kind: SlotKind, since: datetime, *, subscription_id: int | None = None, frequency: str | None = None,
        limit: int = 5000,
    ) -> list[Labelled]:  # fmt: skip
        query = (
            sa.select(D.subscription_id, D.scores, D.topic, F.signal)
            .join(digest_feedback, sa.and_(F.subscription_id == D.subscription_id, F.paper_id == D.paper_id))
            .where(D.kind == kind, D.created_at >= since, F.signal.in_(JUDGED))
            .order_by(D.created_at.desc(), D.subscription_id, D.paper_id)
            .limit(limit)
        )
        if subscription_id is not None:
            query = query.where(D.subscription_id == subscription_id)
        else:
            query = query.join(subscriptions, subscriptions.c.id == D.subscription_id).where(
                subscriptions.c.content == "for_you", subscriptions.c.confirmed_at.is_not(None),
                *([subscriptions.c.frequency == frequency] if frequency else []),
            )  # fmt: skip
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Labelled(r.subscription_id, json.loads(r.scores), r.topic, r.signal == "relevant") for r in rows]

    def feedback_by_topic(self, subscription_id: int, limit: int = 10) -> list[tuple[str, int, int]]:
        relevant = sa.func.sum(sa.case((F.signal == "relevant", 1), else_=0))
        judged = sa.func.count()
        query = (
            sa.select(papers.c.primary_category, relevant, judged - relevant)
            .join(papers, papers.c.id == F.paper_id)
            .where(F.subscription_id == subscription_id, F.signal.in_(JUDGED), papers.c.primary_category.is_not(None))
            .group_by(papers.c.primary_category)
            .order_by(judged.desc(), papers.c.primary_category)
            .limit(limit)
        )
        with self._read() as conn:
            return [(str(c), int(r), int(n)) for c, r, n in conn.execute(query).all()]
