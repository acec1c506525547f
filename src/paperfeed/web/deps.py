"""What page handlers get from the app (built by create_app), and who is asking: the reader's session, and the
CSRF check every state-changing form goes through."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from paperfeed import accounts
from paperfeed.config import Settings
from paperfeed.errors import Forbidden, Unauthorized
from paperfeed.http_edge import site_of, store_of
from paperfeed.models import Paper, User
from paperfeed.pagecache import PageCache

SESSION_COOKIE = accounts.SESSION_COOKIE
CSRF_COOKIE = accounts.CSRF_COOKIE
CSRF_FIELD = "csrf_token"


def settings_of(request: Request) -> Settings:
    return site_of(request).settings


def cache_of(request: Request) -> PageCache:
    return site_of(request).page_cache


def viewer(request: Request) -> User | None:
    """The logged-in reader, or None (looked up once per request)."""
    if not hasattr(request.state, "viewer"):
        request.state.viewer = accounts.session_user(store_of(request), request.cookies.get(SESSION_COOKIE))
    found: User | None = request.state.viewer
    return found


def require_user(request: Request) -> User:
    user = viewer(request)
    if user is None:
        raise Unauthorized("log in first")
    return user


def csrf_binding(request: Request) -> str:
    """The value of the reader's CSRF cookie, made (and set on the response by render) when missing."""
    binding = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not binding:
        binding = request.state.new_csrf = secrets.token_urlsafe(24)
    return str(binding)


def csrf_token(request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE)
    return accounts.csrf_token(settings_of(request).secret_key, csrf_binding(request), session)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the reader's cookies; Forbidden otherwise.

    A dependency (``CheckedForm``): FastAPI awaits it on the event loop (reading the body is I/O), then runs the
    plain ``def`` handler, with its store calls and password hashing, in the thread pool."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    binding, session = request.cookies.get(CSRF_COOKIE), request.cookies.get(SESSION_COOKIE)
    secret_key = settings_of(request).secret_key
    if not accounts.csrf_valid(secret_key, binding, token if isinstance(token, str) else None, session):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page and try again")
    return form


async def posted_form(request: Request) -> FormData:
    """The POSTed form without a CSRF check, for the one-click unsubscribe (authorised by its signed token)."""
    return await request.form()


CheckedForm = Annotated[FormData, Depends(checked_form)]
PostedForm = Annotated[FormData, Depends(posted_form)]


def local_path(path: str, default: str = "/follows") -> str:
    """``path`` when it is a path on this site, else ``default`` (a form's ``next`` never leads elsewhere)."""
    ok = path.startswith("/") and not path.startswith("//") and "\\" not in path and len(path) <= 2000
    return path if ok else default


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value if isinstance(value, str) else default


def voted_ids(request: Request, papers: list[Paper]) -> set[str]:
    user = viewer(request)
    return store_of(request).voted(user.id, [p.arxiv_id for p in papers]) if user else set()
