"""Follows, author pages and personal feeds: the use cases behind /follows, /authors/{name}, /feeds/me/... and
their API twins.

A reader follows an author (by name, merged with the spellings the data shows on paperfeed.models.author_key),
a category (``cs.LG``, or an archive: ``math``) or a saved search (the full query syntax, ``-excluded`` words and
``cat:`` included). Their personal feed carries the newest papers matching any of them, with their "for you"
picks, newest first, behind a private token that is an HMAC of their id and a generation number: revoking the
token adds one to the generation, so every old URL stops working and nothing secret is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

from paperfeed import feed
from paperfeed.errors import BadRequest, NotFound
from paperfeed.models import Follow, Paper, User, author_key
from paperfeed.recommend.serve import ForYou
from paperfeed.search.engine import SearchEngine
from paperfeed.search.query import parse_query
from paperfeed.store import Store

FollowKind = Literal["author", "category", "query"]
KINDS: tuple[FollowKind, ...] = get_args(FollowKind)
MAX_FOLLOWS = 100
MAX_VALUE = 300
AUTHOR_PAGE = 30
FEED_DAYS = 30  # a personal feed carries matches from the last month of the feed
FEED_ITEMS = 50
_CATEGORY = re.compile(r"[a-z][a-z-]*(\.[A-Za-z-]+)?")
_TOKEN = re.compile(r"(\d{1,12})-([0-9a-f]{32})")


def parse_kind(value: str) -> FollowKind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise BadRequest(f"kind must be one of {', '.join(KINDS)}")


def check_value(kind: FollowKind, raw: str) -> tuple[str, str]:
    """(value, key) of a follow as given, or BadRequest naming ``value``: its key is what makes two the same."""
    value = " ".join(raw.split())
    if not value:
        raise BadRequest("value is empty: give an author's name, a category such as cs.LG, or a search")
    if len(value) > MAX_VALUE:
        raise BadRequest(f"value must be at most {MAX_VALUE} characters (got {len(value):,})")
    if kind == "author":
        key = author_key(value)
        if not key:
            raise BadRequest("value must be an author's name, as arXiv spells it")
        return value, key
    if kind == "category":
        if not _CATEGORY.fullmatch(value):
            raise BadRequest(f"value must be an arXiv category such as cs.LG or an archive such as math, not {value!r}")
        return value, value
    try:
        parsed = parse_query(value)
    except BadRequest as exc:
        raise BadRequest(f"value is not a search paperfeed can run: {exc.message}") from None
    if not (parsed.text or parsed.phrases or parsed.authors or parsed.title or parsed.categories):
        raise BadRequest("value must search for something (a word, a phrase, au:, ti: or cat:)")
    return value, value.casefold()


def follow(store: Store, user: User, kind: str, value: str) -> Follow:
    """Follow something (the same follow again returns the first); BadRequest names a bad field."""
    checked = parse_kind(kind)
    shown, key = check_value(checked, value)
    return store.add_follow(user.id, checked, shown, key, datetime.now(UTC), limit=MAX_FOLLOWS)


def unfollow(store: Store, user: User, follow_id: int) -> None:
    if not store.delete_follow(user.id, follow_id):
        raise NotFound(f"you have no follow {follow_id}")


@dataclass(frozen=True, slots=True)
class AuthorPage:
    name: str  # the most used spelling
    key: str
    names: list[str]
    papers: list[Paper]
    total: int
    page: int
    pages: int
    coauthors: list[tuple[str, int]]
    categories: list[tuple[str, int]]


def author_page(store: Store, name: str, page: int = 1) -> AuthorPage:
    """One author's papers, newest first, a page at a time, with co-authors and categories; NotFound when no
    paper has an author by that name (in any spelling sharing its key)."""
    key = author_key(name[: MAX_VALUE + 1])
    if not key or len(name) > MAX_VALUE:
        raise BadRequest(f"name must be an author's name of at most {MAX_VALUE} characters")
    if page < 1:
        raise BadRequest("page must be 1 or more")
    facts = store.author_facts(key, limit=AUTHOR_PAGE, offset=(page - 1) * AUTHOR_PAGE)
    if facts.total == 0:
        raise NotFound(f"no paper here has an author called {name!r}")
    pages = max(1, -(-facts.total // AUTHOR_PAGE))
    if page > pages:
        raise BadRequest(f"page must be between 1 and {pages}")
    found = store.papers_by_key(facts.keys)
    papers = [found[k] for k in facts.keys if k in found]
    return AuthorPage(facts.names[0], key, facts.names, papers, facts.total, page, pages, facts.coauthors,
                      facts.categories)  # fmt: skip


# -- personal feeds ---------------------------------------------------------------------------------------


def feed_token(secret_key: str, user_id: int, generation: int) -> str:
    """The private token of a reader's personal feed URLs (not their API token: it can only read their feed)."""
    mac = hmac.new(secret_key.encode(), f"feed:{user_id}:{generation}".encode(), hashlib.sha256).hexdigest()
    return f"{user_id}-{mac[:32]}"


def feed_reader(store: Store, secret_key: str, token: str) -> User:
    """The reader a personal-feed token belongs to; NotFound for any token that is not current (revoked,
    forged, malformed), so a feed URL never tells which readers exist."""
    match = _TOKEN.fullmatch(token)
    found = store.feed_reader(int(match.group(1))) if match else None
    if match is None or found is None:
        raise NotFound("no such feed (the link may have been revoked: copy the new one from your account page)")
    user, generation = found
    if not hmac.compare_digest(feed_token(secret_key, user.id, generation), token):
        raise NotFound("no such feed (the link may have been revoked: copy the new one from your account page)")
    return user


def personal_feed(
    store: Store, engine: SearchEngine, foryou: ForYou, user: User, today: date | None = None
) -> list[Paper]:
    """What a reader follows, and their "for you" picks, from the last FEED_DAYS days of the feed: newest first
    (by feed date, then newest added), each paper once, at most FEED_ITEMS."""
    latest = store.latest_feed_date() or today or datetime.now(UTC).date()
    since = latest - timedelta(days=FEED_DAYS)
    wanted = store.list_follows(user.id)
    keys = store.papers_by_authors([f.key for f in wanted if f.kind == "author"], since, FEED_ITEMS)
    keys += store.papers_in_categories([f.key for f in wanted if f.kind == "category"], since, FEED_ITEMS)
    papers = list(store.papers_by_key(keys).values())
    for f in (f for f in wanted if f.kind == "query"):
        found = feed.search(engine, f.value, since=since.isoformat(), sort="newest", limit=20)
        papers += [hit.paper for hit in found.hits]
    papers += [r.paper for r in foryou.recommend(user, window="week", limit=10)]
    unique = {p.arxiv_id: p for p in papers if p.feed_date is None or p.feed_date >= since}
    return sorted(unique.values(), key=lambda p: (p.feed_date or since, p.arxiv_id), reverse=True)[:FEED_ITEMS]
