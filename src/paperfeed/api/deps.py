"""What API handlers get from the app built by create_app: the store and the search engine."""

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
