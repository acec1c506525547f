"""The store interface for e-mail digests: subscriptions and the outbox (see docs/digests.md for the delivery
guarantee these operations make possible)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from paperfeed.models import Subscription


@dataclass(frozen=True, slots=True)
class Preferences:
    frequency: str = "daily"
    weekday: int = 0
    content: str = "trending"
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    max_papers: int = 10
    min_upvotes: int = 0
    confidence: float | None = None
    explore: bool = True


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One rendered mail to queue: to whom, for which edition, and the exact bytes to send every time."""

    subscription_id: int
    edition: str
    recipient: str
    message_id: str
    message: bytes
    channel: str = "mail"  # or "webhook": ``webhook_id`` is then set, and ``subscription_id`` ignored
    webhook_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimedMail:
    id: int
    subscription_id: int  # 0 for a webhook batch
    recipient: str
    message_id: str
    message: bytes
    attempts: int
    webhook_id: int | None = None


class DigestData(abc.ABC):
    @abc.abstractmethod
    def save_subscription(
        self, email: str, prefs: Preferences, user_id: int | None, now: datetime
    ) -> tuple[Subscription, bool]:
        """Create or update the subscription of ``email`` (any case). Returns it and whether it still needs
        confirming: a new or an unsubscribed address starts unconfirmed; a confirmed one keeps its state."""

    @abc.abstractmethod
    def add_subscription(
        self, email: str, prefs: Preferences, user_id: int | None, now: datetime
    ) -> tuple[Subscription, bool]:
        """The subscription of ``email`` (any case) and whether it was made now: a new address gets one,
        unconfirmed; an address that has one (in any state) is left exactly as it was."""

    @abc.abstractmethod
    def mailed_since(self, subscription_id: int, edition_prefix: str, since: datetime) -> bool:
        """Whether a mail whose edition starts with ``edition_prefix`` was queued for it at or after ``since``."""

    @abc.abstractmethod
    def get_subscription(self, subscription_id: int) -> Subscription | None: ...

    @abc.abstractmethod
    def update_subscription(self, subscription_id: int, prefs: Preferences) -> Subscription:
        """Change what a subscription receives; NotFound when there is none."""

    @abc.abstractmethod
    def confirm_subscription(self, subscription_id: int, now: datetime) -> Subscription:
        """Mark confirmed (idempotent); also resumes a paused one. NotFound when there is none."""

    @abc.abstractmethod
    def unsubscribe(self, subscription_id: int, now: datetime) -> None:
        """Stop every later edition (idempotent); queued mails not yet sent are dropped."""

    @abc.abstractmethod
    def due_subscriptions(self, frequency: str, weekday: int | None) -> list[Subscription]:
        """Confirmed, active subscriptions of ``frequency`` (on ``weekday`` for weekly ones)."""

    @abc.abstractmethod
    def enqueue(self, mails: Sequence[OutgoingMail], now: datetime) -> int:
        """Queue mails in one transaction; one already queued for its (subscription, edition) is kept as it
        was. Returns how many were new."""

    @abc.abstractmethod
    def queued_editions(self, edition: str, subscription_ids: Sequence[int]) -> set[int]:
        """Those of ``subscription_ids`` that already have a mail for ``edition``."""

    @abc.abstractmethod
    def claim_due(self, now: datetime, limit: int, stale_before: datetime, channel: str = "mail") -> list[ClaimedMail]:
        """Atomically take up to ``limit`` mails to send: pending ones whose time has come, and ones claimed
        before ``stale_before`` by a sender that never reported back (it crashed)."""

    @abc.abstractmethod
    def mark_sent(self, mail_id: int, now: datetime) -> None: ...

    @abc.abstractmethod
    def mark_retry(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        """A transient failure: back to pending, to be tried again at ``next_attempt_at``."""

    @abc.abstractmethod
    def mark_failed(self, mail_id: int, error: str, now: datetime, pause_after: int) -> bool:
        """A permanent failure: the mail is given up and its subscription's count of permanent failures grows;
        at ``pause_after`` in a row the subscription is paused. Returns whether it was paused now."""

    @abc.abstractmethod
    def record_feedback(self, subscription_id: int, arxiv_id: str, signal: str, now: datetime) -> None:
        """Record what the subscriber said about a mailed paper (relevant and not_for_me replace each other);
        NotFound for a paper that is not stored."""

    @abc.abstractmethod
    def feedback_counts(self, subscription_id: int) -> dict[str, int]:
        """How many papers the subscriber marked with each signal."""

    @abc.abstractmethod
    def set_record_opens(self, subscription_id: int, on: bool) -> Subscription: ...

    @abc.abstractmethod
    def prune_feedback(self, signal: str, before: datetime) -> int:
        """Delete ``signal`` records older than ``before``; how many."""

    @abc.abstractmethod
    def outbox_counts(self) -> dict[str, int]:
        """How many mails are in each status."""
