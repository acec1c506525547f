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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from paperfeed import feed
from paperfeed.errors import BadRequest, NotFound
from paperfeed.models import Follow, Paper, User, author_key
from paperfeed.recommend.serve import ForYou
from paperfeed.search.engine import SearchEngine
from paperfeed.search.matching import match
from paperfeed.search.query import parse_query
from paperfeed.store import Store
from paperfeed.store.alerts import AlertRow

FollowKind = Literal["author", "category", "query"]
KINDS: tuple[FollowKind, ...] = get_args(FollowKind)
MAX_FOLLOWS = 100
MAX_VALUE = 300
AUTHOR_PAGE = 30
FEED_DAYS = 30  # a personal feed carries matches from the last month of the feed
FEED_ITEMS = 50
BACKFILL = 100  # a new follow's matches of the last FEED_DAYS days, at most
PICKS_FOR = 30 * 60.0  # seconds a reader's "for you" picks are kept for their feed
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


def follow(
    store: Store, user: User, kind: str, value: str, *, digest: bool = True, webhook: bool = True,
    engine: SearchEngine | None = None,
) -> Follow:  # fmt: skip
    """Follow something, its new matches going into the digest and to the webhook as asked (the same follow
    again returns the first, unchanged); BadRequest names a bad field. A new follow's matches of the last
    FEED_DAYS days go straight into the reader's personal feed (not into a digest or to the webhook: they are
    not new), found through ``engine`` for a saved search."""
    checked = parse_kind(kind)
    shown, key = check_value(checked, value)
    made, new = store.add_follow(user.id, checked, shown, key, datetime.now(UTC), limit=MAX_FOLLOWS,
                                 by_digest=digest, by_webhook=webhook)  # fmt: skip
    if new:
        backfill(store, made, engine)
    return made


def backfill(store: Store, made: Follow, engine: SearchEngine | None) -> int:
    """Record the follow's matches among the last FEED_DAYS days' papers as already sent; how many."""
    since = (store.latest_feed_date() or datetime.now(UTC).date()) - timedelta(days=FEED_DAYS)
    if made.kind == "author":
        keys = store.papers_by_authors([made.key], since, BACKFILL)
    elif made.kind == "category":
        keys = store.papers_in_categories([made.key], since, BACKFILL)
    elif engine is not None:
        found = feed.search(engine, made.value, mode="keyword", since=since.isoformat(), sort="newest",
                            limit=BACKFILL)  # fmt: skip
        keys = list(store.paper_keys([h.paper.arxiv_id for h in found.hits]).values())
    else:
        return 0
    papers = store.papers_by_key(keys)
    matched = match(list(papers.values()), [made]).get(made.user_id, [])
    by_id = {p.arxiv_id: k for k, p in papers.items()}
    rows = [AlertRow(made.user_id, by_id[p.arxiv_id], made.id, False, None) for p, _ in matched]
    return store.record_alerts(rows, datetime.now(UTC))


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


class Picks:
    """Readers' "for you" picks for their personal feeds, kept PICKS_FOR per reader in this process: a feed
    reader polls the same URL again and again, and the picks change with the nightly refit, not by the minute."""

    def __init__(self, foryou: ForYou, clock: Callable[[], float] = time.monotonic) -> None:
        self.foryou, self.clock = foryou, clock
        self._kept: dict[int, tuple[float, list[Paper]]] = {}
        self._lock = threading.Lock()

    def of(self, user: User) -> list[Paper]:
        now = self.clock()
        with self._lock:
            kept = self._kept.get(user.id)
        if kept is not None and now - kept[0] < PICKS_FOR:
            return kept[1]
        picks = [r.paper for r in self.foryou.recommend(user, window="week", limit=10)]
        with self._lock:
            if len(self._kept) >= 50_000:  # a bound on memory: start over
                self._kept.clear()
            self._kept[user.id] = (now, picks)
        return picks


def personal_feed(store: Store, picks: Picks, user: User) -> list[Paper]:
    """What a reader follows (the matches the alerts job and new follows recorded) and their "for you" picks,
    from the last FEED_DAYS days of the feed: newest first, each paper once, at most FEED_ITEMS."""
    latest = store.latest_feed_date() or datetime.now(UTC).date()
    since = latest - timedelta(days=FEED_DAYS)
    papers = store.alert_papers(user.id, since, FEED_ITEMS) + picks.of(user)
    unique = {p.arxiv_id: p for p in papers if p.feed_date is None or p.feed_date >= since}
    return sorted(unique.values(), key=lambda p: (p.feed_date or since, p.arxiv_id), reverse=True)[:FEED_ITEMS]
