"""Use cases shared by the CLI, the web pages, the API and the digests: feeds for a period, one paper, stats.

Every function takes the store as an argument and validates its inputs, raising BadRequest that names the
parameter, or NotFound.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from paperfeed import daterange
from paperfeed.errors import BadRequest, NotFound
from paperfeed.ingest.normalize import InvalidRecord, parse_arxiv_id
from paperfeed.models import Collection, Enrichment, Paper
from paperfeed.recommend import trending
from paperfeed.search.engine import SearchEngine, SearchMode, SearchResults, SearchSort, Window
from paperfeed.search.query import parse_date_bound
from paperfeed.store import Store, StoreStats

MAX_LIMIT = 200
FeedSort = Literal["trending", "upvotes", "newest", "oldest"]
SORTS: tuple[FeedSort, ...] = get_args(FeedSort)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """A day, an ISO week or a month of the feed, with its neighbours' labels."""

    kind: str  # "day" | "week" | "month"
    label: str  # "2025-03-18" | "2025-W12" | "2025-03"
    start: date
    end: date


NO_VOTES_YET = (
    "Nobody has voted on this period's papers yet, here or on Hugging Face: newest first, as arXiv lists them. "
    "Upvote what you like and the order follows the votes."
)


@dataclass(frozen=True)
class FeedPage:
    period: Period
    papers: list[Paper]
    total: int
    page: int
    limit: int
    previous: str | None  # label of the previous period (for days: the previous day that has papers)
    next: str | None
    note: str | None = None  # how the page is ordered, when that is not what was asked (no votes yet)
    category: str | None = None  # the category the page is filtered to
    categories: list[tuple[str, int]] = field(default_factory=list)  # the period's largest, for filter chips

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def parse_day(value: str, name: str = "date") -> date:
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from exc
    return daterange.check_day(day, name)


def day_period(day: date) -> Period:
    return Period("day", day.isoformat(), day, day)


def week_period(value: str) -> Period:
    match = _WEEK.match(value)
    try:
        if not match:
            raise ValueError(value)
        start = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        end = start + timedelta(days=6)  # OverflowError for the last week of year 9999
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"week must be an ISO week as YYYY-Www (e.g. 2025-W12), not {value!r}") from exc
    if not daterange.in_range(start) and not daterange.in_range(end):
        daterange.check_day(start, "week")
    return Period("week", value, start, end)


def month_period(value: str) -> Period:
    match = _MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise BadRequest(f"month must be YYYY-MM (e.g. 2025-03), not {value!r}")
    start = daterange.check_day(date(int(match.group(1)), int(match.group(2)), 1), "month")
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return Period("month", value, start, following - timedelta(days=1))


def _shift(period: Period, forward: bool) -> str | None:
    """The next or previous week's or month's label; None past either end of the known days."""
    if period.kind == "week":
        day = period.start + timedelta(days=7 if forward else -7)
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}" if daterange.in_range(day) or daterange.in_range(day + timedelta(6)) else None
    day = period.end + timedelta(days=1) if forward else period.start - timedelta(days=1)
    return f"{day.year:04d}-{day.month:02d}" if daterange.in_range(day.replace(day=1)) else None


def period_of(*, day: str | None = None, week: str | None = None, month: str | None = None) -> Period | None:
    """The period a caller asked for, parsed once at the edge; None when none was given (the latest day)."""
    if sum(x is not None for x in (day, week, month)) > 1:
        raise BadRequest("give only one of date, week and month")
    if week is not None:
        return week_period(week)
    if month is not None:
        return month_period(month)
    return day_period(parse_day(day)) if day is not None else None


def latest_period(store: Store) -> Period:
    """The latest day that has papers, or NotFound on an empty instance."""
    latest = store.latest_feed_date()
    if latest is None:
        raise NotFound("no papers yet: run `paperfeed update` or `paperfeed import FILE` first")
    return day_period(latest)


def parse_sort(value: str) -> FeedSort:
    """A feed's sort order from a caller's text, or BadRequest naming the choices."""
    for choice in SORTS:
        if value == choice:
            return choice
    raise BadRequest(f"sort must be one of {', '.join(SORTS)}")


def check_paging(page: int, limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if page < 1:
        raise BadRequest("page must be 1 or more")


def feed(
    store: Store,
    period: Period | None = None,
    *,
    category: str | None = None,
    submitter: str | None = None,
    sort: FeedSort = "upvotes",
    page: int = 1,
    limit: int = 50,
    now: datetime | None = None,
) -> FeedPage:
    """One page of the feed for ``period`` (default: the latest day), ranked by ``sort`` (trending as of
    ``now``, default the current time: see paperfeed.recommend.trending)."""
    check_paging(page, limit)
    period = period or latest_period(store)
    offset = (page - 1) * limit
    if sort == "trending":
        stats = store.vote_stats(period.start, period.end, category=category, submitter=submitter)
        keys = trending.rank(stats, now or datetime.now(UTC))[offset : offset + limit]
        found = store.papers_by_key(keys)
        papers, total = [found[k] for k in keys if k in found], len(stats)
        note = NO_VOTES_YET if stats and trending.unvoted(stats) else None
    else:
        window = {"category": category, "submitter": submitter}
        papers = store.list_papers(period.start, period.end, **window, sort=sort, limit=limit, offset=offset)
        total, note = store.count_papers(period.start, period.end, **window), None
    if period.kind == "day":
        before, after = store.neighbour_feed_dates(period.start)
        previous = before.isoformat() if before else None
        following = after.isoformat() if after else None
    else:
        previous, following = _shift(period, forward=False), _shift(period, forward=True)
    categories = store.category_counts(period.start, period.end)
    return FeedPage(period, papers, total, page, limit, previous, following, note, category, categories)


_CATEGORY = re.compile(r"^[a-z-]{2,20}(\.[A-Za-z-]{1,20})?$")


def parse_category(value: str | None) -> str | None:
    """An arXiv category to filter by (``cs.LG``, ``hep-th``), None for empty, or BadRequest naming it."""
    if value is None or not value.strip():
        return None
    if not _CATEGORY.match(value.strip()):
        raise BadRequest("category must be an arXiv category such as cs.LG or hep-th")
    return value.strip()


def arxiv_id(raw: str) -> str:
    """The bare arXiv id of an id, versioned id, URL or ``arXiv:`` reference, or BadRequest: the one parser of
    ids that callers give (pages, API, CLI, community actions)."""
    try:
        return parse_arxiv_id(raw).id
    except InvalidRecord as exc:
        raise BadRequest(
            f"id must be an arXiv id or URL such as 2401.00001 or https://arxiv.org/abs/2401.00001: {exc}"
        ) from None


def paper(store: Store, raw_id: str) -> Paper:
    """One paper by arXiv id (a version suffix, URL or ``arXiv:`` prefix is accepted)."""
    found = store.get_paper(arxiv_id(raw_id))
    if found is None:
        raise NotFound(f"paper {arxiv_id(raw_id)} is not in this instance")
    return found


@dataclass(frozen=True, slots=True)
class Related:
    """What leads onward from a paper besides similar meaning: its upvoters' other upvotes, its collections."""

    also_upvoted: list[tuple[Paper, int]]
    collections: list[Collection]


def related(store: Store, raw_id: str, limit: int = 5) -> Related:
    """What readers who upvoted the paper also upvoted, and the public collections that hold it."""
    found = paper(store, raw_id)
    return Related(store.also_upvoted(found.arxiv_id, limit), store.collections_with(found.arxiv_id))


def enrichments(store: Store, papers: Sequence[Paper]) -> dict[str, Enrichment]:
    """What was computed from each paper's text (code links, key phrases, summary), for those that have it."""
    return store.enrichments([p.arxiv_id for p in papers])


def papers_page(store: Store, cursor: str | None, limit: int) -> tuple[list[Paper], str | None]:
    """A page of every paper, newest added first, and the cursor of the next page (None at the end)."""
    before = None
    if cursor:
        try:
            before = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("cursor is not one this server gave out") from None
    keys = store.newest_keys(before, limit)
    found = store.papers_by_key(keys)
    after = base64.urlsafe_b64encode(str(keys[-1]).encode()).decode().rstrip("=") if len(keys) == limit else None
    return [found[k] for k in keys if k in found], after


def stats(store: Store) -> StoreStats:
    return store.stats()


# -- search ----------------------------------------------------------------------------------------------


def _window(since: str | None, until: str | None, category: str | None) -> Window:
    """The --since / --until / --category filters (YYYY, YYYY-MM or YYYY-MM-DD; a category like cs.LG)."""
    if category is not None and not re.fullmatch(r"[A-Za-z-]+(\.[A-Za-z-]+)?", category.strip()):
        raise BadRequest(f"category must look like cs.LG or math, not {category!r}")
    return Window(
        since=parse_date_bound(since, "since", end=False) if since else None,
        until=parse_date_bound(until, "until", end=True) if until else None,
        category=category.strip() if category else None,
    )


def search(
    engine: SearchEngine,
    q: str,
    *,
    mode: SearchMode = "hybrid",
    since: str | None = None,
    until: str | None = None,
    category: str | None = None,
    sort: SearchSort = "relevance",
    limit: int = 20,
    page: int = 1,
) -> SearchResults:
    """Search every paper (see paperfeed.search.query for the syntax). Pages are 1-based."""
    if page < 1:
        raise BadRequest("page must be 1 or more")
    window = _window(since, until, category)
    return engine.search(q, mode=mode, window=window, sort=sort, limit=limit, offset=(page - 1) * limit)


def similar(
    engine: SearchEngine,
    arxiv_id: str,
    *,
    since: str | None = None,
    until: str | None = None,
    category: str | None = None,
    limit: int = 10,
) -> SearchResults:
    """Papers nearest in meaning to one paper, itself left out."""
    try:
        canonical = parse_arxiv_id(arxiv_id).id  # accepts 2501.00001v2, arXiv:..., abs/pdf URLs
    except InvalidRecord:
        canonical = arxiv_id.strip()  # not arXiv-shaped: look it up as given (NotFound if absent)
    return engine.similar(canonical, window=_window(since, until, category), limit=limit)


def similar_to_text(
    engine: SearchEngine,
    text: str,
    *,
    since: str | None = None,
    until: str | None = None,
    category: str | None = None,
    limit: int = 10,
) -> SearchResults:
    """Papers nearest in meaning to a pasted text (an abstract, a paragraph)."""
    return engine.similar_text(text, window=_window(since, until, category), limit=limit)


def index_papers(engine: SearchEngine) -> int:
    """Bring the keyword index up to date after an import; return how many papers it took in."""
    return engine.keyword.sync(engine.store)


def feed_page_dict(result: FeedPage) -> dict[str, Any]:
    """The JSON shape of a feed page: the API's ``/api/feed`` and the CLI's ``papers --json`` alike."""
    return {
        "period": result.period.kind,
        "label": result.period.label,
        "start": result.period.start.isoformat(),
        "end": result.period.end.isoformat(),
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "limit": result.limit,
        "previous": result.previous,
        "next": result.next,
        "note": result.note,
        "category": result.category,
        "categories": [{"name": c, "count": n} for c, n in result.categories],
        "papers": [p.as_dict() for p in result.papers],
    }


def search_results_dict(results: SearchResults) -> dict[str, Any]:
    """The JSON shape of a result page (CLI --json and the API)."""
    return {
        "query": results.query,
        "mode": results.mode,
        "used": results.used,
        "sort": results.sort,
        "offset": results.offset,
        "limit": results.limit,
        "total": results.total,
        "totalExact": results.total_exact,
        "hasMore": results.has_more,
        "notices": list(results.notices),
        "results": [
            {
                "id": hit.paper.arxiv_id,
                "title": hit.paper.title,
                "authors": [a.name for a in hit.paper.authors],
                "categories": list(hit.paper.categories),
                "feedDate": hit.paper.feed_date.isoformat() if hit.paper.feed_date else None,
                "upvotes": hit.paper.upvotes,
                "score": hit.score,
                "foundBy": list(hit.found_by),
                "titleMarks": [list(m) for m in hit.title.marks],
                "snippet": hit.snippet.text,
                "snippetMarks": [list(m) for m in hit.snippet.marks],
                "links": hit.paper.links,
            }
            for hit in results.hits
        ],
    }
