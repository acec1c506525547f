"""SQL for what readers make and own: accounts, votes, comments, collections
(see :class:`paperfeed.store.readers.ReaderData`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import Conflict, NotFound, StoreError
from paperfeed.models import ApiToken, Collection, Comment, Paper, User
from paperfeed.store.readers import Credentials, ReaderData, Signals, UserPapers
from paperfeed.store.schema import (
    api_tokens,
    collection_papers,
    collections,
    comments,
    digest_feedback,
    dismissals,
    papers,
    removed_papers,
    sessions,
    subscriptions,
    users,
    votes,
)
from paperfeed.store.sql_plumbing import SqlPlumbing, paper_key


def _user(row: Any) -> User:
    return User(row.id, row.name, row.email, bool(row.is_admin), row.created_at)


def _comment(row: Any) -> Comment:
    return Comment(
        row.id, row.arxiv_id, row.user_id, row.user_name, row.body, row.created_at,
        bool(row.hidden), row.html or "",
    )  # fmt: skip


_USER_COLUMNS = (users.c.id, users.c.name, users.c.email, users.c.is_admin, users.c.created_at)
_COMMENT_QUERY = (
    sa.select(comments, papers.c.arxiv_id, users.c.name.label("user_name"))
    .join(papers, papers.c.id == comments.c.paper_id)
    .join(users, users.c.id == comments.c.user_id)
)


def _same_name(name: str) -> sa.ColumnElement[bool]:
    return sa.func.lower(users.c.name) == name.lower()


class ReaderMixin(SqlPlumbing, ReaderData):
    """ReaderData for :class:`paperfeed.store.sql.SqlStore`, which supplies ``_read``, ``_write``, ``_load``."""

    @staticmethod
    def _paper_id(conn: sa.Connection, arxiv_id: str) -> int:
        return paper_key(conn, arxiv_id)

    # -- accounts ---------------------------------------------------------------------------------------
    def create_user(self, name: str, email: str | None, password_hash: str, *, is_admin: bool = False) -> User:
        now = datetime.now(UTC)
        try:
            with self._write() as conn:
                new_id = conn.execute(
                    users.insert().values(
                        name=name, email=email, password_hash=password_hash, is_admin=is_admin, created_at=now
                    )
                ).inserted_primary_key
            if new_id is None:  # never with SQLite or PostgreSQL: they always report it
                raise StoreError("the database gave no id for the new row")
        except sa.exc.IntegrityError:
            raise Conflict(f"the name {name!r} is taken: choose another") from None
        return User(int(new_id[0]), name, email, is_admin, now)

    def credentials(self, name: str) -> Credentials | None:
        with self._read() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS, users.c.password_hash).where(_same_name(name))).first()
        return Credentials(_user(row), row.password_hash) if row else None

    def get_user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(_same_name(name))).first()
        return _user(row) if row else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self._write() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))

    def set_admin(self, name: str, is_admin: bool) -> User:
        with self._write() as conn:
            conn.execute(users.update().where(_same_name(name)).values(is_admin=is_admin))
        found = self.get_user(name)
        if found is None:
            raise NotFound(f"there is no user called {name!r}")
        return found

    # -- sessions and tokens ----------------------------------------------------------------------------
    def create_session(self, token_hash: str, user_id: int, expires_at: datetime) -> None:
        now = datetime.now(UTC)
        with self._write() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(
                sessions.insert().values(token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at)
            )

    def session_user(self, token_hash: str, now: datetime) -> User | None:
        query = (
            sa.select(*_USER_COLUMNS)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return _user(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        now = datetime.now(UTC)
        with self._write() as conn:
            conn.execute(
                sessions.delete().where(sa.or_(sessions.c.token_hash == token_hash, sessions.c.expires_at < now))
            )

    def create_token(self, token_hash: str, user_id: int, name: str) -> ApiToken:
        now = datetime.now(UTC)
        with self._write() as conn:
            new_id = conn.execute(
                api_tokens.insert().values(token_hash=token_hash, user_id=user_id, name=name, created_at=now)
            ).inserted_primary_key
            if new_id is None:  # never with SQLite or PostgreSQL: they always report it
                raise StoreError("the database gave no id for the new row")
        return ApiToken(int(new_id[0]), name, now)

    def token_user(self, token_hash: str, now: datetime) -> User | None:
        query = sa.select(*_USER_COLUMNS).join(api_tokens, api_tokens.c.user_id == users.c.id)
        with self._write() as conn:
            row = conn.execute(query.where(api_tokens.c.token_hash == token_hash)).first()
            if row is not None:
                conn.execute(api_tokens.update().where(api_tokens.c.token_hash == token_hash).values(last_used_at=now))
        return _user(row) if row else None

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        t = api_tokens.c
        query = sa.select(t.id, t.name, t.created_at, t.last_used_at).where(t.user_id == user_id).order_by(t.id.desc())
        with self._read() as conn:
            return [ApiToken(r.id, r.name, r.created_at, r.last_used_at) for r in conn.execute(query)]

    def delete_token(self, user_id: int, token_id: int) -> None:
        with self._write() as conn:
            gone = conn.execute(api_tokens.delete().where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id))
        if gone.rowcount == 0:
            raise NotFound(f"you have no token {token_id}")

    # -- votes and comments -----------------------------------------------------------------------------
    def set_vote(self, user_id: int, arxiv_id: str, up: bool, now: datetime) -> int:
        with self._write() as conn:
            paper_id = self._paper_id(conn, arxiv_id)
            if up:
                stmt = self._insert(votes).values(user_id=user_id, paper_id=paper_id, created_at=now)
                changed = len(conn.execute(stmt.on_conflict_do_nothing().returning(votes.c.user_id)).all())
            else:
                changed = conn.execute(
                    votes.delete().where(votes.c.user_id == user_id, votes.c.paper_id == paper_id)
                ).rowcount
            delta = (1 if up else -1) * changed  # only a vote that was not there (or was) changes the count
            if delta:
                conn.execute(
                    papers.update().where(papers.c.id == paper_id).values(local_upvotes=papers.c.local_upvotes + delta)
                )
            total = conn.execute(
                sa.select(papers.c.upvotes + papers.c.local_upvotes).where(papers.c.id == paper_id)
            ).scalar()
        return int(total or 0)

    def voted(self, user_id: int, arxiv_ids: Sequence[str]) -> set[str]:
        if not arxiv_ids:
            return set()
        query = (
            sa.select(papers.c.arxiv_id)
            .join(votes, votes.c.paper_id == papers.c.id)
            .where(votes.c.user_id == user_id, papers.c.arxiv_id.in_(list(arxiv_ids)))
        )
        with self._read() as conn:
            return {row[0] for row in conn.execute(query)}

    def add_comment(self, user_id: int, arxiv_id: str, body: str, now: datetime, html: str = "") -> Comment:
        with self._write() as conn:
            paper_id = self._paper_id(conn, arxiv_id)
            new_id = conn.execute(
                comments.insert().values(
                    paper_id=paper_id, user_id=user_id, body=body, html=html or None, created_at=now
                )
            ).inserted_primary_key
            if new_id is None:  # never with SQLite or PostgreSQL: they always report it
                raise StoreError("the database gave no id for the new row")
            conn.execute(
                papers.update().where(papers.c.id == paper_id).values(local_comments=papers.c.local_comments + 1)
            )
            row = conn.execute(_COMMENT_QUERY.where(comments.c.id == new_id[0])).one()
        return _comment(row)

    def count_comments(self, arxiv_id: str, *, include_hidden: bool = False) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(comments.join(papers, papers.c.id == comments.c.paper_id))
            .where(papers.c.arxiv_id == arxiv_id)
        )
        if not include_hidden:
            query = query.where(comments.c.hidden == sa.false())
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def list_comments(
        self, arxiv_id: str, *, include_hidden: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Comment]:
        query = _COMMENT_QUERY.where(papers.c.arxiv_id == arxiv_id).order_by(comments.c.id)
        if not include_hidden:
            query = query.where(comments.c.hidden == sa.false())
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self._read() as conn:
            return [_comment(row) for row in conn.execute(query)]

    def set_comment_hidden(self, comment_id: int, hidden: bool) -> Comment:
        with self._write() as conn:
            row = conn.execute(_COMMENT_QUERY.where(comments.c.id == comment_id)).first()
            if row is None:
                raise NotFound(f"there is no comment {comment_id}")
            if bool(row.hidden) != hidden:  # the shown count follows what readers can see
                conn.execute(comments.update().where(comments.c.id == comment_id).values(hidden=hidden))
                conn.execute(
                    papers.update()
                    .where(papers.c.id == row.paper_id)
                    .values(local_comments=papers.c.local_comments + (-1 if hidden else 1))
                )
            row = conn.execute(_COMMENT_QUERY.where(comments.c.id == comment_id)).one()
        return _comment(row)

    # -- submissions, user pages, moderation ------------------------------------------------------------
    def mark_submitted(self, arxiv_id: str, user_name: str, now: datetime) -> Paper:
        with self._write() as conn:
            row = conn.execute(
                sa.select(papers.c.submitted_by, papers.c.submitted_at).where(papers.c.arxiv_id == arxiv_id)
            ).first()
            if row is None:
                raise NotFound(f"paper {arxiv_id} is not in this instance")
            if row.submitted_at is not None or row.submitted_by:
                who = f" by {row.submitted_by}" if row.submitted_by else ""
                when = f" on {row.submitted_at:%Y-%m-%d}" if row.submitted_at else ""
                raise Conflict(f"paper {arxiv_id} was already submitted{who}{when}")
            conn.execute(
                papers.update().where(papers.c.arxiv_id == arxiv_id).values(submitted_by=user_name, submitted_at=now)
            )
            return self._load(conn, papers.c.arxiv_id == arxiv_id)[0]

    def user_papers(self, user_id: int, kind: UserPapers, limit: int, offset: int) -> list[Paper]:
        with self._read() as conn:
            if kind == "upvoted":
                query = (
                    sa.select(votes.c.paper_id)
                    .where(votes.c.user_id == user_id)
                    .order_by(votes.c.created_at.desc(), votes.c.paper_id.desc())
                )
                ids = [row[0] for row in conn.execute(query.limit(limit).offset(offset))]
                found = {p.arxiv_id: p for p in self._load(conn, papers.c.id.in_(ids))}
                order = conn.execute(sa.select(papers.c.id, papers.c.arxiv_id).where(papers.c.id.in_(ids))).all()
                by_id = {row.id: row.arxiv_id for row in order}
                return [found[by_id[i]] for i in ids if i in by_id]
            name = conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar()
            submitted = self._load(conn, papers.c.submitted_by == name)
        submitted.sort(key=lambda p: (p.submitted_at or datetime.min.replace(tzinfo=UTC), p.arxiv_id), reverse=True)
        return submitted[offset : offset + limit]

    def remove_paper(self, arxiv_id: str, removed_by: str, reason: str | None, now: datetime) -> None:
        with self._write() as conn:
            paper_id = self._paper_id(conn, arxiv_id)
            conn.execute(papers.delete().where(papers.c.id == paper_id))  # cascades to votes, comments, ...
            stmt = self._insert(removed_papers).values(
                arxiv_id=arxiv_id, removed_by=removed_by, reason=reason, removed_at=now
            )
            conn.execute(stmt.on_conflict_do_nothing())

    def removed_ids(self, arxiv_ids: Sequence[str]) -> set[str]:
        if not arxiv_ids:
            return set()
        with self._read() as conn:
            return self._removed_among(conn, arxiv_ids)

    @staticmethod
    def _removed_among(conn: sa.Connection, arxiv_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        ids = list(arxiv_ids)
        for i in range(0, len(ids), 900):
            query = sa.select(removed_papers.c.arxiv_id).where(removed_papers.c.arxiv_id.in_(ids[i : i + 900]))
            found.update(row[0] for row in conn.execute(query))
        return found

    # -- collections -------------------------------------------------------------------------------------
    def set_dismissed(self, user_id: int, arxiv_id: str, dismissed: bool, now: datetime) -> None:
        with self._write() as conn:
            paper_id = self._paper_id(conn, arxiv_id)
            if dismissed:
                stmt = self._insert(dismissals).values(user_id=user_id, paper_id=paper_id, created_at=now)
                conn.execute(stmt.on_conflict_do_nothing())
            else:
                conn.execute(
                    dismissals.delete().where(dismissals.c.user_id == user_id, dismissals.c.paper_id == paper_id)
                )

    def set_interests(self, user_id: int, text: str) -> None:
        with self._write() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(interests=text))

    def signals(self, user_id: int) -> Signals:
        voted = sa.select(votes.c.paper_id, votes.c.created_at).where(votes.c.user_id == user_id)
        collected = (
            sa.select(collection_papers.c.paper_id, collection_papers.c.added_at)
            .join(collections, collections.c.id == collection_papers.c.collection_id)
            .where(collections.c.user_id == user_id)
        )
        said = (  # what the reader said about mailed papers, through the digest's links
            sa.select(digest_feedback.c.paper_id, digest_feedback.c.created_at, digest_feedback.c.signal)
            .join(subscriptions, subscriptions.c.id == digest_feedback.c.subscription_id)
            .where(subscriptions.c.user_id == user_id, digest_feedback.c.signal != "opened")
        )
        with self._read() as conn:
            feedback = conn.execute(said).all()
            rows: list[tuple[Any, Any]] = [tuple(r) for r in [*conn.execute(voted), *conn.execute(collected)]]
            rows += [(r.paper_id, r.created_at) for r in feedback if r.signal == "relevant"]
            liked = sorted(rows, key=lambda r: r[1], reverse=True)
            gone = [
                *conn.execute(
                    sa.select(dismissals.c.paper_id)
                    .where(dismissals.c.user_id == user_id)
                    .order_by(dismissals.c.created_at.desc())
                ),
                *((r.paper_id,) for r in feedback if r.signal == "not_for_me"),
            ]
            text = conn.execute(sa.select(users.c.interests).where(users.c.id == user_id)).scalar() or ""
            return Signals(list(dict.fromkeys(int(r[0]) for r in liked)), [int(r[0]) for r in gone], str(text))

    def interactions(self) -> list[tuple[int, int]]:
        collected = sa.select(collections.c.user_id, collection_papers.c.paper_id).join(
            collections, collections.c.id == collection_papers.c.collection_id
        )
        with self._read() as conn:
            pairs = conn.execute(sa.select(votes.c.user_id, votes.c.paper_id).union(collected)).all()
        return [(int(u), int(p)) for u, p in pairs]

    def interactions_mark(self) -> tuple[int, ...]:
        with self._read() as conn:
            row = conn.execute(
                sa.select(
                    sa.select(sa.func.count()).select_from(votes).scalar_subquery(),
                    sa.select(sa.func.max(votes.c.created_at)).scalar_subquery(),
                    sa.select(sa.func.count()).select_from(collection_papers).scalar_subquery(),
                )
            ).one()
        return (int(row[0]), hash(str(row[1])), int(row[2]))

    def create_collection(
        self, user_id: int, name: str, slug: str, public: bool, now: datetime, *, papers: Sequence[int] = ()
    ) -> Collection:
        try:
            with self._write() as conn:
                made = conn.execute(
                    collections.insert().values(user_id=user_id, name=name, slug=slug, public=public, created_at=now)
                )
                if papers:
                    (made_id,) = made.inserted_primary_key or (None,)
                    rows = [{"collection_id": made_id, "paper_id": k, "added_at": now} for k in dict.fromkeys(papers)]
                    conn.execute(collection_papers.insert(), rows)
                owner = conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar_one()
        except sa.exc.IntegrityError:
            raise Conflict(f"you already have a collection called {slug!r}") from None
        found = self.get_collection(owner, slug)
        if found is None:  # it was written in the transaction that just ended
            raise StoreError(f"collection {slug!r} vanished as it was made")
        return found

    def _collections(self) -> sa.Select[Any]:
        size = (
            sa.select(sa.func.count())
            .where(collection_papers.c.collection_id == collections.c.id)
            .scalar_subquery()
            .label("size")
        )
        return sa.select(collections, users.c.name.label("owner"), size).join(
            users, users.c.id == collections.c.user_id
        )

    @staticmethod
    def _collection(row: Any) -> Collection:
        created = row.created_at
        return Collection(row.id, row.owner, row.name, row.slug, bool(row.public), created, int(row.size))

    def list_collections(self, owner: str, *, include_private: bool) -> list[Collection]:
        query = self._collections().where(_same_name(owner)).order_by(collections.c.name)
        if not include_private:
            query = query.where(collections.c.public == sa.true())
        with self._read() as conn:
            return [self._collection(row) for row in conn.execute(query)]

    def get_collection(self, owner: str, slug: str) -> Collection | None:
        with self._read() as conn:
            row = conn.execute(self._collections().where(_same_name(owner), collections.c.slug == slug)).first()
        return self._collection(row) if row else None

    def collection_papers(self, collection_id: int) -> list[Paper]:
        order = (
            sa.select(collection_papers.c.paper_id)
            .where(collection_papers.c.collection_id == collection_id)
            .order_by(collection_papers.c.added_at.desc(), collection_papers.c.paper_id.desc())
        )
        with self._read() as conn:
            ids = [row[0] for row in conn.execute(order)]
            arxiv = dict(conn.execute(sa.select(papers.c.id, papers.c.arxiv_id).where(papers.c.id.in_(ids))).all())
            found = {p.arxiv_id: p for p in self._load(conn, papers.c.id.in_(ids))}
        return [found[arxiv[i]] for i in ids if i in arxiv]

    def set_in_collection(self, collection_id: int, arxiv_id: str, present: bool, now: datetime) -> None:
        with self._write() as conn:
            paper_id = self._paper_id(conn, arxiv_id)
            if present:
                stmt = self._insert(collection_papers).values(
                    collection_id=collection_id, paper_id=paper_id, added_at=now
                )
                conn.execute(stmt.on_conflict_do_nothing())
            else:
                conn.execute(
                    collection_papers.delete().where(
                        collection_papers.c.collection_id == collection_id, collection_papers.c.paper_id == paper_id
                    )
                )

    def delete_collection(self, collection_id: int) -> None:
        with self._write() as conn:
            conn.execute(collections.delete().where(collections.c.id == collection_id))
