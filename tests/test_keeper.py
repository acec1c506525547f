"""A web process keeps its search indexes in step with the store from a thread of its own
(paperfeed.search.keeper.IndexKeeper), and loads the query models before a reader needs them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import app_of, corpus_app
from paperfeed.errors import PaperfeedError
from paperfeed.http_edge import site
from paperfeed.search.embed import Embedder, Resolved, Vectors
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import SearchEngine
from paperfeed.search.keeper import IndexKeeper
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store
from search_corpus import corpus

pytestmark = pytest.mark.timeout(300)  # MiniLM loads once a session; the first-tier model is distilled once


class QueryCounting(Embedder):
    """MiniLM, counting the queries it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        self.queries += 1
        return super().encode_query(text, alone=alone)


class Broken(Embedder):
    def encode(self, texts: Sequence[str], precision: Resolved | None = None) -> Vectors:
        raise PaperfeedError("the model files are damaged")


def until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Wait for ``condition`` (a generous deadline: the keeper looks every 20 ms here)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the keeper did not {what}"
        time.sleep(0.01)


def looked(keeper: IndexKeeper, more: int) -> Callable[[], bool]:
    target = keeper.looks + more
    return lambda: keeper.looks >= target


def ran(engine: SearchEngine, looks: int, what: str) -> IndexKeeper:
    """A keeper over ``engine``, run for ``looks`` looks and stopped."""
    keeper = IndexKeeper(engine, every=0.02)
    keeper.start()
    try:
        until(looked(keeper, looks), what)
    finally:
        keeper.stop()
    return keeper


def test_new_papers_and_vectors_reach_the_indexes_without_a_query(store: Store, tmp_path: Path) -> None:
    embedder = QueryCounting()
    engine = SearchEngine(store, tmp_path / "index", embedder)
    keeper = IndexKeeper(engine, every=0.02)
    keeper.start()
    try:
        until(looked(keeper, 1), "look at start")
        assert engine.keyword.size() == 0 and len(engine.tiers.main) == 0
        assert embedder.queries == 0  # no vectors yet: MiniLM is not loaded for nothing
        papers = corpus()[:6]
        store.upsert_papers(papers)
        until(lambda: engine.keyword.size() == len(papers), "index the new papers")
        embed_papers(store, embedder)
        until(lambda: len(engine.tiers.main) == len(papers), "take in the new vectors")
        until(lambda: embedder.queries == 1, "warm MiniLM up once it holds vectors")
        until(looked(keeper, 3), "go on looking")
        assert embedder.queries == 1  # once, not at every look
    finally:
        keeper.stop()
    assert keeper._thread is not None and not keeper._thread.is_alive()


def test_the_first_tier_model_is_warmed_once_the_first_tier_holds_vectors(
    store: Store, tmp_path: Path, static: StaticEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_papers(corpus()[:6])
    embed_papers(store, static)
    calls: list[str] = []
    real = static.encode_query

    def recording(text: str, *, alone: bool = False) -> Vectors:
        calls.append(threading.current_thread().name)
        return real(text, alone=alone)

    monkeypatch.setattr(static, "encode_query", recording)
    engine = SearchEngine(store, tmp_path / "index", QueryCounting(), first_tier=static)
    ran(engine, 3, "look three times")
    assert calls == ["paperfeed-index-keeper"]
    assert len(engine.tiers.first or []) == 6


def test_a_failing_look_is_logged_and_the_keeper_goes_on(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.upsert_papers(corpus()[:3])
    embed_papers(store, QueryCounting())  # vectors exist, so warm() loads the (broken) query model
    engine = SearchEngine(store, tmp_path / "index", Broken())
    ran(engine, 3, "go on after a failure")
    assert "the model files are damaged" in caplog.text
    assert engine.keyword.size() == 3  # what could be done was done


def test_zero_turns_it_off(store: Store, tmp_path: Path) -> None:
    keeper = IndexKeeper(SearchEngine(store, tmp_path / "index", QueryCounting()), every=0)
    keeper.start()
    assert keeper._thread is None
    keeper.stop()


def test_the_web_app_runs_a_keeper_while_it_serves(tmp_path: Path) -> None:
    app = corpus_app(tmp_path, "sqlite", index_keep_seconds=0.02)
    engine = site(app).services.engine
    with TestClient(app) as client:
        until(lambda: engine.keyword.size() == len(corpus()), "index the store's papers before any query")
        keepers = [t for t in threading.enumerate() if t.name == "paperfeed-index-keeper"]
        assert keepers and client.get("/healthz").status_code == 200
    assert not any(t.is_alive() for t in keepers)  # stopped with the app
    assert app_of(client) is app
