"""What page handlers get from the app: the store and the search engine built by create_app."""

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
