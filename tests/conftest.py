"""Shared fixtures: a store per backend, a real HTTP server on 127.0.0.1, the shared datasets."""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store, open_store
from pgcluster import Cluster, start_cluster

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ARXIV_FILE = SHARED_DATA / "arxiv" / "arxiv_daily.jsonl.gz"

# Every backend the store, search, web and digest suites run against.
BACKENDS = ["sqlite", "postgresql"]

_CLUSTER: list[Cluster | None] = []

T = TypeVar("T")


def present(value: T | None, what: str = "the value") -> T:
    """``value``, failing the test when it is None (so that tests need no cast to reach an optional's fields)."""
    assert value is not None, f"{what} is missing"
    return value


def matched(pattern: str, text: str) -> str:
    """The first group of ``pattern``'s first match in ``text``; fails the test when nothing matches."""
    found = re.search(pattern, text)
    assert found, f"{pattern!r} does not occur in the text"
    return found.group(1)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return matched(r'name="csrf_token" value="([^"]+)"', html)


def sql_engine(store: Store) -> sa.Engine:
    """The SQLAlchemy engine under a SQL store, for the store suite's own checks of the schema and its SQL."""
    from paperfeed.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return store.engine


def app_of(client: TestClient) -> FastAPI:
    """The app a TestClient drives, typed."""
    assert isinstance(client.app, FastAPI)
    return client.app


def app_store(app_or_client: FastAPI | TestClient) -> Store:
    """The store of an app that create_app built (or of the app a TestClient drives)."""
    from paperfeed.http_edge import site

    return site(app_or_client if isinstance(app_or_client, FastAPI) else app_of(app_or_client)).services.store


def postgres_cluster() -> Cluster:
    """The session's PostgreSQL server on 127.0.0.1, started on first use (see tests/pgcluster.py).

    Where no PostgreSQL is installed the PostgreSQL cases skip with that reason, except under CI, where the
    README's test command installs it and a missing server is a failure."""
    if not _CLUSTER:
        _CLUSTER.append(start_cluster())
        if _CLUSTER[0] is not None:
            atexit.register(_CLUSTER[0].stop)
    cluster = _CLUSTER[0]
    if cluster is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server binaries (pip install pgserver, or apt-get install postgresql)")
        pytest.skip("no PostgreSQL server binaries here (pip install pgserver)")
    return cluster


def new_database_url(backend: str, folder: Path) -> str:
    """An empty database of ``backend``: a file in ``folder`` for SQLite, a new database for PostgreSQL."""
    if backend == "postgresql":
        return postgres_cluster().new_database()
    return f"sqlite:///{folder / 'paperfeed.db'}"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a test module runs against: each module runs once per backend."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path) -> str:
    return new_database_url(backend, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def arxiv_file() -> Path:
    if not ARXIV_FILE.is_file():
        pytest.skip("../shared/data/arxiv is absent")
    return ARXIV_FILE


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class Server:
    """A real HTTP server on 127.0.0.1 whose replies a test scripts with ``respond``."""

    def __init__(self) -> None:
        self.respond: Callable[[Seen], Reply] = lambda seen: Reply(404, b"not scripted")
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                seen = Seen(parts.path, query, dict(self.headers.items()), time.monotonic())
                server.seen.append(seen)
                reply = server.respond(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left: that is what the test wanted

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/query"


def corpus_app(folder: Path, backend: str, **settings: Any) -> FastAPI:
    """A web app over a new store of ``backend`` holding tests/search_corpus.py's papers (not embedded), for
    tests that drive the pages and the API in process; ``settings`` override the tests' defaults."""
    from paperfeed.config import load_settings
    from paperfeed.http_edge import site
    from paperfeed.web.app import create_app
    from search_corpus import corpus

    defaults: dict[str, Any] = {
        "base_url": "http://testserver", "database_url": new_database_url(backend, folder), "data_dir": folder,
        "secret_key": "corpus-app-secret-" + "c" * 40, "digest_schedule": False,
    }  # fmt: skip
    app = create_app(load_settings(**{**defaults, **settings}))
    site(app).services.store.migrate()
    site(app).services.store.upsert_papers(corpus())
    return app


@pytest.fixture(scope="session")
def static(tmp_path_factory: pytest.TempPathFactory) -> StaticEmbedder:
    """The first-tier model, distilled once for the session (about 20 s)."""
    model = StaticEmbedder(tmp_path_factory.mktemp("models"))
    assert model.prepare() is True
    assert model.prepare() is False  # already there: nothing to do
    return model


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free 127.0.0.1 port: its base URL, for real HTTP clients."""
    import uvicorn

    from mailsink import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
