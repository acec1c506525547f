"""SQL for digests (see :class:`paperfeed.store.digests.DigestData`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import NotFound, StoreError
from paperfeed.models import Subscription
from paperfeed.store.digests import ClaimedMail, DigestData, OutgoingMail, Preferences
from paperfeed.store.schema import UtcDateTime, digest_feedback, outbox, subscriptions
from paperfeed.store.sql_plumbing import SqlPlumbing, paper_key

S = subscriptions.c


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id, email=row.email, frequency=row.frequency, weekday=row.weekday, content=row.content,
        categories=tuple(row.categories.split()), keywords=tuple(row.keywords.split()), max_papers=row.max_papers,
        min_upvotes=row.min_upvotes, confirmed=row.confirmed_at is not None,
        active=row.unsubscribed_at is None and row.paused_at is None, user_id=row.user_id,
        permanent_failures=row.permanent_failures, record_opens=bool(row.record_opens),
        confidence=row.confidence, explore=bool(row.explore),
    )  # fmt: skip


def _values(prefs: Preferences) -> dict[str, Any]:
    return {
        "frequency": prefs.frequency,
        "weekday": prefs.weekday,
        "content": prefs.content,
        "categories": " ".join(prefs.categories),
        "keywords": " ".join(prefs.keywords),
        "max_papers": prefs.max_papers,
        "min_upvotes": prefs.min_upvotes,
        "confidence": prefs.confidence,
        "explore": prefs.explore,
    }


class DigestMixin(SqlPlumbing, DigestData):
    """DigestData for :class:`paperfeed.store.sql.SqlStore`, which supplies ``_read`` and ``_write``."""

    def save_subscription(
        self, email: str, prefs: Preferences, user_id: int | None, now: datetime
    ) -> tuple[Subscription, bool]:
        with self._write() as conn:
            row = conn.execute(sa.select(subscriptions).where(sa.func.lower(S.email) == email.lower())).first()
            if row is None:
                new_id = conn.execute(
                    subscriptions.insert().values(email=email, user_id=user_id, created_at=now, **_values(prefs))
                ).inserted_primary_key
                if new_id is None:  # never with SQLite or PostgreSQL: they always report it
                    raise StoreError("the database gave no id for the new row")
                sub_id = int(new_id[0])
            else:
                sub_id = row.id
                again = {"confirmed_at": None, "unsubscribed_at": None} if row.unsubscribed_at is not None else {}
                conn.execute(
                    subscriptions.update()
                    .where(S.id == sub_id)
                    .values(**_values(prefs), user_id=user_id or row.user_id, **again)
                )
            saved = _subscription(conn.execute(sa.select(subscriptions).where(S.id == sub_id)).one())
        return saved, not saved.confirmed

    def add_subscription(
        self, email: str, prefs: Preferences, user_id: int | None, now: datetime
    ) -> tuple[Subscription, bool]:
        values = {"email": email, "user_id": user_id, "created_at": now, **_values(prefs)}
        with self._write() as conn:
            # one statement, so two requests racing for one new address make one row (the unique lower(email)
            # index turns the second into a no-op)
            insert = self._insert(subscriptions).values(**values).on_conflict_do_nothing().returning(S.id)
            made = conn.execute(insert).first() is not None
            row = conn.execute(sa.select(subscriptions).where(sa.func.lower(S.email) == email.lower())).one()
        return _subscription(row), made

    def mailed_since(self, subscription_id: int, edition_prefix: str, since: datetime) -> bool:
        o = outbox.c
        query = sa.select(o.id).where(
            o.subscription_id == subscription_id, o.edition.startswith(edition_prefix, autoescape=True),
            o.created_at >= since,
        ).limit(1)  # fmt: skip
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def get_subscription(self, subscription_id: int) -> Subscription | None:
        with self._read() as conn:
            row = conn.execute(sa.select(subscriptions).where(S.id == subscription_id)).first()
        return _subscription(row) if row else None

    def _change(self, subscription_id: int, **values: Any) -> Subscription:
        with self._write() as conn:
            conn.execute(subscriptions.update().where(S.id == subscription_id).values(**values))
            row = conn.execute(sa.select(subscriptions).where(S.id == subscription_id)).first()
        if row is None:
            raise NotFound("this subscription no longer exists")
        return _subscription(row)

    def update_subscription(self, subscription_id: int, prefs: Preferences) -> Subscription:
        return self._change(subscription_id, **_values(prefs))

    def confirm_subscription(self, subscription_id: int, now: datetime) -> Subscription:
        confirmed = sa.func.coalesce(S.confirmed_at, sa.literal(now, UtcDateTime()))
        return self._change(
            subscription_id, confirmed_at=confirmed, paused_at=None, unsubscribed_at=None, permanent_failures=0
        )

    def unsubscribe(self, subscription_id: int, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                subscriptions.update()
                .where(S.id == subscription_id, S.unsubscribed_at.is_(None))
                .values(unsubscribed_at=now)
            )
            conn.execute(
                outbox.update()
                .where(outbox.c.subscription_id == subscription_id, outbox.c.status == "pending")
                .values(status="failed", last_error="unsubscribed")
            )

    def due_subscriptions(self, frequency: str, weekday: int | None) -> list[Subscription]:
        query = sa.select(subscriptions).where(
            S.frequency == frequency, S.confirmed_at.is_not(None), S.unsubscribed_at.is_(None), S.paused_at.is_(None)
        )
        if weekday is not None:
            query = query.where(S.weekday == weekday)
        with self._read() as conn:
            return [_subscription(row) for row in conn.execute(query.order_by(S.id))]

    def enqueue(self, mails: Sequence[OutgoingMail], now: datetime) -> int:
        if not mails:
            return 0
        stamp = now
        rows = [
            {"subscription_id": None if m.webhook_id is not None else m.subscription_id, "webhook_id": m.webhook_id,
             "edition": m.edition, "recipient": m.recipient, "message_id": m.message_id, "message": m.message,
             "next_attempt_at": stamp, "created_at": stamp, "channel": m.channel}
            for m in mails
        ]  # fmt: skip
        with self._write() as conn:
            before = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
            conn.execute(self._insert(outbox).on_conflict_do_nothing(), rows)
            after = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
        return int(after - before)

    def queued_editions(self, edition: str, subscription_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        ids = list(subscription_ids)
        with self._read() as conn:
            for i in range(0, len(ids), 900):
                query = sa.select(outbox.c.subscription_id).where(
                    outbox.c.edition == edition, outbox.c.subscription_id.in_(ids[i : i + 900])
                )
                found.update(int(row[0]) for row in conn.execute(query))
        return found

    def claim_due(self, now: datetime, limit: int, stale_before: datetime, channel: str = "mail") -> list[ClaimedMail]:
        o = outbox.c
        due = sa.and_(
            o.channel == channel,
            sa.or_(
                sa.and_(o.status == "pending", o.next_attempt_at <= now),
                sa.and_(o.status == "sending", o.claimed_at < stale_before),
            ),
        )
        with self._write() as conn:  # SQLite's write lock, PostgreSQL's row locks: one sender per mail
            rows = conn.execute(
                sa.select(o.id, o.subscription_id, o.webhook_id, o.recipient, o.message_id, o.message, o.attempts)
                .where(due)
                .order_by(o.next_attempt_at, o.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL: senders on other machines skip these rows
            ).all()
            if rows:
                conn.execute(
                    outbox.update()
                    .where(o.id.in_([r.id for r in rows]))
                    .values(status="sending", claimed_at=now, attempts=o.attempts + 1)
                )
        return [
            ClaimedMail(
                r.id, r.subscription_id or 0, r.recipient, r.message_id, r.message, r.attempts + 1, r.webhook_id
            )
            for r in rows
        ]

    def mark_sent(self, mail_id: int, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                outbox.update().where(outbox.c.id == mail_id).values(status="sent", sent_at=now, last_error=None)
            )

    def mark_retry(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == mail_id)
                .values(status="pending", last_error=error[:500], next_attempt_at=next_attempt_at)
            )

    def mark_failed(self, mail_id: int, error: str, now: datetime, pause_after: int) -> bool:
        with self._write() as conn:
            sub_id = conn.execute(sa.select(outbox.c.subscription_id).where(outbox.c.id == mail_id)).scalar_one()
            conn.execute(outbox.update().where(outbox.c.id == mail_id).values(status="failed", last_error=error[:500]))
            conn.execute(
                subscriptions.update().where(S.id == sub_id).values(permanent_failures=S.permanent_failures + 1)
            )
            paused = conn.execute(
                subscriptions.update()
                .where(S.id == sub_id, S.permanent_failures >= pause_after, S.paused_at.is_(None))
                .values(paused_at=now)
            ).rowcount
        return bool(paused)

    def record_feedback(self, subscription_id: int, arxiv_id: str, signal: str, now: datetime) -> None:
        with self._write() as conn:
            key = paper_key(conn, arxiv_id)
            other = {"relevant": "not_for_me", "not_for_me": "relevant"}.get(signal)
            if other:  # the latest judgement stands
                conn.execute(digest_feedback.delete().where(
                    digest_feedback.c.subscription_id == subscription_id, digest_feedback.c.paper_id == key,
                    digest_feedback.c.signal == other))  # fmt: skip
            stmt = self._insert(digest_feedback).values(subscription_id=subscription_id, paper_id=key, signal=signal,
                                                        created_at=now)  # fmt: skip
            conn.execute(stmt.on_conflict_do_nothing())

    def feedback_counts(self, subscription_id: int) -> dict[str, int]:
        query = (
            sa.select(digest_feedback.c.signal, sa.func.count())
            .where(digest_feedback.c.subscription_id == subscription_id).group_by(digest_feedback.c.signal)
        )  # fmt: skip
        with self._read() as conn:
            return {str(s): int(n) for s, n in conn.execute(query).all()}

    def set_record_opens(self, subscription_id: int, on: bool) -> Subscription:
        return self._change(subscription_id, record_opens=on)

    def prune_feedback(self, signal: str, before: datetime) -> int:
        with self._write() as conn:
            gone = conn.execute(digest_feedback.delete().where(digest_feedback.c.signal == signal,
                                                               digest_feedback.c.created_at < before))  # fmt: skip
            return int(gone.rowcount or 0)

    def outbox_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)).all()
        return {str(status): int(count) for status, count in rows}
