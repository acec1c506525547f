"""The MiniLM backlog gives way to readers: web processes mark the search folder while several requests run at
once, and the worker's embedding waits, within a bound, while the mark is fresh."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from starlette.types import Message, Receive, Scope, Send

from paperfeed.search.embed import Vectors
from paperfeed.search.give_way import (
    BUSY_FOR,
    MARKER,
    POLL,
    SLICE,
    TOUCH_EVERY,
    GivingWay,
    Interrupted,
    Pacer,
    ReaderActivity,
)
from paperfeed.web.activity import ReadersFirst


class Clock:
    """A clock that only moves when told (sleeping moves it)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class Recording:
    """A tier's model that takes ``cost`` clock seconds per text and embeds a text as [len(text), 0, ...]."""

    model_id, dim, precision = "test-model", 4, "fp32"

    def __init__(self, clock: Clock, cost: float = 0.0) -> None:
        self.clock, self.cost = clock, cost
        self.calls: list[int] = []

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(len(texts))
        self.clock.now += self.cost * len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        out[:, 0] = [len(t) for t in texts]
        return out

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        vector: Vectors = self.encode([text])[0]
        return vector


def test_one_request_at_a_time_leaves_no_mark_and_two_at_once_do(tmp_path: Path) -> None:
    clock = Clock()
    readers = ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)
    with readers.request():
        pass
    with readers.request():
        assert not (tmp_path / MARKER).exists() and not readers.busy()
        with readers.request():
            assert readers.busy()
    assert readers.busy()
    clock.now += BUSY_FOR + 0.01
    assert not readers.busy()


def test_the_mark_is_renewed_at_most_every_quarter_second(tmp_path: Path) -> None:
    clock = Clock()
    readers = ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)
    readers.touch()
    first = (tmp_path / MARKER).stat().st_mtime
    clock.now += TOUCH_EVERY / 2
    readers.touch()
    assert (tmp_path / MARKER).stat().st_mtime == first
    clock.now += TOUCH_EVERY
    readers.touch()
    assert (tmp_path / MARKER).stat().st_mtime == pytest.approx(clock.now)


def test_a_folder_that_cannot_be_written_means_no_waiting(tmp_path: Path) -> None:
    readers = ReaderActivity(tmp_path / "missing" / "folder")
    readers.touch()  # no error
    assert not readers.busy()
    assert readers.wait(5.0) < 1.0


def test_waiting_ends_at_its_limit_when_the_readers_stop_or_when_the_worker_is_told_to_stop(tmp_path: Path) -> None:
    clock = Clock()
    readers = ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)
    (tmp_path / MARKER).touch()
    os.utime(tmp_path / MARKER, (clock.now + 100, clock.now + 100))  # busy for the next 100 s
    assert readers.wait(2.0) == pytest.approx(2.0)
    asked = iter([False, False, True])
    assert readers.wait(10.0, lambda: next(asked)) == pytest.approx(2 * POLL)
    os.utime(tmp_path / MARKER, (clock.now + 1, clock.now + 1))  # readers gone in about 1.75 s
    assert 1.5 < readers.wait(10.0) < 2.0


def test_giving_way_keeps_the_order_and_slices_the_batch(tmp_path: Path) -> None:
    clock = Clock()
    inner = Recording(clock)
    model = GivingWay(inner, Pacer(ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)))
    texts = ["x" * n for n in [5, 80, 1, 33, 7] * 20]
    vectors = model.encode(texts)
    assert vectors[:, 0].tolist() == [len(t) for t in texts]  # each text's own vector, in the given order
    assert inner.calls == [SLICE, SLICE, SLICE, 100 - 3 * SLICE]
    assert model.waited == 0 and clock.slept == 0  # nobody reading: no waiting
    assert model.encode([]).shape == (0, 4)
    assert (model.model_id, model.dim, model.precision, model.device) == ("test-model", 4, "fp32", "cpu")


def test_under_constant_load_the_embedding_waits_at_most_three_quarters_of_the_time(tmp_path: Path) -> None:
    clock = Clock()
    inner = Recording(clock, cost=0.02)  # 0.64 s a slice
    readers = ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)
    (tmp_path / MARKER).touch()
    os.utime(tmp_path / MARKER, (clock.now + 10_000, clock.now + 10_000))  # readers busy throughout
    model = GivingWay(inner, Pacer(readers))
    started = clock.now
    vectors = model.encode(["abc"] * (SLICE * 20))
    assert len(vectors) == SLICE * 20 and len(inner.calls) == 20
    work = 0.02 * SLICE * 20
    elapsed = clock.now - started
    assert model.waited > 0.7 * elapsed - POLL  # it did give way, most of the time
    assert model.waited <= 3 * work + POLL + 1e-6  # but never more than three times its work
    assert elapsed == pytest.approx(work + model.waited)


def test_a_worker_told_to_stop_stops_waiting_at_once(tmp_path: Path) -> None:
    clock = Clock()
    readers = ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep)
    (tmp_path / MARKER).touch()
    os.utime(tmp_path / MARKER, (clock.now + 10_000, clock.now + 10_000))
    stop = [False]
    inner = Recording(clock, cost=1.0)  # a slice earns 96 s of credit, capped at 30

    def stopping() -> bool:
        return stop[0]

    model = GivingWay(inner, Pacer(readers, stopping))
    model.encode(["a"] * SLICE)
    stop[0] = True
    before = clock.now
    assert model.pacer.run(lambda: clock.now) == before  # a step runs at once: no waiting for the readers
    with pytest.raises(Interrupted):  # and a batch ends before its next slice
        model.encode(["a"] * SLICE)
    assert clock.now == before


async def _drive(app: ReadersFirst, paths: list[str]) -> None:
    async def one(path: str) -> None:
        scope: Scope = {"type": "http", "path": path, "method": "GET", "headers": []}

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            pass

        await app(scope, receive, send)

    await asyncio.gather(*(one(p) for p in paths))


def _slow_app(release: asyncio.Event, started: list[str]) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        started.append(str(scope["path"]))
        await release.wait()

    return app


def test_the_middleware_marks_two_requests_at_once_but_not_monitors_or_static_files(tmp_path: Path) -> None:
    async def run(paths: list[str]) -> bool:
        release, started = asyncio.Event(), list[str]()
        readers = ReaderActivity(tmp_path / paths[0].strip("/").replace("/", "-"))
        readers.path.parent.mkdir()
        app = ReadersFirst(_slow_app(release, started), readers)  # type: ignore[arg-type]
        task = asyncio.ensure_future(_drive(app, paths))
        while len(started) < len(paths):
            await asyncio.sleep(0.01)
        busy = readers.busy()
        release.set()
        await task
        return busy

    assert asyncio.run(run(["/search", "/papers/2401.00001"]))
    assert not asyncio.run(run(["/healthz", "/healthz", "/static/site.css", "/static/a.js"]))
    assert not asyncio.run(run(["/alone"]))


def test_the_web_app_counts_its_requests_in_the_search_folder(tmp_path: Path) -> None:
    from paperfeed.config import load_settings
    from paperfeed.web.app import create_app

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", data_dir=tmp_path, secret_key="k" * 40)
    app = create_app(settings)
    counting = [m for m in app.user_middleware if getattr(m.cls, "__name__", "") == ReadersFirst.__name__]
    assert len(counting) == 1
    readers = counting[0].kwargs["activity"]
    assert isinstance(readers, ReaderActivity) and readers.path == settings.search_dir / MARKER


def test_the_worker_reports_how_long_a_chunk_gave_way(tmp_path: Path) -> None:
    """With readers busy throughout, a chunk's MiniLM embedding waits (within its bound) and says so."""
    from paperfeed.config import load_settings
    from paperfeed.search.embed_job import CHUNK_KIND
    from paperfeed.services import Services
    from search_corpus import corpus

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", data_dir=tmp_path, first_tier=False)
    services = Services.build(settings)
    try:
        store = services.store
        store.migrate()
        store.upsert_papers(corpus()[:6])
        services.settings.search_dir.mkdir(parents=True, exist_ok=True)
        marker = services.readers.path
        marker.touch()
        os.utime(marker, (time.time() + 600, time.time() + 600))
        store.enqueue_job(CHUNK_KIND, "embed-chunk:test:0", {"after": 0, "upto": 10**9}, _now())
        [outcome] = services.worker([CHUNK_KIND]).drain()
        assert outcome.summary.startswith("6 papers embedded in ")
        assert "s of it giving way to readers" in outcome.summary
    finally:
        services.close()


def _now() -> datetime:
    return datetime.now(UTC)


def test_a_worker_told_to_stop_mid_batch_drops_the_batch_and_embeds_it_next_time(tmp_path: Path) -> None:
    """One batch on a slow core is tens of seconds: a stop between two slices ends it (within a slice), nothing
    of that batch is saved, and the next run embeds it."""
    from paperfeed.search.embed_job import embed_papers
    from paperfeed.store import open_store
    from search_corpus import paper

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    papers = SLICE + 8  # one batch of two slices
    store.upsert_papers([paper(n) for n in range(papers)])
    clock = Clock()
    stop = False

    class StoppedAfterOneSlice(Recording):
        model_id, dim = "test-model", 384

        def encode(self, texts: Sequence[str]) -> Vectors:
            nonlocal stop
            out = super().encode(texts)
            stop = True  # the worker is told to stop while this slice runs
            return out

    inner = StoppedAfterOneSlice(clock)
    model = GivingWay(inner, Pacer(ReaderActivity(tmp_path, clock=clock, sleep=clock.sleep), lambda: stop))
    report = embed_papers(store, model, batch=papers)
    assert inner.calls == [SLICE]  # the second slice was never started
    assert report.stopped and report.embedded == 0
    assert store.embedding_backlog("test-model") == papers  # nothing of the batch was saved
    with pytest.raises(Interrupted):  # the encoder itself says so to whoever calls it
        model.encode(["x"])
    again = embed_papers(store, GivingWay(StoppedAfterOneSlice(clock), Pacer(ReaderActivity(tmp_path))))
    assert again.embedded == papers and not again.stopped
    assert store.embedding_backlog("test-model") == 0
    store.close()
