"""What both HTTP edges (the pages and the JSON API) read from the app built by create_app: the store and the
search engine. Here so that neither edge imports the other."""

from __future__ import annotations

from fastapi import Request

from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def engine_of(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.engine
    return engine


def cache_key(request: Request) -> str:
    """What can vary an anonymous page or API answer: its path and query, and (though neither prints them: links
    come from PAPERFEED_BASE_URL or are relative) the scheme and the Host the HostGuard let through, so that no
    request can make an entry that a different kind of request is then served."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}?{request.url.query}"
