"""What both HTTP edges (the pages and the JSON API) read from the app that create_app built: the one typed
accessor, :func:`site_of`, and the :class:`Site` it returns (the process's Services, plus the state that only
the web edge keeps: rate limiters and the page cache). Here so that neither edge imports the other, and so that
no handler reads ``request.app.state`` itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from paperfeed.accounts import SESSION_COOKIE
from paperfeed.config import Settings
from paperfeed.digest import subscribe as subs
from paperfeed.digest.subscribe import Requested
from paperfeed.errors import BadRequest
from paperfeed.library import ImportReport, import_into
from paperfeed.limits import FailureBackoff, RateLimiter
from paperfeed.models import User
from paperfeed.pagecache import PageCache
from paperfeed.search.engine import SearchEngine
from paperfeed.seed import MAX_FILE_BYTES, SeedReport
from paperfeed.seed import seed as seed_papers
from paperfeed.services import Services
from paperfeed.store import Store
from paperfeed.store.digests import Preferences
from paperfeed.tasks import send_soon
from paperfeed.worker import Worker


@dataclass(frozen=True, slots=True)
class Limits:
    """The web edge's rate limits (per process; see paperfeed.limits)."""

    login: RateLimiter  # log-in attempts per client address
    account: FailureBackoff  # failed log-ins per account, with a doubling wait
    signup: RateLimiter  # sign-ups and digest subscriptions per client address
    write: RateLimiter  # votes, comments, submissions per user

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            RateLimiter(s.login_attempts_per_minute, 60, "log-in attempts"),
            FailureBackoff(s.account_login_failures, "failed log-ins to this account"),
            RateLimiter(s.signups_per_hour, 3600, "sign-ups from this address"),
            RateLimiter(s.writes_per_minute, 60, "votes, comments and submissions"),
        )


@dataclass(frozen=True, slots=True)
class Site:
    """Everything a handler may use: the services, the web-only state, and the in-process worker (SQLite)."""

    services: Services
    limits: Limits
    page_cache: PageCache
    worker: Worker | None

    @property
    def settings(self) -> Settings:
        return self.services.settings


def site(app: Starlette) -> Site:
    found: Site = app.state.site
    return found


def site_of(request: Request) -> Site:
    return site(request.app)


def store_of(request: Request) -> Store:
    return site_of(request).services.store


def engine_of(request: Request) -> SearchEngine:
    return site_of(request).services.engine


def cache_key(request: Request) -> str:
    """What can vary an anonymous page or API answer: its path and query, and (though neither prints them: links
    come from PAPERFEED_BASE_URL or are relative) the scheme and the Host the HostGuard let through, so that no
    request can make an entry that a different kind of request is then served."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}?{request.url.query}"


def authorization(request: Request) -> str:
    """The Authorization header, '' when absent or blank (a blank one is no credential, and no reason to skip
    the CSRF check a cookie needs)."""
    return request.headers.get("authorization", "").strip()


def client_address(request: Request) -> str:
    """The client's address (the peer's, or a trusted proxy's word for it: paperfeed.web.security)."""
    return request.client.host if request.client else "unknown"


def int_param(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """An integer query or form parameter within [low, high], or BadRequest naming it."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer between {low} and {high}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return number


def counted_write(request: Request, user: User) -> User:
    """``user``, once this write is within their rate limit; it empties this process's page cache."""
    found = site_of(request)
    found.limits.write.hit(f"user:{user.id}")
    found.page_cache.invalidate()
    return user


def subscribe(request: Request, email: str, prefs: Preferences, user: User | None) -> Requested:
    """A digest subscription request from the pages or the API (rate limited per client address); the worker
    is woken to send the mail it queued."""
    found = site_of(request)
    found.limits.signup.hit(f"subscribe:{client_address(request)}")
    answer = subs.subscribe(found.services.store, found.services.mail, email, prefs, user)
    send_soon(found.services.store, found.worker)
    return answer


async def cached(request: Request, make: Callable[[], Response], media_type: str) -> Response:
    """An anonymous caller's answer from the page cache when it is fresh (on the event loop, no thread hop);
    a signed-in caller (session cookie or Authorization), and a miss, get it made anew by ``make`` in the thread
    pool. Only 200 answers are kept (see paperfeed.pagecache), under :func:`cache_key`."""
    if authorization(request) or SESSION_COOKIE in request.cookies:
        return await run_in_threadpool(make)
    made: list[Response] = []

    async def make_body() -> bytes | None:
        made.append(await run_in_threadpool(make))
        return bytes(made[0].body) if made[0].status_code == 200 else None

    body = await site_of(request).page_cache.through(cache_key(request), make_body)
    if made:
        return made[0]
    return Response(body, media_type=media_type) if body is not None else await run_in_threadpool(make)


@dataclass(frozen=True, slots=True)
class SeedAsk:
    """A cold-start request as both edges read it from a (multipart) form."""

    categories: str
    ids: str
    upload: bytes | None
    filename: str


async def seed_ask(form: FormData) -> SeedAsk:
    """The fields of a cold-start form: text fields, and a file read up to just past the seed limit (the
    server's body limit bounds it anyway). A field of the wrong kind is treated as empty."""
    upload, filename = form.get("file"), ""
    data: bytes | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        filename = upload.filename[:200]
        data = await upload.read(MAX_FILE_BYTES + 1) or None
    text = {name: value if isinstance(value := form.get(name, ""), str) else "" for name in ("categories", "ids")}
    return SeedAsk(text["categories"], text["ids"], data, filename)


def seed(request: Request, user: User, ask: SeedAsk) -> SeedReport:
    """Run a cold-start request for ``user`` (the caller has counted the write) over this process's store and
    keyword index. Blocking: call it from the thread pool."""
    engine = engine_of(request)
    if engine.keyword.pending(store_of(request)):  # titles are matched through the keyword index
        engine.keyword.sync(store_of(request))
    return seed_papers(store_of(request), engine.keyword, user, categories=ask.categories, ids=ask.ids,
                       upload=ask.upload, filename=ask.filename)  # fmt: skip


def import_file(request: Request, user: User, owner: str, slug: str, ask: SeedAsk) -> ImportReport:
    """Import an uploaded BibTeX / RIS file into one of ``user``'s collections (the caller has counted the
    write). Blocking: call it from the thread pool."""
    if ask.upload is None:
        raise BadRequest("file: choose a BibTeX or RIS file to import")
    engine = engine_of(request)
    if engine.keyword.pending(store_of(request)):  # titles are matched through the keyword index
        engine.keyword.sync(store_of(request))
    return import_into(store_of(request), engine.keyword, user, owner, slug, ask.upload, ask.filename)
