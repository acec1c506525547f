"""SQL for follows and author pages (see :class:`paperfeed.store.follows.FollowStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import orjson
import sqlalchemy as sa

from paperfeed.errors import Conflict
from paperfeed.models import Follow, User, author_key
from paperfeed.store.follows import AuthorFacts, FollowStore
from paperfeed.store.schema import follows, paper_authors, paper_categories, papers, users
from paperfeed.store.sql_plumbing import SqlPlumbing
from paperfeed.store.sql_readers import _USER_COLUMNS, _user

F, A, C, P = follows.c, paper_authors.c, paper_categories.c, papers.c


def _follow(row: sa.Row[object]) -> Follow:
    m = row._mapping
    return Follow(m["id"], m["user_id"], m["kind"], m["value"], m["key"], m["created_at"], bool(m["by_digest"]),
                  bool(m["by_webhook"]))  # fmt: skip


class FollowMixin(SqlPlumbing, FollowStore):
    def index_authors(self) -> None:
        """Fill paper_authors for the papers stored before migration 10 (a batch per transaction)."""
        after = 0
        while True:
            with self._write() as conn:
                query = sa.select(P.id, P.arxiv_id, P.authors).where(P.id > after)
                batch = conn.execute(query.order_by(P.id).limit(5_000)).all()
                rows = [
                    {"arxiv_id": r.arxiv_id, "position": i, "name": a["name"], "key": author_key(a["name"])}
                    for r in batch
                    for i, a in enumerate(orjson.loads(r.authors))
                    if author_key(a.get("name") or "")
                ]
                if rows:
                    self._bulk_insert(conn, paper_authors, rows)
            if len(batch) < 5_000:
                return
            after = batch[-1].id

    def add_follow(
        self, user_id: int, kind: str, value: str, key: str, now: datetime, *, limit: int, by_digest: bool = True,
        by_webhook: bool = True,
    ) -> tuple[Follow, bool]:  # fmt: skip
        same = sa.select(follows).where(F.user_id == user_id, F.kind == kind, F.key == key)
        with self._write() as conn:
            found = conn.execute(same).first()
            if found is not None:
                return _follow(found), False
            count = conn.execute(sa.select(sa.func.count()).where(F.user_id == user_id)).scalar() or 0
            if count >= limit:
                raise Conflict(f"you follow {limit} things already: unfollow one first")
            values = {"user_id": user_id, "kind": kind, "value": value, "key": key, "created_at": now,
                      "by_digest": by_digest, "by_webhook": by_webhook}  # fmt: skip
            conn.execute(sa.insert(follows).values(**values))
            return _follow(conn.execute(same).one()), True

    def all_follows(self) -> list[Follow]:
        with self._read() as conn:
            return [_follow(r) for r in conn.execute(sa.select(follows).order_by(F.id))]

    def list_follows(self, user_id: int) -> list[Follow]:
        with self._read() as conn:
            return [_follow(r) for r in conn.execute(sa.select(follows).where(F.user_id == user_id).order_by(F.id))]

    def delete_follow(self, user_id: int, follow_id: int) -> bool:
        with self._write() as conn:
            gone = conn.execute(sa.delete(follows).where(F.user_id == user_id, F.id == follow_id))
            return bool(gone.rowcount)

    def author_facts(self, key: str, *, limit: int, offset: int = 0) -> AuthorFacts:
        mine = sa.select(A.arxiv_id).where(A.key == key).distinct().subquery()
        newest = (
            sa.select(P.id).where(P.arxiv_id.in_(sa.select(mine.c.arxiv_id)))
            .order_by(P.feed_date.desc().nulls_last(), P.id.desc()).limit(limit).offset(offset)
        )  # fmt: skip
        spelled = sa.select(A.name, sa.func.count().label("n")).where(A.key == key).group_by(A.name)
        other = paper_authors.alias("other")
        together = (
            sa.select(sa.func.min(other.c.name).label("name"), sa.func.count(sa.distinct(other.c.arxiv_id)).label("n"))
            .where(other.c.arxiv_id.in_(sa.select(mine.c.arxiv_id)), other.c.key != key)
            .group_by(other.c.key).order_by(sa.desc("n"), "name").limit(20)
        )  # fmt: skip
        cats = (
            sa.select(C.category, sa.func.count().label("n")).where(C.arxiv_id.in_(sa.select(mine.c.arxiv_id)))
            .group_by(C.category).order_by(sa.desc("n"), C.category).limit(12)
        )  # fmt: skip
        with self._read() as conn:
            names = [r.name for r in conn.execute(spelled.order_by(sa.desc("n"), A.name).limit(5))]
            return AuthorFacts(
                names=names,
                keys=list(conn.execute(newest).scalars()),
                total=int(conn.execute(sa.select(sa.func.count()).select_from(mine)).scalar() or 0),
                coauthors=[(r.name, int(r.n)) for r in conn.execute(together)],
                categories=[(r.category, int(r.n)) for r in conn.execute(cats)],
            )

    def papers_by_authors(self, keys: Sequence[str], since: date, limit: int) -> list[int]:
        if not keys:
            return []
        by = sa.select(A.arxiv_id).where(A.key.in_(list(keys)))
        return self._newest(P.arxiv_id.in_(by), since, limit)

    def papers_in_categories(self, categories: Sequence[str], since: date, limit: int) -> list[int]:
        if not categories:
            return []
        match = sa.or_(*[C.category == c if "." in c else sa.or_(C.category == c, C.category.like(f"{c}.%"))
                         for c in categories])  # fmt: skip
        return self._newest(P.arxiv_id.in_(sa.select(C.arxiv_id).where(match)), since, limit)

    def _newest(self, where: sa.ColumnElement[bool], since: date, limit: int) -> list[int]:
        query = sa.select(P.id).where(where, P.feed_date >= since).order_by(P.feed_date.desc(), P.id.desc())
        with self._read() as conn:
            return list(conn.execute(query.limit(limit)).scalars())

    def user_names(self, user_ids: Sequence[int]) -> dict[int, str]:
        ids, found = list(user_ids), dict[int, str]()
        with self._read() as conn:
            for i in range(0, len(ids), 900):
                query = sa.select(users.c.id, users.c.name).where(users.c.id.in_(ids[i : i + 900]))
                found.update((r.id, r.name) for r in conn.execute(query))
        return found

    def feed_reader(self, user_id: int) -> tuple[User, int] | None:
        with self._read() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS, users.c.feed_generation).where(users.c.id == user_id)).first()
        return (_user(row), int(row.feed_generation)) if row is not None else None

    def next_feed_generation(self, user_id: int) -> int:
        with self._write() as conn:
            conn.execute(
                users.update().where(users.c.id == user_id).values(feed_generation=users.c.feed_generation + 1)
            )
            return int(conn.execute(sa.select(users.c.feed_generation).where(users.c.id == user_id)).scalar() or 0)
