"""Background work as jobs in the database: `paperfeed worker` processes (any number, on any machines) and, on
SQLite, a thread inside `paperfeed serve` plan and run them.

Planning is idempotent: each periodic job's key names its period ("embed:2026-11-22T21:40"), and a key is queued
once, so every worker may plan every round. Claiming is atomic (see :mod:`paperfeed.store.queue`), so each job runs
in one worker. A running job's claim is renewed every ``lease / 3``; a worker that dies leaves a claim that goes
stale after ``lease``, and another worker runs the job again. A failed job is retried with backoff, then marked
failed with its error (``paperfeed jobs`` lists them).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from paperfeed.errors import PaperfeedError
from paperfeed.store import Store
from paperfeed.store.queue import Job

log = logging.getLogger("paperfeed.worker")
Handler = Callable[[Job], str]  # runs the job; returns a one-line summary
KEEP_FINISHED = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job planned every ``every``, or (with ``daily_after_hour``) once a day from that hour (UTC) on."""

    kind: str
    every: timedelta = timedelta(hours=1)
    daily_after_hour: int | None = None

    def key(self, now: datetime) -> str | None:
        """The key of the period ``now`` falls in; None before the daily hour."""
        if self.daily_after_hour is not None:
            return f"{self.kind}:{now.date().isoformat()}" if now.hour >= self.daily_after_hour else None
        step = int(self.every.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        return f"{self.kind}:{start.isoformat(timespec='minutes').removesuffix('+00:00')}"


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    ok: bool
    summary: str


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self, store: Store, handlers: Mapping[str, Handler], periodic: tuple[Periodic, ...] = (), *,
        name: str | None = None, lease: timedelta = timedelta(minutes=10), max_attempts: int = 3,
        retry_base: timedelta = timedelta(minutes=1), clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.store, self.handlers, self.periodic = store, dict(handlers), periodic
        self.name = name or worker_name()
        self.lease, self.max_attempts, self.retry_base, self.clock = lease, max_attempts, retry_base, clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def plan(self) -> list[str]:
        """Queue the periodic jobs whose period has come; the keys this call queued."""
        now = self.clock()
        queued = []
        for job in self.periodic:
            key = job.key(now)
            if key is not None and job.kind in self.handlers and self.store.enqueue_job(job.kind, key, {}, now):
                queued.append(key)
        if queued:
            self.store.prune_jobs(now - KEEP_FINISHED)
        return queued

    def run_one(self) -> Outcome | None:
        """Claim one due job and run it; None when nothing is due."""
        now = self.clock()
        job = self.store.claim_job(self.name, now, now - self.lease, list(self.handlers))
        if job is None:
            return None
        keeper = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job, keeper), daemon=True)
        renewer.start()
        try:
            summary = self.handlers[job.kind](job)
        except Exception as exc:
            message = exc.message if isinstance(exc, PaperfeedError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, PaperfeedError):
                log.error("job %s crashed:\n%s", job.key, traceback.format_exc())
            retry = None
            if job.attempts < self.max_attempts:
                retry = self.clock() + self.retry_base * 2 ** (job.attempts - 1)
            self.store.finish_job(job.id, self.name, self.clock(), error=message, retry_at=retry)
            log.warning("job %s failed (attempt %d): %s", job.key, job.attempts, message)
            return Outcome(job, False, message)
        finally:
            keeper.set()
            renewer.join()
        self.store.finish_job(job.id, self.name, self.clock())
        log.info("job %s done: %s", job.key, summary)
        return Outcome(job, True, summary)

    def _renew(self, job: Job, done: threading.Event) -> None:
        while not done.wait(self.lease.total_seconds() / 3):
            try:
                self.store.renew_job(job.id, self.name, self.clock())
            except PaperfeedError as exc:  # the database is away for a moment: try at the next beat
                log.warning("could not renew the claim on %s: %s", job.key, exc.message)

    def drain(self) -> list[Outcome]:
        """Plan, then run due jobs until none is left (what `paperfeed worker --once` does)."""
        self.plan()
        outcomes = []
        while (outcome := self.run_one()) is not None:
            outcomes.append(outcome)
        return outcomes

    def run_forever(self, poll: float = 5.0, *, nice: int = 0) -> None:
        """Plan and run jobs until :meth:`stop`; a database outage is logged and waited out. ``nice`` lowers
        this thread's CPU priority (Linux schedules threads one by one), so that jobs running inside a web
        process leave the cores to requests first."""
        if nice:
            _lower_priority(nice)
        while not self._stop.is_set():
            try:
                self.plan()
                while not self._stop.is_set() and self.run_one() is not None:
                    pass
            except PaperfeedError as exc:
                log.warning("worker round failed: %s", exc.message)
            self._wake.wait(poll)
            self._wake.clear()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called: a long job asks between its steps and returns early."""
        return self._stop.is_set()

    def wake(self) -> None:
        """Look for jobs now instead of at the next poll (a confirmation mail was queued)."""
        self._wake.set()

    def start(self, poll: float = 5.0, *, nice: int = 10) -> None:
        """Run jobs in a thread of this process (``paperfeed serve`` on SQLite), at a lower priority."""
        self._thread = threading.Thread(
            target=self.run_forever, args=(poll,), kwargs={"nice": nice}, name="paperfeed-worker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


def _lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value (threads it starts later, such as torch's, inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run at the normal priority
        log.info("could not lower the job thread's priority: %s", exc)
