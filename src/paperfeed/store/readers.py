"""The store interface for what readers make and own (not the papers): accounts, sessions, API
tokens, votes, comments, collections and moderation. Every backend implements it beside
:class:`paperfeed.store.base.Store`.

Secrets never reach the store in the clear: sessions and tokens are looked up by a hash of the value the
client holds, passwords arrive already hashed (argon2, in :mod:`paperfeed.accounts`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from paperfeed.models import ApiToken, Collection, Comment, Paper, User

UserPapers = Literal["upvoted", "submitted"]


@dataclass(frozen=True, slots=True)
class Signals:
    """What a reader told us: papers liked (upvoted or collected), papers dismissed, and their interests."""

    liked: list[int]
    dismissed: list[int]
    interests: str


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str


class ReaderData(abc.ABC):
    """What readers do: sign up, vote, comment, submit, collect; and what admins undo."""

    # -- accounts ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_user(self, name: str, email: str | None, password_hash: str, *, is_admin: bool = False) -> User:
        """A new account; Conflict when the name is taken (ignoring case)."""

    @abc.abstractmethod
    def credentials(self, name: str) -> Credentials | None:
        """The account called ``name`` (any case) and its password hash, or None."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User | None:
        """The account called ``name`` (any case), or None."""

    @abc.abstractmethod
    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a password hash (after a rehash with stronger parameters)."""

    @abc.abstractmethod
    def set_admin(self, name: str, is_admin: bool) -> User:
        """Grant or take back admin rights; NotFound when there is no such user."""

    # -- sessions and tokens ----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_session(self, token_hash: str, user_id: int, expires_at: datetime) -> None:
        """Remember a login until ``expires_at``."""

    @abc.abstractmethod
    def session_user(self, token_hash: str, now: datetime) -> User | None:
        """The user of an unexpired session, or None."""

    @abc.abstractmethod
    def delete_session(self, token_hash: str) -> None:
        """Forget a session (log out); expired sessions of everyone go too."""

    @abc.abstractmethod
    def create_token(self, token_hash: str, user_id: int, name: str) -> ApiToken:
        """A new API token for ``user_id``."""

    @abc.abstractmethod
    def token_user(self, token_hash: str, now: datetime) -> User | None:
        """The owner of an API token (recording its use), or None."""

    @abc.abstractmethod
    def list_tokens(self, user_id: int) -> list[ApiToken]:
        """The user's API tokens, newest first."""

    @abc.abstractmethod
    def delete_token(self, user_id: int, token_id: int) -> None:
        """Revoke one of the user's tokens; NotFound when it is not theirs."""

    # -- votes and comments -----------------------------------------------------------------------------
    @abc.abstractmethod
    def set_vote(self, user_id: int, arxiv_id: str, up: bool, now: datetime) -> int:
        """Upvote (``up``) or take the upvote back, idempotently; return the paper's upvotes after it.
        NotFound when the paper is not stored."""

    @abc.abstractmethod
    def voted(self, user_id: int, arxiv_ids: Sequence[str]) -> set[str]:
        """Those of ``arxiv_ids`` the user has upvoted."""

    @abc.abstractmethod
    def add_comment(self, user_id: int, arxiv_id: str, body: str, now: datetime, html: str = "") -> Comment:
        """Append a comment (its Markdown and the sanitised HTML made from it) to a paper's thread; NotFound
        when the paper is not stored."""

    @abc.abstractmethod
    def count_comments(self, arxiv_id: str, *, include_hidden: bool = False) -> int:
        """How many comments a paper's thread has (hidden ones too when asked)."""

    @abc.abstractmethod
    def list_comments(
        self, arxiv_id: str, *, include_hidden: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Comment]:
        """A paper's thread, oldest first."""

    @abc.abstractmethod
    def set_comment_hidden(self, comment_id: int, hidden: bool) -> Comment:
        """Hide or show a comment (moderation); NotFound when there is no such comment."""

    # -- submissions, user pages, moderation ------------------------------------------------------------
    @abc.abstractmethod
    def mark_submitted(self, arxiv_id: str, user_name: str, now: datetime) -> Paper:
        """Record who put a stored paper on the daily list and when; Conflict when someone already did."""

    @abc.abstractmethod
    def user_papers(self, user_id: int, kind: UserPapers, limit: int, offset: int) -> list[Paper]:
        """Papers the user upvoted or submitted, most recent first."""

    @abc.abstractmethod
    def remove_paper(self, arxiv_id: str, removed_by: str, reason: str | None, now: datetime) -> None:
        """Delete a paper with its votes, comments and embedding, and keep imports from bringing it back."""

    @abc.abstractmethod
    def removed_ids(self, arxiv_ids: Sequence[str]) -> set[str]:
        """Those of ``arxiv_ids`` that an admin removed."""

    # -- recommendations ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_dismissed(self, user_id: int, arxiv_id: str, dismissed: bool, now: datetime) -> None:
        """Mark a paper "not interested" for a user, or take the mark back (idempotent)."""

    @abc.abstractmethod
    def set_interests(self, user_id: int, text: str) -> None:
        """Replace a user's free-text statement of interests."""

    @abc.abstractmethod
    def signals(self, user_id: int) -> Signals:
        """The user's liked and dismissed paper keys (most recent first) and interests."""

    @abc.abstractmethod
    def interactions(self) -> list[tuple[int, int]]:
        """Every (user id, paper key) pair of an upvote or a collected paper: the community's signal."""

    @abc.abstractmethod
    def interactions_mark(self) -> tuple[int, ...]:
        """A cheap value that changes whenever :meth:`interactions` would."""

    # -- collections -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_collection(
        self, user_id: int, name: str, slug: str, public: bool, now: datetime, *, papers: Sequence[int] = ()
    ) -> Collection:
        """A new collection, empty or holding ``papers`` (keys), in one transaction; Conflict when the user
        already has one with this slug."""

    @abc.abstractmethod
    def list_collections(self, owner: str, *, include_private: bool) -> list[Collection]:
        """The owner's collections, by name."""

    @abc.abstractmethod
    def get_collection(self, owner: str, slug: str) -> Collection | None:
        """One collection by its owner and slug, or None."""

    @abc.abstractmethod
    def collection_papers(self, collection_id: int) -> list[Paper]:
        """The papers in a collection, most recently added first."""

    @abc.abstractmethod
    def set_in_collection(self, collection_id: int, arxiv_id: str, present: bool, now: datetime) -> None:
        """Add (``present``) or remove a paper, idempotently; NotFound when the paper is not stored."""

    @abc.abstractmethod
    def delete_collection(self, collection_id: int) -> None:
        """Delete a collection (its papers stay)."""
