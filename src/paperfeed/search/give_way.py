"""Background work gives way to readers: while a web process on this machine serves several requests at once, the
MiniLM backlog and enrichment wait between small steps of work, so the requests get the cores.

Web processes and the worker of one machine share the search folder, so the signal is a marker file there
(:data:`MARKER`) whose modification time a web process renews (at most every TOUCH_EVERY seconds) while two or more
of its requests run at the same time. One reader's requests, one after the other, and a monitor polling
/api/status do not count: they leave the cores mostly free, and the worker, at a lower CPU priority, takes what is
left. The worker reads the marker's time (one ``stat``) before each step (:class:`Pacer`): a slice of SLICE texts
for MiniLM, a batch for enrichment.

The wait is bounded: waiting takes at most MAX_SHARE of the time (three times as long as the work done so far, less
what was already waited), so a site under constant load still finishes its backlog, at a quarter of its idle rate
or more; and
``should_stop`` is asked while waiting, so a worker told to stop does so at once. Measured in docs/decisions.md
("The backlog gives way to readers").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from paperfeed.search.embed import TextEncoder, Vectors

MARKER = "readers-busy"  # in the search folder
TOUCH_EVERY = 0.25  # seconds between two renewals of the marker by one process
BUSY_FOR = 0.75  # the marker counts this long after its last renewal
SLICE = 32  # texts embedded between two looks at the marker (about half a second of MiniLM on two cores)
MAX_SHARE = 0.75  # of the time a slice may spend waiting: it waits at most 3x its own work
POLL = 0.1  # seconds between two looks while waiting
MAX_CREDIT = 30.0  # seconds of waiting a long quiet spell saves up for the next crowd
T = TypeVar("T")


class ReaderActivity:
    """The marker of one search folder: :meth:`enter` / :meth:`leave` around each request (web processes),
    :meth:`busy` and :meth:`wait` (the worker). ``clock`` and ``sleep`` are for tests."""

    def __init__(
        self, folder: Path, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.path = folder / MARKER
        self.clock, self.sleep = clock, sleep
        self._running = 0
        self._lock = threading.Lock()
        self._touched = 0.0

    # -- web processes ----------------------------------------------------------------------------------

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request while it runs; renew the marker while two or more run at once."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def enter(self) -> None:
        with self._lock:
            self._running += 1
            crowded = self._running > 1
        if crowded:
            self.touch()

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            crowded = self._running > 0  # another request is still running: the crowd has not gone yet
        if crowded:
            self.touch()

    def touch(self) -> None:
        """Renew the marker (at most every TOUCH_EVERY seconds; a folder that cannot be written is ignored: the
        embedding then simply does not wait)."""
        now = self.clock()
        if now - self._touched < TOUCH_EVERY:
            return
        self._touched = now
        try:
            self.path.touch()
            os.utime(self.path, (now, now))
        except OSError:
            pass

    # -- the worker -------------------------------------------------------------------------------------

    def busy(self) -> bool:
        """Whether a web process renewed the marker in the last BUSY_FOR seconds."""
        try:
            return self.clock() - self.path.stat().st_mtime < BUSY_FOR
        except OSError:
            return False

    def wait(self, limit: float, should_stop: Callable[[], bool] = lambda: False) -> float:
        """Wait while readers are busy, at most ``limit`` seconds (and not once ``should_stop`` says so); return
        how long it waited."""
        started = self.clock()
        deadline = started + limit
        while (left := deadline - self.clock()) > 0.001 and not should_stop() and self.busy():
            self.sleep(min(POLL, left))
        return self.clock() - started


class Interrupted(Exception):
    """The worker was told to stop in the middle of a batch: the batch is dropped, and done again later."""


class Pacer:
    """Runs a background job's steps, each after giving way to busy readers within the bound of the module
    docstring: a step may be preceded by a wait of up to three times the work done so far (less what was
    already waited), and by at least POLL when readers are busy (so a burst of requests is not met by a step
    already under way)."""

    def __init__(self, activity: ReaderActivity, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.activity, self.should_stop = activity, should_stop
        self.waited = 0.0  # seconds spent giving way (the job reports it)
        self._credit = 0.0  # seconds of waiting the work done so far allows

    def run(self, step: Callable[[], T]) -> T:
        if self.activity.busy():
            waited = self.activity.wait(max(self._credit, POLL), self.should_stop)
            self._credit = max(0.0, self._credit - waited)
            self.waited += waited
        began = self.activity.clock()
        out = step()
        worked = max(0.0, self.activity.clock() - began)
        self._credit = min(self._credit + worked * MAX_SHARE / (1 - MAX_SHARE), MAX_CREDIT)
        return out


class GivingWay:
    """A tier's model that embeds SLICE texts at a time, each slice a step of ``pacer``. Everything else is the
    wrapped encoder's."""

    def __init__(self, inner: TextEncoder, pacer: Pacer) -> None:
        self.inner, self.pacer = inner, pacer
        self.model_id, self.dim = inner.model_id, inner.dim

    @property
    def waited(self) -> float:
        return self.pacer.waited

    @property
    def precision(self) -> str:
        return self.inner.precision

    @property
    def device(self) -> str:
        return str(getattr(self.inner, "device", "cpu"))

    def encode(self, texts: Sequence[str]) -> Vectors:
        """The texts' vectors, SLICE at a time; raises Interrupted when the worker is told to stop between two
        slices (a batch on one slow core is tens of seconds, more than a service manager waits)."""
        # longest first, as the model itself orders a batch, so each slice pads little; the order is restored
        order = np.argsort([-len(t) for t in texts], kind="stable")
        ordered = [texts[i] for i in order]
        parts = []
        for start in range(0, len(ordered), SLICE):
            if self.pacer.should_stop():
                raise Interrupted(f"stopped after {start} of {len(ordered)} texts")
            parts.append(self.pacer.run(partial(self.inner.encode, ordered[start : start + SLICE])))
        if not parts:
            return self.inner.encode([])
        out = np.empty((len(texts), self.dim), np.float32)
        out[order] = np.concatenate(parts)
        return out

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        return self.inner.encode_query(text, alone=alone)
