"""The application factory: the one place (with cli.py) that reads settings and builds concrete objects."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from paperfeed.api.routes import router as api_router
from paperfeed.api.schemas import error_body
from paperfeed.config import Settings, load_settings
from paperfeed.errors import BadRequest, Conflict, Forbidden, NotFound, PaperfeedError, StoreError
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web.feeds import router as feeds_router
from paperfeed.web.pages import router as pages_router
from paperfeed.web.pages import templates

STATUS = {BadRequest: 400, Forbidden: 403, NotFound: 404, Conflict: 409, StoreError: 503}
TITLES = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Not ready", 503: "Unavailable"}


def status_of(exc: PaperfeedError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready app over the configured store and search indexes (nothing is built before this is called)."""
    settings = settings or load_settings()
    store = open_store(settings.database_url)
    embedder = Embedder(settings.embed_precision, query_precision=settings.query_precision)
    engine = SearchEngine(store, settings.search_dir, embedder, exact_below=settings.exact_search_below)
    app = FastAPI(title="paperfeed", version="0.1.0", docs_url="/api/docs", redoc_url=None)
    app.state.store, app.state.engine, app.state.settings = store, engine, settings
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.include_router(api_router)
    app.include_router(feeds_router)  # before the pages: /papers/{id}/bibtex is more specific than /papers/{id}
    app.include_router(pages_router)
    app.add_exception_handler(PaperfeedError, _paperfeed_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.router.add_event_handler("shutdown", store.close)
    return app


def _error(request: Request, status: int, message: str) -> Response:
    """One JSON shape under /api, one HTML page elsewhere."""
    if request.url.path.startswith("/api"):
        return JSONResponse(error_body(status, message), status_code=status)
    context = {"status": status, "title": TITLES.get(status, "Error"), "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _paperfeed_error(request: Request, exc: PaperfeedError) -> Response:
    status = status_of(exc)
    return _error(request, status, exc.message if status < 500 else "something went wrong on our side")


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return _error(request, 400, f"{where}: {first.get('msg', 'invalid')}")


def _http_error(request: Request, exc: HTTPException) -> Response:
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return _error(request, exc.status_code, message)
