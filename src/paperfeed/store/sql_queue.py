"""SQL for the job queue (see :class:`paperfeed.store.queue.JobQueue`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from paperfeed.store.queue import BACKGROUND, Job, JobQueue, JobRecord
from paperfeed.store.schema import jobs
from paperfeed.store.sql_plumbing import SqlPlumbing

J = jobs.c


class JobMixin(SqlPlumbing, JobQueue):
    def enqueue_job(self, kind: str, key: str, payload: dict[str, Any], run_at: datetime) -> bool:
        row = {"kind": kind, "key": key, "payload": orjson.dumps(payload).decode(), "status": "queued",
               "run_at": run_at, "attempts": 0, "created_at": datetime.now(UTC)}  # fmt: skip
        with self._write() as conn:
            stmt = self._insert(jobs).values(**row).on_conflict_do_nothing().returning(J.id)
            return conn.execute(stmt).first() is not None

    def claim_job(self, worker: str, now: datetime, stale_before: datetime, kinds: Sequence[str]) -> Job | None:
        due = sa.or_(
            sa.and_(J.status == "queued", J.run_at <= now),
            sa.and_(J.status == "running", J.locked_at < stale_before),
        )
        with self._write() as conn:  # SQLite: under the write lock; PostgreSQL: skip rows others hold
            row = conn.execute(
                sa.select(J.id, J.kind, J.key, J.payload, J.attempts)
                .where(due, J.kind.in_(list(kinds)))
                .order_by(sa.case((J.kind.in_(sorted(BACKGROUND)), 1), else_=0), J.run_at, J.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(
                jobs.update()
                .where(J.id == row.id)
                .values(status="running", locked_by=worker, locked_at=now, attempts=J.attempts + 1)
            )
        return Job(row.id, row.kind, row.key, orjson.loads(row.payload), row.attempts + 1)

    def renew_job(self, job_id: int, worker: str, now: datetime) -> bool:
        with self._write() as conn:
            found = conn.execute(
                jobs.update()
                .where(J.id == job_id, J.locked_by == worker, J.status == "running")
                .values(locked_at=now)
                .returning(J.id)
            ).first()
        return found is not None

    def finish_job(
        self, job_id: int, worker: str, now: datetime, *, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        if error is None:
            values: dict[str, Any] = {"status": "done", "finished_at": now, "last_error": None}
        elif retry_at is not None:
            values = {"status": "queued", "run_at": retry_at, "last_error": error[:1000]}
        else:
            values = {"status": "failed", "finished_at": now, "last_error": error[:1000]}
        with self._write() as conn:  # only the claim's holder records an outcome
            conn.execute(
                jobs.update()
                .where(J.id == job_id, J.locked_by == worker, J.status == "running")
                .values(locked_by=None, locked_at=None, **values)
            )

    def list_jobs(self, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        query = sa.select(jobs).order_by(J.id.desc()).limit(limit)
        if status is not None:
            query = query.where(J.status == status)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def count_jobs(self, kind: str | None = None) -> dict[str, int]:
        query = sa.select(J.status, sa.func.count()).group_by(J.status)
        if kind is not None:
            query = query.where(J.kind == kind)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {str(status): int(n) for status, n in rows}

    def last_job(self, kind: str, status: str | None = None) -> JobRecord | None:
        query = sa.select(jobs).where(J.kind == kind).order_by(J.id.desc()).limit(1)
        if status is not None:
            query = query.where(J.status == status)
        with self._read() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def prune_jobs(self, finished_before: datetime) -> int:
        with self._write() as conn:
            gone = conn.execute(
                jobs.delete().where(J.status.in_(["done", "failed"]), J.finished_at < finished_before).returning(J.id)
            ).all()
        return len(gone)


def _record(r: Any) -> JobRecord:
    return JobRecord(r.id, r.kind, r.key, r.status, r.attempts, r.run_at, r.locked_by, r.last_error, r.finished_at)
