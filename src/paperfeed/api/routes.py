"""JSON routes. Handlers parse, call feed.py, and shape; errors are raised and turned into one shape by the
app's handlers (paperfeed.web.app)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request, Response

from paperfeed import feed, library
from paperfeed.api.auth import caller
from paperfeed.api.schemas import hf_daily_item, hf_paper, related_dict
from paperfeed.errors import BadRequest
from paperfeed.http_edge import cached, engine_of, int_param, store_of
from paperfeed.search.engine import parse_mode, parse_sort
from paperfeed.status import status, status_dict

HF_SORTS: dict[str, feed.FeedSort] = {"publishedAt": "newest", "trending": "trending"}
MAX_HF_QUERY = 250


router = APIRouter(prefix="/api")


@router.get("/daily_papers", summary="Daily papers (Hugging Face Papers API compatible)")
async def daily_papers(
    request: Request, p: str | None = None, limit: str | None = None, date: str | None = None,
    week: str | None = None, month: str | None = None, submitter: str | None = None, sort: str = "publishedAt",
) -> Response:  # fmt: skip
    """A page (``p`` from 0, ``limit`` 1-100, default 50) of a day's, week's or month's papers (default: the latest
    day); ``sort`` publishedAt (the default, as ``huggingface_hub`` documents it) or trending."""

    def make() -> bytes:
        if sort not in HF_SORTS:
            raise BadRequest("sort must be publishedAt or trending")
        size = int_param(limit, "limit", 50, 1, 100)
        page = int_param(p, "p", 0, 0, 100_000)
        period = feed.period_of(day=date, week=week, month=month)
        result = feed.feed(
            store_of(request), period, submitter=submitter or None, sort=HF_SORTS[sort], page=page + 1, limit=size
        )
        found = feed.enrichments(store_of(request), result.papers)
        return orjson.dumps([hf_daily_item(paper, found.get(paper.arxiv_id)) for paper in result.papers])

    return await cached(request, lambda: Response(make(), media_type="application/json"), "application/json")


@router.get("/papers/search", summary="Search papers (Hugging Face Papers API compatible)")
def papers_search(request: Request, q: str = "", limit: str | None = None) -> list[dict[str, Any]]:
    """Hybrid search; q at most 250 characters, limit 1-120."""
    if len(q) > MAX_HF_QUERY:
        raise BadRequest(f"q must be at most {MAX_HF_QUERY} characters")
    size = int_param(limit, "limit", 20, 1, 120)
    found = feed.search(engine_of(request), q, limit=min(size, 100))
    extra = feed.enrichments(store_of(request), [hit.paper for hit in found.hits])
    return [{**hf_paper(h.paper, extra.get(h.paper.arxiv_id)), "highlightedTitle": h.paper.title} for h in found.hits]


@router.get("/papers", summary="Every paper, newest added first, by cursor (Hugging Face Papers API compatible)")
def papers_list(
    request: Request, response: Response, cursor: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """A page of papers; the ``Link`` header (rel="next") holds the URL of the next page."""
    page, after = feed.papers_page(store_of(request), cursor, int_param(limit, "limit", 50, 1, 100))
    if after:
        response.headers["Link"] = (
            f'<{request.url.path}?{urlencode({"cursor": after, "limit": len(page)})}>; rel="next"'
        )
    extra = feed.enrichments(store_of(request), page)
    return [hf_paper(p, extra.get(p.arxiv_id)) for p in page]


@router.get("/papers/{arxiv_id}/similar", summary="Papers similar in meaning (native)")
def paper_similar(
    request: Request, arxiv_id: str, limit: str | None = None, since: str | None = None,
    until: str | None = None, category: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    size = int_param(limit, "limit", 10, 1, 100)
    results = feed.similar(engine_of(request), arxiv_id, since=since, until=until, category=category, limit=size)
    return feed.search_results_dict(results)


@router.get("/papers/{arxiv_id}/related", summary="What its upvoters also upvoted, its public collections (native)")
def related_papers(request: Request, arxiv_id: str) -> dict[str, Any]:
    """The twin of the paper page's "readers who upvoted this also upvoted" and "in collections"."""
    return related_dict(feed.related(store_of(request), arxiv_id))


@router.get("/papers/{arxiv_id}", summary="One paper (Hugging Face Papers API compatible)")
def paper(request: Request, arxiv_id: str) -> dict[str, Any]:
    found = feed.paper(store_of(request), arxiv_id)
    return hf_paper(found, feed.enrichments(store_of(request), [found]).get(found.arxiv_id))


@router.get("/search", summary="Search with modes, filters and sorting (native)")
def search(
    request: Request, q: str = "", mode: str = "hybrid", since: str | None = None, until: str | None = None,
    category: str | None = None, sort: str = "relevance", limit: str | None = None, page: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    results = feed.search(
        engine_of(request), q, mode=parse_mode(mode), since=since, until=until, category=category or None,
        sort=parse_sort(sort), limit=int_param(limit, "limit", 20, 1, 100), page=int_param(page, "page", 1, 1, 1000),
    )  # fmt: skip
    return feed.search_results_dict(results)


@router.get("/status", summary="How far this instance has come: papers, vectors per tier, jobs, updates (native)")
async def instance_status(request: Request) -> Response:
    """Kept in the page cache like the feeds (a few counts over every paper take a third of a second at 120k
    papers: a monitor polling every second, or a visitor hammering it, would otherwise cost a core)."""

    def make() -> bytes:
        return orjson.dumps(status_dict(status(store_of(request), engine_of(request))))

    return await cached(request, lambda: Response(make(), media_type="application/json"), "application/json")


@router.get("/feed", summary="The feed for a day, week or month (native; the twin of the feed pages)")
def feed_page(
    request: Request, date: str | None = None, week: str | None = None, month: str | None = None,
    category: str | None = None, sort: str = "trending", page: str | None = None, limit: str | None = None,
    hide_read: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``hide_read=1`` (with a token or session) leaves out the papers the caller marked read, on this page."""
    result = feed.feed(
        store_of(request), feed.period_of(day=date, week=week, month=month), category=feed.parse_category(category),
        sort=feed.parse_sort(sort), page=int_param(page, "page", 1, 1, 100_000),
        limit=int_param(limit, "limit", 50, 1, feed.MAX_LIMIT),
    )  # fmt: skip
    shape = feed.feed_page_dict(result)
    if hide_read == "1":
        kept, hidden = library.unread(store_of(request), caller(request), result.papers)
        shape.update(papers=[p.as_dict() for p in kept], hiddenRead=hidden)
    return shape
