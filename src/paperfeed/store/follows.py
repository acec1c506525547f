"""The store interface for follows, author pages and the personal feed token's generation."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from paperfeed.models import Follow, User


@dataclass(frozen=True, slots=True)
class AuthorFacts:
    """What the papers say about one author key: the spellings used (most used first), the newest papers' keys,
    how many papers in all, co-authors and categories (name or category, papers together), most first."""

    names: list[str]
    keys: list[int]
    total: int
    coauthors: list[tuple[str, int]]
    categories: list[tuple[str, int]]


class FollowStore(abc.ABC):
    @abc.abstractmethod
    def add_follow(
        self,
        user_id: int,
        kind: str,
        value: str,
        key: str,
        now: datetime,
        *,
        limit: int,
        by_digest: bool = True,
        by_webhook: bool = True,
    ) -> tuple[Follow, bool]:
        """A new follow and True (the existing one, unchanged, and False when the reader already follows the
        same kind and key); Conflict when the reader has ``limit`` follows already. Atomic: nothing is written
        on an error."""

    @abc.abstractmethod
    def all_follows(self) -> list[Follow]:
        """Every reader's follows (what the alerts job matches new papers against)."""

    @abc.abstractmethod
    def list_follows(self, user_id: int) -> list[Follow]:
        """The reader's follows, oldest first."""

    @abc.abstractmethod
    def delete_follow(self, user_id: int, follow_id: int) -> bool:
        """Forget one of the reader's follows; False when the reader has no follow with that id."""

    @abc.abstractmethod
    def author_facts(self, key: str, *, limit: int, offset: int = 0) -> AuthorFacts:
        """The author with this key (see :func:`paperfeed.models.author_key`): a page of their papers' keys,
        newest first (by feed date), and the rest of AuthorFacts."""

    @abc.abstractmethod
    def papers_by_authors(self, keys: Sequence[str], since: date, limit: int) -> list[int]:
        """Keys of papers (newest first, at most ``limit``) in the feed from ``since`` by any author key given."""

    @abc.abstractmethod
    def papers_in_categories(self, categories: Sequence[str], since: date, limit: int) -> list[int]:
        """Keys of papers (newest first, at most ``limit``) in the feed from ``since`` in any category given; an
        archive (``math``) takes in its categories (``math.PR``)."""

    @abc.abstractmethod
    def user_names(self, user_ids: Sequence[int]) -> dict[int, str]:
        """Readers' names by id."""

    @abc.abstractmethod
    def feed_reader(self, user_id: int) -> tuple[User, int] | None:
        """The reader with this id and their personal-feed token generation (None for no such reader)."""

    @abc.abstractmethod
    def next_feed_generation(self, user_id: int) -> int:
        """Revoke the reader's personal-feed token: its generation goes up by one; the new generation."""
