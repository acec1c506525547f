"""HTML pages. Each handler parses, calls the same feed.py function as its API twin, and renders."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from paperfeed import feed, library, reader_actions
from paperfeed.errors import Conflict
from paperfeed.http_edge import cached, engine_of, int_param, site_of, store_of
from paperfeed.ingest.links import url_spans
from paperfeed.models import Author, Paper
from paperfeed.paper_markdown import paper_markdown
from paperfeed.search.engine import MODES, SORTS, parse_mode, parse_sort
from paperfeed.search.keyword import Snippet
from paperfeed.web.deps import CSRF_COOKIE, csrf_token, viewer, voted_ids
from paperfeed.web.mathml import title_html, with_math

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter()


def marked(snippet: Snippet) -> Markup:
    """The snippet as HTML: text escaped, matched ranges in <mark>."""
    parts, at = [], 0
    for start, end in snippet.marks:
        parts += [escape(snippet.text[at:start]), Markup("<mark>"), escape(snippet.text[start:end]), Markup("</mark>")]
        at = end
    parts.append(escape(snippet.text[at:]))
    return Markup("").join(parts)


def author_links(authors: Sequence[Author]) -> Markup:
    """Each author's name as a link to their page (names escaped), comma-separated."""
    return Markup(", ").join(
        Markup('<a class="author" href="/authors/{}">{}</a>').format(quote(a.name, safe=""), a.name) for a in authors
    )


def linkify(text: str) -> Markup:
    """Plain text as HTML with its URLs as links (text escaped; links marked nofollow, opened without referrer
    rights), the URLs found as the enrichment finds them (paperfeed.ingest.links)."""
    parts, at = [], 0
    for start, end, url in url_spans(text):
        parts += [
            escape(text[at:start]),
            Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(url, text[start:end]),
        ]
        at = end
    parts.append(escape(text[at:]))
    return Markup("").join(parts)


@functools.lru_cache(maxsize=4096)
def abstract_html(text: str) -> Markup:
    """An abstract as HTML: math as MathML, URLs as links, the rest escaped."""
    return with_math(text, linkify)


templates.env.filters["linkify"] = linkify
templates.env.filters["math"] = title_html
templates.env.filters["abstract"] = abstract_html
templates.env.filters["marked"] = marked
templates.env.filters["author_links"] = author_links


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template with the reader and a CSRF token maker; sets the CSRF cookie when the page made one."""
    context = {"viewer": viewer(request), "csrf": lambda: csrf_token(request), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    new = getattr(request.state, "new_csrf", None)
    if new:
        secure = request.url.scheme == "https"
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax", secure=secure, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
async def latest(request: Request, sort: str = "trending", page: str | None = None,
                 category: str | None = None) -> Response:  # fmt: skip
    return await _feed(request, sort=sort, page=page, category=category)


@router.get("/help", response_class=HTMLResponse)
def help_page(request: Request) -> HTMLResponse:
    return render(request, "help.html")


@router.get("/papers/date")
def pick_day(day: str = "") -> RedirectResponse:
    """The date picker's target (works without JavaScript): on to that day's page."""
    feed.parse_day(day, "day")
    return RedirectResponse(f"/papers/date/{day}", status_code=303)


@router.get("/papers/date/{day}", response_class=HTMLResponse)
async def by_day(request: Request, day: str, sort: str = "trending", page: str | None = None,
                 category: str | None = None) -> Response:  # fmt: skip
    return await _feed(request, day=day, sort=sort, page=page, category=category)


@router.get("/papers/week/{week}", response_class=HTMLResponse)
async def by_week(request: Request, week: str, sort: str = "trending", page: str | None = None,
                  category: str | None = None) -> Response:  # fmt: skip
    return await _feed(request, week=week, sort=sort, page=page, category=category)


@router.get("/papers/month/{month}", response_class=HTMLResponse)
async def by_month(request: Request, month: str, sort: str = "trending", page: str | None = None,
                   category: str | None = None) -> Response:  # fmt: skip
    return await _feed(request, month=month, sort=sort, page=page, category=category)


async def _feed(
    request: Request, *, sort: str, page: str | None, day: str | None = None, week: str | None = None,
    month: str | None = None, category: str | None = None,
) -> Response:  # fmt: skip
    def make() -> HTMLResponse:
        page_number = int_param(page, "page", 1, 1, 100_000)
        period, order = feed.period_of(day=day, week=week, month=month), feed.parse_sort(sort)
        chosen = feed.parse_category(category)
        result = feed.feed(store_of(request), period, category=chosen, sort=order, page=page_number, limit=30)
        hide = request.query_params.get("hide_read") == "1"
        user = viewer(request)
        shown, hidden = library.unread(store_of(request), user, result.papers) if hide else (result.papers, 0)
        done = store_of(request).read_ids(user.id, [p.arxiv_id for p in shown]) if user else set()
        voted, extra = voted_ids(request, shown), feed.enrichments(store_of(request), shown)
        return render(request, "feed.html", result=result, papers=shown, hidden=hidden, hide_read=hide, read=done,
                      sort=sort, sorts=feed.SORTS, voted=voted, extra=extra)  # fmt: skip

    return await cached(request, make, "text/html; charset=utf-8")


@router.get("/papers/{arxiv_id}.md", response_class=PlainTextResponse, summary="A paper as Markdown")
def paper_as_markdown(request: Request, arxiv_id: str) -> PlainTextResponse:
    """What ``huggingface_hub``'s ``HfApi.read_paper`` fetches; the twin of ``/api/papers/{id}``."""
    text = paper_markdown(store_of(request), arxiv_id, site_of(request).settings.base_url.rstrip("/"))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get("/papers/{arxiv_id}", response_class=HTMLResponse)
def paper(request: Request, arxiv_id: str, comments: str | None = None) -> HTMLResponse:
    found = feed.paper(store_of(request), arxiv_id)
    try:
        similar = feed.similar(engine_of(request), found.arxiv_id, limit=5).hits
    except Conflict:  # no embeddings yet: the page works without the similar list
        similar = []
    user = viewer(request)
    number = int_param(comments, "comments", 1, 1, 100_000)
    thread = reader_actions.comments(store_of(request), found.arxiv_id, user, page=number)
    lists = store_of(request).list_collections(user.name, include_private=True) if user else []
    extra = feed.enrichments(store_of(request), [found]).get(found.arxiv_id)
    note = store_of(request).notes(user.id, [found.arxiv_id]).get(found.arxiv_id) if user else None
    read = bool(user and store_of(request).read_ids(user.id, [found.arxiv_id]))
    return render(
        request, "paper.html", paper=found, similar=similar, comments=thread, voted=voted_ids(request, [found]),
        collections=lists, html_of=reader_actions.html_of, extra=extra, note=note, read=read,
        related=feed.related(store_of(request), found.arxiv_id), share=_share_url(request, found),
    )  # fmt: skip


def _share_url(request: Request, found: Paper) -> str:
    """The paper's link on this instance, from PAPERFEED_BASE_URL (never the request's Host)."""
    return f"{site_of(request).settings.base_url.rstrip('/')}/papers/{found.arxiv_id}"


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request, q: str = "", mode: str = "hybrid", since: str | None = None, until: str | None = None,
    category: str | None = None, sort: str = "relevance", page: str | None = None,
) -> HTMLResponse:  # fmt: skip
    results = None
    if q.strip() or since or until or category:
        results = feed.search(
            engine_of(request), q, mode=parse_mode(mode), since=since or None, until=until or None,
            category=category or None, sort=parse_sort(sort), limit=20, page=int_param(page, "page", 1, 1, 1000),
        )  # fmt: skip
    form = {"q": q, "mode": mode, "since": since or "", "until": until or "", "category": category or "", "sort": sort}
    return render(request, "search.html", results=results, form=form, modes=MODES, sorts=SORTS)
