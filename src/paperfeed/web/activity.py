"""Counts the requests a web process is serving, so that background embedding on this machine gives way while
several run at once (:mod:`paperfeed.search.give_way`). Pure ASGI, like the other middleware: no thread hop."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from paperfeed.search.give_way import ReaderActivity

UNCOUNTED = ("/healthz", "/static/")  # monitors and cached files cost the cores nothing worth giving way for


class ReadersFirst:
    """Every HTTP request but UNCOUNTED ones is counted in ``activity`` while it runs."""

    def __init__(self, app: ASGIApp, activity: ReaderActivity) -> None:
        self.app, self.activity = app, activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(UNCOUNTED):
            return await self.app(scope, receive, send)
        with self.activity.request():
            await self.app(scope, receive, send)
