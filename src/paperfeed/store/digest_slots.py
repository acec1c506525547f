"""The store interface for what conformal and exploring digests remember: which papers each mail held, in which
role, with the scores they had, and the subscriber's judgements of them (paperfeed.digest.confident)."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SlotKind = Literal["confident", "probe", "explore"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One paper of one mail: ``probe`` the uniformly random calibration pick, ``explore`` "something new"."""

    arxiv_id: str
    kind: SlotKind
    scores: Mapping[str, float]  # each scoring model's score of the paper when it was mailed
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Labelled:
    """A mailed paper the subscriber judged: relevant, or not for them."""

    subscription_id: int
    scores: Mapping[str, float]
    topic: str | None
    relevant: bool


class DigestSlotData(abc.ABC):
    @abc.abstractmethod
    def record_slots(self, subscription_id: int, edition: str, slots: Sequence[Slot], now: datetime) -> None:
        """Remember what one mail held (idempotent per subscription, edition and paper; unknown papers skipped)."""

    @abc.abstractmethod
    def labelled_slots(
        self, kind: SlotKind, since: datetime, *, subscription_id: int | None = None, frequency: str | None = None,
        limit: int = 5000,
    ) -> list[Labelled]:  # fmt: skip
        """Slots of ``kind`` mailed since ``since`` that the subscriber judged, newest first: one subscription's,
        or (``subscription_id`` None) those of every confirmed "for you" subscription of ``frequency``."""

    @abc.abstractmethod
    def feedback_by_topic(self, subscription_id: int, limit: int = 10) -> list[tuple[str, int, int]]:
        """(primary category, papers marked relevant, papers marked not for me), the most judged first."""
