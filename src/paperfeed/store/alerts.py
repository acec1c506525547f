"""The store interface for alerts: readers' webhooks, and the (reader, paper) matches already made, so that each
match is sent once, by webhook and in the digest's "followed" section."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from paperfeed.models import Paper, Webhook


@dataclass(frozen=True, slots=True)
class AlertRow:
    user_id: int
    paper_key: int
    follow_id: int
    for_digest: bool
    webhook_batch: str | None  # the batch it goes out in, when the reader has a webhook for it


class AlertStore(abc.ABC):
    @abc.abstractmethod
    def set_webhook(self, user_id: int, url: str, secret: str, now: datetime) -> Webhook:
        """The reader's webhook, set (replacing any) and switched on with no failures."""

    @abc.abstractmethod
    def get_webhook(self, user_id: int) -> Webhook | None: ...

    @abc.abstractmethod
    def webhook_by_id(self, webhook_id: int) -> Webhook | None: ...

    @abc.abstractmethod
    def active_webhooks(self, user_ids: Sequence[int]) -> dict[int, Webhook]:
        """The switched-on webhooks of these readers, by user id."""

    @abc.abstractmethod
    def delete_webhook(self, user_id: int) -> bool: ...

    @abc.abstractmethod
    def webhook_delivered(self, webhook_id: int, now: datetime) -> None:
        """A delivery succeeded: the run of failures starts over."""

    @abc.abstractmethod
    def mark_failed_webhook(self, outbox_id: int, error: str, now: datetime, disable_after: int) -> int:
        """The outbox row failed for good; one more failure for its webhook, which is switched off (1 returned)
        when that makes ``disable_after`` in a row; 0 otherwise. One transaction."""

    @abc.abstractmethod
    def record_alerts(self, rows: Sequence[AlertRow], now: datetime) -> int:
        """Record matches (a (user, paper) pair once for good, with the first row given for it); how many were
        new."""

    @abc.abstractmethod
    def alerts_in_batch(self, batch: str) -> set[tuple[int, int]]:
        """The (user id, paper key) pairs recorded to go out in webhook batch ``batch``."""

    @abc.abstractmethod
    def alert_papers(self, user_id: int, since: date, limit: int) -> list[Paper]:
        """The reader's matches in the feed from ``since``, newest first (their personal feed)."""

    @abc.abstractmethod
    def digest_alerts(self, user_id: int, edition: str, limit: int) -> list[Paper]:
        """The reader's matches for the digest not yet in another edition (those already put in ``edition``
        too, so composing an edition again gives the same mail), newest first."""

    @abc.abstractmethod
    def mark_digested(self, user_id: int, arxiv_ids: Sequence[str], edition: str) -> None:
        """These matches went into ``edition``."""
