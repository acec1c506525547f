"""The MCP server: paperfeed's feeds, search and a reader's collections as tools for AI agents, built on the
official Python SDK (``mcp``). `paperfeed mcp` serves it over stdio; `paperfeed serve` mounts its streamable-HTTP
transport at ``/mcp`` (stateless, JSON answers: any web worker process can answer any request).

Tools validate their arguments (the SDK checks the schema; paperfeed checks the rest, as the API does) and fail
with one MCP tool error that names the problem, never a traceback. ``for_you``, ``my_collections`` and
``add_to_collection`` act for a reader: on HTTP the request's ``Authorization: Bearer <token>``, on stdio the
``PAPERFEED_TOKEN`` environment variable (an API token made at /account). The work runs in a worker thread, so
the event loop never waits on the database or the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from paperfeed import accounts, feed, reader_actions
from paperfeed.errors import PaperfeedError, Unauthorized
from paperfeed.models import Paper, User
from paperfeed.paper_markdown import paper_markdown
from paperfeed.search.engine import SearchResults
from paperfeed.services import Services

T = TypeVar("T")
INSTRUCTIONS = (
    "paperfeed: a research-paper feed (arXiv). search_papers finds papers by keywords and meaning (the query syntax "
    'takes "phrases", -excluded words, au:Name, ti:word, cat:cs.LG, year:2025); get_paper returns one as Markdown; '
    "daily_papers lists a day's, week's or month's feed. for_you and the collection tools need the reader's API "
    "token."
)
Id = Annotated[str, Field(min_length=1, max_length=100, description="an arXiv id such as 2503.11731 (or its URL)")]
Limit = Annotated[int, Field(ge=1, le=100)]
DateText = Annotated[str | None, Field(max_length=10, description="YYYY, YYYY-MM or YYYY-MM-DD")]


async def _run(work: Callable[[], T], error: type[ToolError | ResourceError] = ToolError) -> T:
    """``work`` in a worker thread, its paperfeed errors turned into the one tool (or resource) error."""
    try:
        return await anyio.to_thread.run_sync(work)
    except PaperfeedError as exc:
        raise error(exc.message) from None


def _paper(p: Paper, base_url: str) -> dict[str, Any]:
    return {
        "id": p.arxiv_id, "title": p.title, "authors": [a.name for a in p.authors][:20],
        "categories": list(p.categories), "feedDate": p.feed_date.isoformat() if p.feed_date else None,
        "upvotes": p.upvotes, "url": f"{base_url}/papers/{p.arxiv_id}", "arxiv": p.links["abs"],
    }  # fmt: skip


def _hits(results: SearchResults, base_url: str) -> dict[str, Any]:
    return {
        "total": results.total, "totalExact": results.total_exact, "used": results.used,
        "notices": list(results.notices),
        "results": [{**_paper(h.paper, base_url), "snippet": h.snippet.text, "score": round(h.score, 4)}
                    for h in results.hits],
    }  # fmt: skip


def build_server(services: Services, *, token: str | None = None) -> MCPServer:
    """The MCP server over ``services``; ``token`` is the stdio reader's API token (HTTP sends its own)."""
    server = MCPServer("paperfeed", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")
    store, base = services.store, services.settings.base_url.rstrip("/")

    def reader(ctx: Context) -> User:
        header = (ctx.headers or {}).get("authorization") if ctx.request_context.request is not None else None
        secret = token
        if header is not None:
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                raise Unauthorized("Authorization must be 'Bearer <token>' (create a token at /account)")
            secret = given.strip()
        if not secret:
            raise Unauthorized("this tool needs an API token: Authorization: Bearer <token>, or PAPERFEED_TOKEN")
        return accounts.token_user(store, secret)

    @server.tool()
    async def search_papers(
        query: Annotated[str, Field(max_length=1000, description="the query, in paperfeed's full syntax")],
        mode: Literal["hybrid", "keyword", "semantic"] = "hybrid",
        since: DateText = None, until: DateText = None,
        category: Annotated[str | None, Field(max_length=40, description="e.g. cs.LG")] = None, limit: Limit = 10,
    ) -> dict[str, Any]:  # fmt: skip
        """Search every paper by keywords and by meaning; newest filters by since / until / category."""
        found = await _run(lambda: feed.search(services.engine, query, mode=mode, since=since, until=until,
                                               category=category, limit=limit))  # fmt: skip
        return _hits(found, base)

    @server.tool()
    async def get_paper(id: Id) -> str:
        """One paper as Markdown: authors, dates, links, abstract, code link, key phrases and discussion."""
        return await _run(lambda: paper_markdown(store, id, base))

    @server.tool()
    async def similar_papers(id: Id, limit: Limit = 10) -> dict[str, Any]:
        """Papers nearest in meaning to one paper."""
        return _hits(await _run(lambda: feed.similar(services.engine, id, limit=limit)), base)

    @server.tool()
    async def daily_papers(
        date: Annotated[str | None, Field(max_length=10, description="a day, YYYY-MM-DD")] = None,
        week: Annotated[str | None, Field(max_length=8, description="an ISO week, YYYY-Www")] = None,
        month: Annotated[str | None, Field(max_length=7, description="YYYY-MM")] = None,
        sort: Literal["trending", "upvotes", "newest", "oldest"] = "trending", limit: Limit = 20,
        page: Annotated[int, Field(ge=1, le=10_000)] = 1,
    ) -> dict[str, Any]:  # fmt: skip
        """The feed for a day, week or month (default: the latest day), ranked by community upvotes."""

        def work() -> feed.FeedPage:
            return feed.feed(store, feed.period_of(day=date, week=week, month=month), sort=sort, page=page,
                             limit=limit)  # fmt: skip

        result = await _run(work)
        return {"period": result.period.label, "total": result.total, "page": result.page, "pages": result.pages,
                "note": result.note, "papers": [_paper(p, base) for p in result.papers]}  # fmt: skip

    @server.tool()
    async def for_you(
        ctx: Context, window: Literal["day", "week", "all"] = "week", limit: Limit = 10
    ) -> list[dict[str, Any]]:
        """Recommendations for the reader whose token this is, each with why it was picked."""
        picks = await _run(lambda: services.foryou.recommend(reader(ctx), window=window, limit=limit))
        return [{**_paper(r.paper, base), "reason": r.reason, "score": round(r.score, 4)} for r in picks]

    @server.tool()
    async def my_collections(ctx: Context) -> list[dict[str, Any]]:
        """The reader's collections (public and private), with their sizes and slugs."""
        lists = await _run(lambda: store.list_collections(reader(ctx).name, include_private=True))
        return [{"name": c.name, "slug": c.slug, "public": c.public, "size": c.size} for c in lists]

    @server.tool()
    async def add_to_collection(
        ctx: Context, collection: Annotated[str, Field(min_length=1, max_length=100, description="its slug")],
        id: Id,
    ) -> dict[str, Any]:  # fmt: skip
        """Add a paper to one of the reader's collections (by the slug my_collections gives)."""

        def work() -> dict[str, Any]:
            user = reader(ctx)
            found = reader_actions.set_in_collection(store, user, user.name, collection, id, True)
            now = store.get_collection(found.owner, found.slug) or found
            return {"collection": now.slug, "size": now.size, "added": feed.arxiv_id(id)}

        return await _run(work)

    @server.resource("paper://{arxiv_id}", mime_type="text/markdown")
    async def paper_resource(arxiv_id: str) -> str:
        """A paper as Markdown."""
        return await _run(lambda: paper_markdown(store, arxiv_id, base), ResourceError)

    return server
