"""The built-in schedule: inside `paperfeed serve`, a thread that delivers due mails every half minute
(confirmations, retries) and, once a day at ``hour`` (UTC), composes that day's editions.

Several workers may each run one: composing is idempotent per (subscription, edition) and claiming a mail is
atomic, so they share the work without sending anything twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from paperfeed.digest.compose import MailSettings
from paperfeed.digest.run import Personal, compose
from paperfeed.digest.send import SmtpSender, SmtpSettings, deliver
from paperfeed.errors import PaperfeedError
from paperfeed.store import Store

STATE_KEY = "digest:last_composed"
log = logging.getLogger("paperfeed.digest")


class DigestScheduler:
    def __init__(
        self, store: Store, mail: MailSettings, smtp: SmtpSettings, *, hour: int, per_minute: int,
        interval: float = 30.0, personal: Personal | None = None,
    ) -> None:  # fmt: skip
        self.store, self.mail, self.smtp, self.personal = store, mail, smtp, personal
        self.hour, self.per_minute, self.interval = hour, per_minute, interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="paperfeed-digest", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run a round now (a confirmation mail was queued) instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def tick(self, now: datetime | None = None) -> None:
        """One round: compose today's editions if it is time and not yet done, then deliver what is due."""
        now = now or datetime.now(UTC)
        today = now.date().isoformat()
        state = self.store.get_state(STATE_KEY) or {}
        if now.hour >= self.hour and state.get("day") != today:
            report = compose(self.store, self.mail, now.date(), now=now, personal=self.personal)
            self.store.set_state(STATE_KEY, {"day": today, "queued": report.queued})
            log.warning("digest %s: %d mails queued", today, report.queued)
        deliver(self.store, SmtpSender(self.smtp), per_minute=self.per_minute)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except PaperfeedError as exc:  # an outage: say so and try again next round
                log.warning("digest round failed: %s", exc.message)
