"""A web process keeps its search indexes in step with the store from a thread of its own, so that readers do not.

Every query first takes in what the store committed since the last look (``SearchEngine.catch_up``): cheap when
little changed, but the first query after a large write pays for all of it, under the index's lock, while every
other query of the process waits for it. On a new instance that was the first search after the first tier was
done: 120,045 vectors read from SQLite (about 3 s), with 32 connections queued behind it, and then the first-tier
model loaded in a request (bench/first_hour.py --load: p99 3.1 s against 1.05 s once warm). The keeper looks every
few seconds instead, and loads the query models as soon as they are needed, so a query finds only the last few
seconds' writes to take in. Queries still catch up themselves: what a reader just wrote is in their next search,
whatever the keeper is doing.
"""

from __future__ import annotations

import logging
import threading

from paperfeed.errors import PaperfeedError
from paperfeed.search.engine import SearchEngine

log = logging.getLogger("paperfeed.search")


class IndexKeeper:
    """Calls ``engine.catch_up()`` and ``engine.warm()`` at start and then every ``every`` seconds, from a daemon
    thread, until :meth:`stop`. A failed look is logged and tried again at the next one."""

    def __init__(self, engine: SearchEngine, every: float) -> None:
        self.engine, self.every = engine, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.looks = 0  # completed looks (for tests and the curious)

    def start(self) -> None:
        if self.every <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="paperfeed-index-keeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to end and wait for its current look (a bounded wait: it is a daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.engine.catch_up()
                self.engine.warm()
            except PaperfeedError as exc:  # a model that cannot load: queries say so themselves
                log.warning("keeping the search indexes warm: %s", exc.message)
            except Exception:  # a thread's exception would be lost; the next look tries again
                log.exception("keeping the search indexes in step with the store failed")
            self.looks += 1
            self._stop.wait(self.every)
