"""SQL for webhooks and alerts (see :class:`paperfeed.store.alerts.AlertStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa

from paperfeed.models import Paper, Webhook
from paperfeed.store.alerts import AlertRow, AlertStore
from paperfeed.store.schema import alerts, outbox, papers, webhooks
from paperfeed.store.sql_plumbing import SqlPlumbing

W, L, P = webhooks.c, alerts.c, papers.c


def _hook(row: sa.Row[object]) -> Webhook:
    m = row._mapping
    return Webhook(m["id"], m["user_id"], m["url"], m["secret"], bool(m["active"]), m["failures"],
                   m["disabled_reason"], m["created_at"], m["last_success_at"])  # fmt: skip


class AlertMixin(SqlPlumbing, AlertStore):
    def set_webhook(self, user_id: int, url: str, secret: str, now: datetime) -> Webhook:
        row = {"url": url, "secret": secret, "active": True, "failures": 0, "disabled_reason": None}
        with self._write() as conn:
            stmt = self._insert(webhooks).values(user_id=user_id, created_at=now, **row)
            conn.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=row))
            return _hook(conn.execute(sa.select(webhooks).where(W.user_id == user_id)).one())

    def get_webhook(self, user_id: int) -> Webhook | None:
        with self._read() as conn:
            row = conn.execute(sa.select(webhooks).where(W.user_id == user_id)).first()
        return _hook(row) if row else None

    def webhook_by_id(self, webhook_id: int) -> Webhook | None:
        with self._read() as conn:
            row = conn.execute(sa.select(webhooks).where(W.id == webhook_id)).first()
        return _hook(row) if row else None

    def active_webhooks(self, user_ids: Sequence[int]) -> dict[int, Webhook]:
        ids, found = list(user_ids), dict[int, Webhook]()
        with self._read() as conn:
            for i in range(0, len(ids), 900):
                query = sa.select(webhooks).where(W.user_id.in_(ids[i : i + 900]), W.active.is_(True))
                found.update((r.user_id, _hook(r)) for r in conn.execute(query))
        return found

    def delete_webhook(self, user_id: int) -> bool:
        with self._write() as conn:
            return bool(conn.execute(sa.delete(webhooks).where(W.user_id == user_id)).rowcount)

    def webhook_delivered(self, webhook_id: int, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(webhooks.update().where(W.id == webhook_id).values(failures=0, last_success_at=now))

    def mark_failed_webhook(self, outbox_id: int, error: str, now: datetime, disable_after: int) -> int:
        with self._write() as conn:
            hook_id = conn.execute(sa.select(outbox.c.webhook_id).where(outbox.c.id == outbox_id)).scalar_one()
            conn.execute(
                outbox.update().where(outbox.c.id == outbox_id).values(status="failed", last_error=error[:500])
            )
            conn.execute(webhooks.update().where(W.id == hook_id).values(failures=W.failures + 1))
            reason = f"switched off on {now:%Y-%m-%d} after {disable_after} failed deliveries in a row; last: {error}"
            off = webhooks.update().where(W.id == hook_id, W.failures >= disable_after, W.active.is_(True))
            return int(conn.execute(off.values(active=False, disabled_reason=reason[:500])).rowcount or 0)

    def record_alerts(self, rows: Sequence[AlertRow], now: datetime) -> int:
        if not rows:
            return 0
        with self._write() as conn:
            users = sorted({r.user_id for r in rows})
            keys = sorted({r.paper_key for r in rows})
            seen: set[tuple[int, int]] = set()
            for i in range(0, len(keys), 900):
                query = sa.select(L.user_id, L.paper_id).where(L.paper_id.in_(keys[i : i + 900]), L.user_id.in_(users))
                seen.update((r.user_id, r.paper_id) for r in conn.execute(query))
            fresh: dict[tuple[int, int], dict[str, object]] = {}
            for r in rows:
                pair = (r.user_id, r.paper_key)
                if pair not in seen and pair not in fresh:
                    fresh[pair] = {
                        "user_id": r.user_id, "paper_id": r.paper_key, "follow_id": r.follow_id,
                        "for_digest": r.for_digest, "webhook_batch": r.webhook_batch, "created_at": now,
                    }  # fmt: skip
            if fresh:
                conn.execute(sa.insert(alerts), list(fresh.values()))
        return len(fresh)

    def alerts_in_batch(self, batch: str) -> set[tuple[int, int]]:
        with self._read() as conn:
            return {
                (r.user_id, r.paper_id)
                for r in conn.execute(sa.select(L.user_id, L.paper_id).where(L.webhook_batch == batch))
            }

    def alert_papers(self, user_id: int, since: date, limit: int) -> list[Paper]:
        return self._matched(user_id, limit, P.feed_date >= since)

    def digest_alerts(self, user_id: int, edition: str, limit: int) -> list[Paper]:
        open_ = sa.or_(L.digest_edition.is_(None), L.digest_edition == edition)
        return self._matched(user_id, limit, L.for_digest.is_(True), open_)

    def _matched(self, user_id: int, limit: int, *where: sa.ColumnElement[bool]) -> list[Paper]:
        """The reader's matched papers that meet ``where``, newest first (by feed date), at most ``limit``."""
        query = (
            sa.select(P.id).select_from(alerts.join(papers, P.id == L.paper_id)).where(L.user_id == user_id, *where)
            .order_by(P.feed_date.desc(), P.id.desc()).limit(limit)
        )  # fmt: skip
        with self._read() as conn:
            keys = list(conn.execute(query).scalars())
            found = self._load(conn, P.id.in_(keys)) if keys else []
        return sorted(found, key=lambda p: (p.feed_date is not None, p.feed_date, p.arxiv_id), reverse=True)

    def mark_digested(self, user_id: int, arxiv_ids: Sequence[str], edition: str) -> None:
        if not arxiv_ids:
            return
        keys = sa.select(P.id).where(P.arxiv_id.in_(list(arxiv_ids)))
        with self._write() as conn:
            conn.execute(
                alerts.update().where(L.user_id == user_id, L.paper_id.in_(keys), L.digest_edition.is_(None))
                .values(digest_edition=edition)
            )  # fmt: skip
