"""Who is calling the API: a script with ``Authorization: Bearer <token>``, or a logged-in browser, whose
writes must carry the page's CSRF token in ``X-CSRF-Token`` (so another site cannot ride on its cookie)."""

from __future__ import annotations

from fastapi import Request

from paperfeed import accounts
from paperfeed.errors import Forbidden, Unauthorized
from paperfeed.http_edge import authorization, counted_write, site_of, store_of
from paperfeed.models import User


def caller(request: Request) -> User | None:
    """The user behind a request, None when anonymous; Unauthorized for a bad token."""
    header = authorization(request)
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>' (create a token at /account)")
        return accounts.token_user(store_of(request), secret.strip())
    return accounts.session_user(store_of(request), request.cookies.get(accounts.SESSION_COOKIE))


def api_writer(request: Request) -> User:
    """The user making a change: authenticated, CSRF-checked when by cookie, within the write rate limit."""
    user = caller(request)
    if user is None:
        raise Unauthorized("log in, or send Authorization: Bearer <token> (create a token at /account)")
    if not authorization(request):
        secret_key = site_of(request).settings.secret_key
        binding, token = request.cookies.get(accounts.CSRF_COOKIE), request.headers.get("x-csrf-token")
        session = request.cookies.get(accounts.SESSION_COOKIE)
        if not accounts.csrf_valid(secret_key, binding, token, session):
            raise Forbidden("a browser session must send the page's CSRF token in X-CSRF-Token")
    return counted_write(request, user)
