"""The application factory: reads the settings, has paperfeed.services build the objects, and puts them, with
the web edge's own state, in the one Site that handlers reach through paperfeed.http_edge.site_of."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings
from starlette.exceptions import HTTPException

from paperfeed.accounts import check_secret_key
from paperfeed.api.follow_routes import router as api_follow_router
from paperfeed.api.library_routes import router as api_library_router
from paperfeed.api.reader_routes import router as api_reader_router
from paperfeed.api.routes import router as api_router
from paperfeed.api.schemas import error_body
from paperfeed.config import Settings, load_settings
from paperfeed.errors import IngestError, PaperfeedError, TooManyRequests
from paperfeed.http_edge import Limits, Site
from paperfeed.mcp_server import build_server
from paperfeed.pagecache import PageCache
from paperfeed.search.keeper import IndexKeeper
from paperfeed.search.keyphrases import stop_words
from paperfeed.services import Services
from paperfeed.web.account_pages import router as account_router
from paperfeed.web.actions import router as actions_router
from paperfeed.web.activity import ReadersFirst
from paperfeed.web.feeds import router as feeds_router
from paperfeed.web.follow_pages import router as follow_router
from paperfeed.web.foryou_pages import router as foryou_router
from paperfeed.web.library_pages import router as library_router
from paperfeed.web.pages import router as pages_router
from paperfeed.web.pages import templates
from paperfeed.web.security import BodyLimit, ClientAddress, HostGuard, NoNul, SecurityHeaders
from paperfeed.web.subscribe_pages import router as subscribe_router

API_DESCRIPTION = (
    "The Hugging Face Papers API's routes (`/api/daily_papers`, `/api/papers`, `/api/papers/{id}`, "
    "`/api/papers/search`) with its field names, and paperfeed's native routes (marked *native*). Every field name "
    "is camelCase, as in the Hugging Face API (its `_id` fields kept as they are); errors are "
    '`{"error": {"status": N, "message": "..."}}`. Writes take `Authorization: Bearer <token>` (made at /account).'
)
TITLES = {
    400: "Bad request", 401: "Log in first", 403: "Forbidden", 404: "Not found", 409: "Conflict",
    429: "Too many requests", 502: "arXiv did not answer", 503: "Unavailable",
}  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready app over the configured store and search indexes (nothing is built before this is called)."""
    settings = settings or load_settings()
    check_secret_key(settings.secret_key)
    services = Services.build(settings)
    app = FastAPI(title="paperfeed", version="0.1.0", description=API_DESCRIPTION, docs_url=None, redoc_url=None)
    worker = services.worker() if services.jobs_in_process else None  # SQLite: this process runs the jobs
    app.state.site = Site(services, Limits.from_settings(settings), PageCache(settings.page_cache_seconds), worker)
    restore: list[Callable[[], None]] = []  # what _single_threaded changed, undone when the app stops
    app.router.add_event_handler("startup", lambda: restore.append(_single_threaded()))
    app.router.add_event_handler("shutdown", lambda: [undo() for undo in restore])
    app.router.add_event_handler("startup", _preload)
    keeper = IndexKeeper(services.engine, settings.index_keep_seconds)  # started with the app, not before
    app.router.add_event_handler("startup", keeper.start)
    app.router.add_event_handler("shutdown", keeper.stop)
    if worker is not None:
        app.router.add_event_handler("startup", worker.start)
        app.router.add_event_handler("shutdown", worker.stop)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.include_router(api_reader_router)
    app.include_router(api_follow_router)
    app.include_router(api_library_router)
    app.include_router(api_router)
    app.include_router(feeds_router)  # before the pages: /papers/{id}/bibtex is more specific than /papers/{id}
    app.include_router(actions_router)
    app.include_router(follow_router)  # before the account pages: /u/x/collections/y.atom is a feed
    app.include_router(account_router)
    app.include_router(subscribe_router)
    app.include_router(foryou_router)
    app.include_router(library_router)
    app.include_router(pages_router)
    app.add_exception_handler(PaperfeedError, _paperfeed_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    # the last added is the outermost: security headers on every answer, then the Host check, then the rest
    app.add_middleware(ReadersFirst, activity=services.readers)  # innermost: counts what the app itself serves
    app.add_middleware(BodyLimit)
    app.add_middleware(NoNul)
    app.add_middleware(ClientAddress, proxies=settings.trusted_proxies)
    app.add_middleware(HostGuard, allowed=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
    _mount_mcp(app, services)
    app.add_api_route("/healthz", _healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/docs", _api_docs, methods=["GET"], include_in_schema=False)
    app.router.add_event_handler("shutdown", services.close)
    return app


def _mount_mcp(app: FastAPI, services: Services) -> None:
    """The MCP server's streamable-HTTP transport at /mcp: stateless with JSON answers (any worker process answers
    any request; nothing is kept between them). The SDK's own Host check is off because HostGuard already checks
    every request's Host against the configured names. Its session manager runs while the app does."""
    server = build_server(services)
    sub = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )  # fmt: skip
    app.router.routes.extend(route for route in sub.routes if getattr(route, "path", None) == "/mcp")
    running = AsyncExitStack()

    async def start() -> None:
        await running.enter_async_context(server.session_manager.run())

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", running.aclose)


def _preload() -> None:
    """Import in the background what a first "for you" list would otherwise import in its request: scikit-learn,
    for its stop words (most of a second; not imported at start, so that CLI commands start faster)."""
    threading.Thread(target=stop_words, name="paperfeed-preload", daemon=True).start()


def _single_threaded() -> Callable[[], None]:
    """numpy's BLAS computes single-threaded in a web process (process-wide), returning what undoes it.
    Requests already run in parallel threads, and a multi-threaded BLAS call in each of 32 of them (the first
    vector tier's exact search, cosine samples) left their threads spinning against each other: on two cores
    with 120k papers in the first tier, hybrid search at 32 connections went from 3.5 req/s (with timeouts) to
    67 req/s with one BLAS thread (and one OpenMP thread, by environment, for the measurement). Query embeddings
    already run on one torch thread each (paperfeed.search.embed); torch's setting is per thread, so it is not
    set here."""
    from threadpoolctl import threadpool_limits

    undo: Callable[[], None] = threadpool_limits(1, user_api="blas").restore_original_limits
    return undo


async def _healthz() -> PlainTextResponse:
    """For load balancers and monitors: the process answers (it touches nothing else)."""
    return PlainTextResponse("ok")


def _api_docs(request: Request) -> Response:
    """Swagger UI over /openapi.json, from vendored files (no CDN; no inline script, which the CSP forbids)."""
    return templates.TemplateResponse(request, "api_docs.html", {})


def _error(request: Request, status: int, message: str) -> Response:
    """One JSON shape under /api, one HTML page elsewhere."""
    if request.url.path.startswith("/api"):
        return JSONResponse(error_body(status, message), status_code=status)
    context = {"status": status, "title": TITLES.get(status, "Error"), "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _paperfeed_error(request: Request, exc: PaperfeedError) -> Response:
    status = exc.status
    shown = exc.message if status < 500 or isinstance(exc, IngestError) else "something went wrong on our side"
    response = _error(request, status, shown)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    if status == 401 and request.url.path.startswith("/api"):
        response.headers["WWW-Authenticate"] = 'Bearer realm="paperfeed"'
    return response


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return _error(request, 400, f"{where}: {first.get('msg', 'invalid')}")


def _http_error(request: Request, exc: HTTPException) -> Response:
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return _error(request, exc.status_code, message)
