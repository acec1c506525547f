"""RSS 2.0 and Atom feeds (daily, weekly, per category, a saved search) and BibTeX downloads."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperfeed import export, feed
from paperfeed.errors import NotFound
from paperfeed.http_edge import engine_of, store_of
from paperfeed.models import Paper
from paperfeed.search.engine import parse_mode
from paperfeed.web.deps import settings_of

router = APIRouter()
TYPES = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
JSON_FEED = "application/feed+json; charset=utf-8"


def feed_response(
    fmt: str, title: str, link: str, papers: list[Paper], base: str, updated: date, *, home: str | None = None,
    feed_id: str | None = None,
) -> Response:  # fmt: skip
    """``papers`` as an RSS 2.0, Atom or JSON Feed 1.1 answer (``fmt``: rss, atom or json, checked by the caller);
    ``link`` is the feed's own address, ``home`` the page it belongs to, ``feed_id`` Atom's id (default: link)."""
    if fmt == "json":
        return Response(export.json_feed(title, home or link, link, papers, base), media_type=JSON_FEED)
    if fmt == "rss":
        return Response(export.rss(title, link, f"{title}, from paperfeed", papers, base), media_type=TYPES[fmt])
    return Response(export.atom(title, link, feed_id or link, papers, base, updated), media_type=TYPES[fmt])


def _render(request: Request, fmt: str, title: str, papers: list[Paper]) -> Response:
    if fmt not in TYPES:
        raise NotFound("feeds are .rss or .atom")
    base = settings_of(request).base_url  # never the request's Host: a feed reader may cache what it gets
    link = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    latest = max((p.feed_date for p in papers if p.feed_date), default=None) or store_of(request).latest_feed_date()
    return feed_response(fmt, title, link, papers, base, latest or date(1970, 1, 1))


@router.get("/feeds/search.{fmt}")
def search_feed(request: Request, fmt: str, q: str = "", mode: str = "hybrid", category: str | None = None) -> Response:
    """A saved search as a feed: its 50 best matches, newest first."""
    results = feed.search(
        engine_of(request), q, mode=parse_mode(mode), category=category or None, sort="newest", limit=50
    )
    return _render(request, fmt, f"paperfeed search: {q}", [hit.paper for hit in results.hits])


@router.get("/feeds/{period}.{fmt}")
def period_feed(request: Request, period: str, fmt: str, category: str | None = None) -> Response:
    """``daily`` (the latest day) or ``weekly`` (that day's ISO week), optionally one category, trending first."""
    if period not in ("daily", "weekly"):
        raise NotFound("feeds are daily or weekly (or search?q=...)")
    latest = feed.latest_period(store_of(request))
    if period == "weekly":
        year, number, _ = latest.start.isocalendar()
        latest = feed.week_period(f"{year}-W{number:02d}")
    page = feed.feed(store_of(request), latest, category=category or None, sort="trending", limit=100)
    title = f"paperfeed {period} {page.period.label}" + (f" · {category}" if category else "")
    return _render(request, fmt, title, page.papers)


@router.get("/papers/{arxiv_id}/bibtex")
def paper_bibtex(request: Request, arxiv_id: str) -> Response:
    """The paper's BibTeX entry, as a download."""
    found = feed.paper(store_of(request), arxiv_id)
    headers = {"Content-Disposition": f'inline; filename="{found.arxiv_id}.bib"'}
    return Response(export.bibtex([found]), media_type="text/plain; charset=utf-8", headers=headers)
