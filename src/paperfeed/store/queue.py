"""The store interface for background jobs: a queue in the database that any number of worker processes, on any
number of machines, share. A job's key names it once and for all ("update:2026-11-22T06:00"), so planning the
same job twice queues it once; claiming is atomic (SQLite's write lock, PostgreSQL's ``FOR UPDATE SKIP LOCKED``),
so no job runs in two workers at once. A worker renews its claim while it runs; a claim left stale by a dead
worker is taken over, and the job runs again (jobs are written to be safe to repeat)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

BACKGROUND = frozenset({"embed-chunk"})  # kinds claimed only when no other job is due: a backfill's many chunks
# never keep a confirmation mail or an update waiting


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1  # counting this one


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    key: str
    status: str  # queued | running | done | failed
    attempts: int
    run_at: datetime
    locked_by: str | None
    last_error: str | None
    finished_at: datetime | None


class JobQueue(abc.ABC):
    @abc.abstractmethod
    def enqueue_job(self, kind: str, key: str, payload: dict[str, Any], run_at: datetime) -> bool:
        """Queue a job unless one with ``key`` was ever queued; True when this call queued it."""

    @abc.abstractmethod
    def claim_job(self, worker: str, now: datetime, stale_before: datetime, kinds: Sequence[str]) -> Job | None:
        """Take the oldest due job of ``kinds`` (queued and due, or running with a claim older than
        ``stale_before``) for ``worker``; None when there is none."""

    @abc.abstractmethod
    def renew_job(self, job_id: int, worker: str, now: datetime) -> bool:
        """Keep ``worker``'s claim fresh; False when the claim is no longer its own."""

    @abc.abstractmethod
    def finish_job(
        self, job_id: int, worker: str, now: datetime, *, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        """Record the outcome: done (no error), queued again at ``retry_at``, or failed for good."""

    @abc.abstractmethod
    def list_jobs(self, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        """The most recent jobs, newest first."""

    @abc.abstractmethod
    def count_jobs(self, kind: str | None = None) -> dict[str, int]:
        """How many jobs (of ``kind``, or all) are in each state (queued, running, done, failed), over the kept
        history."""

    @abc.abstractmethod
    def last_job(self, kind: str, status: str | None = None) -> JobRecord | None:
        """The most recently queued job of ``kind`` (in ``status`` when given: the last successful update)."""

    @abc.abstractmethod
    def prune_jobs(self, finished_before: datetime) -> int:
        """Forget done and failed jobs finished before the given time; how many."""
