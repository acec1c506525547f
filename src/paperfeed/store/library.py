"""The store interface for a reader's library: private notes on papers, papers marked read, and bulk adds to a
collection (an import)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from paperfeed.models import Paper


@dataclass(frozen=True, slots=True)
class Note:
    arxiv_id: str
    body: str  # Markdown, as written
    html: str  # sanitised when written
    updated_at: datetime


class LibraryStore(abc.ABC):
    @abc.abstractmethod
    def set_note(self, user_id: int, arxiv_id: str, body: str, html: str, now: datetime) -> Note | None:
        """Write the reader's note on a paper (an empty body deletes it: None); NotFound for an unknown paper."""

    @abc.abstractmethod
    def notes(self, user_id: int, arxiv_ids: Sequence[str]) -> dict[str, Note]: ...

    @abc.abstractmethod
    def set_read(self, user_id: int, arxiv_id: str, read: bool, now: datetime) -> None:
        """Mark a paper read or unread, idempotently; NotFound for an unknown paper."""

    @abc.abstractmethod
    def read_ids(self, user_id: int, arxiv_ids: Sequence[str]) -> set[str]:
        """Which of these papers the reader marked read."""

    @abc.abstractmethod
    def add_to_collection(self, collection_id: int, keys: Sequence[int], now: datetime) -> int:
        """Add papers (keys) to a collection in one transaction; how many were not in it yet."""

    @abc.abstractmethod
    def saved_papers(self, user_id: int) -> list[Paper]:
        """Every paper in any of the reader's collections, once, most recently added first."""
