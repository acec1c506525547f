"""Delivery: the outbox, drained over SMTP.

The guarantee (docs/digests.md): every queued mail is delivered at least once, after any crash or outage; it is
sent twice only when the process dies after the SMTP server accepted it and before the outbox recorded that, and
then the second copy is byte-for-byte the first, with the same Message-ID, so receiving servers can drop it.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Literal

from paperfeed.errors import MailError
from paperfeed.store import Store
from paperfeed.store.digests import ClaimedMail

Security = Literal["none", "starttls", "tls"]
PAUSE_AFTER = 3  # permanent failures in a row before a subscription is paused
STALE_CLAIM = timedelta(minutes=10)  # a claim older than this belonged to a sender that died


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    sender: str = "paperfeed <digest@localhost>"
    ca_file: str | None = None  # a private CA that signed the SMTP server's certificate


class TransientMailError(MailError):
    """Try again later: a 4xx answer, a refused connection, a timeout."""


class ServerUnreachable(TransientMailError):
    """The SMTP server cannot be reached or dropped the connection: no later mail of this run would fare
    better, so the run stops and gives the rest back."""


class PermanentMailError(MailError):
    """Do not try again: a 5xx answer for this recipient or message."""


class SmtpSender:
    """One SMTP connection, opened on first use and reused for every mail of a run."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            context = ssl.create_default_context(cafile=s.ca_file)  # certificates and host names are checked
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentMailError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"cannot reach the SMTP server {s.host}:{s.port}: {exc}") from exc
        return smtp

    def send(self, recipient: str, message: bytes) -> None:
        """Hand one message over; raises TransientMailError or PermanentMailError."""
        if self._smtp is None:
            self._smtp = self._connect()
        sender = parseaddr(self.settings.sender)[1]
        try:
            refused = self._smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _by_code(code, text) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _by_code(exc.smtp_code, exc.smtp_error) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ServerUnreachable(f"SMTP connection failed: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise _by_code(code, text)

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def _by_code(code: int, text: bytes | str) -> MailError:
    reason = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    kind = PermanentMailError if 500 <= code < 600 else TransientMailError
    return kind(f"SMTP {code}: {reason}")


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    paused: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempt: int, base: float = 60.0, cap: float = 6 * 3600.0) -> timedelta:
    """Wait before attempt ``attempt + 1``: 1, 2, 4, ... minutes, at most 6 hours."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def deliver(
    store: Store,
    sender: SmtpSender,
    *,
    per_minute: int = 600,
    max_attempts: int = 10,
    batch: int = 50,
    stale_after: timedelta = STALE_CLAIM,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    on_sent: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Send every mail that is due, at most ``per_minute`` a minute (spaced by ``clock``, in seconds); record
    each outcome as it happens."""
    report = DeliveryReport()
    interval = 60.0 / per_minute if per_minute > 0 else 0.0
    last = 0.0
    try:
        while claimed := store.claim_due(now(), batch, now() - stale_after):
            for mail in claimed:
                wait = last + interval - clock()
                if wait > 0:
                    sleep(wait)
                last = clock()
                try:
                    sender.send(mail.recipient, mail.message)
                except PermanentMailError as exc:
                    report.failed += 1
                    report.paused += store.mark_failed(mail.id, exc.message, now(), PAUSE_AFTER)
                    report.errors.append(f"{mail.recipient}: {exc.message}")
                    continue
                except TransientMailError as exc:
                    if mail.attempts >= max_attempts:
                        report.failed += 1
                        reason = f"gave up after {mail.attempts} attempts: {exc.message}"
                        report.paused += store.mark_failed(mail.id, reason, now(), PAUSE_AFTER)
                    else:
                        report.retried += 1
                        store.mark_retry(mail.id, exc.message, now() + backoff(mail.attempts))
                    report.errors.append(f"{mail.recipient}: {exc.message}")
                    if isinstance(exc, ServerUnreachable):
                        _release(store, claimed[claimed.index(mail) + 1 :], exc.message, now())
                        return report  # the server is down: the rest wait for the next run
                    continue
                store.mark_sent(mail.id, now())
                report.sent += 1
                if on_sent:
                    on_sent(report.sent)
    finally:
        sender.close()
    return report


def _release(store: Store, mails: Sequence[ClaimedMail], error: str, when: datetime) -> None:
    """Give back claims not tried because the server is down (they stay due at once, no attempt counted)."""
    for mail in mails:
        store.mark_retry(mail.id, error, when)
