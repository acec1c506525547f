"""Two real `paperfeed serve` processes over one database, as on two machines (each with its own data folder and
search indexes): a session made through one works through the other; an upvote through one shows through the
other at once; a paper imported by a worker is found by the other's search on the next query."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import new_database_url
from paperfeed import accounts
from paperfeed.store import Store, open_store
from search_corpus import corpus, paper

SECRET = "multiprocess-secret-" + "z" * 32


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "PAPERFEED_DATABASE_URL": url, "PAPERFEED_DATA_DIR": str(folder),
           "PAPERFEED_SECRET_KEY": SECRET, "PAPERFEED_JOBS_IN_PROCESS": "false",
           "PAPERFEED_PAGE_CACHE_SECONDS": "0"}  # the anonymous-page cache is the one documented delay  # fmt: skip
    command = [sys.executable, "-m", "paperfeed", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("paperfeed serve did not come up")


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[tuple[Store, str, str]]:
    folder = tmp_path_factory.mktemp("multi")
    url = new_database_url(backend, folder)
    store = open_store(url)
    store.migrate()
    store.upsert_papers(corpus())
    (one, a), (other, b) = _serve(url, folder / "a"), _serve(url, folder / "b")
    yield store, a, b
    for proc in (one, other):
        proc.terminate()
        proc.wait(timeout=30)
    store.close()


def test_a_session_made_through_one_process_works_through_the_other(two: tuple[Store, str, str]) -> None:
    store, a, b = two
    user = accounts.sign_up(store, "multi", "a long password")
    session = accounts.start_session(store, user)  # as a log-in through either process makes it
    for base in (a, b):
        whoami = httpx.get(f"{base}/api/whoami", cookies={accounts.SESSION_COOKIE: session.token})
        assert whoami.json()["name"] == "multi"


def test_an_upvote_through_one_process_shows_through_the_other_at_once(two: tuple[Store, str, str]) -> None:
    store, a, b = two
    user = accounts.sign_up(store, "voter", "a long password")
    secret, _ = accounts.create_token(store, user, "test")
    before = httpx.get(f"{b}/api/papers/2501.00003").json()["upvotes"]
    voted = httpx.post(f"{a}/api/papers/2501.00003/upvote", headers={"Authorization": f"Bearer {secret}"})
    assert voted.status_code == 200, voted.text
    assert httpx.get(f"{b}/api/papers/2501.00003").json()["upvotes"] == before + 1
    daily = httpx.get(f"{b}/api/daily_papers", params={"date": "2025-01-04"}).json()
    assert {p["paper"]["id"]: p["paper"]["upvotes"] for p in daily}["2501.00003"] == before + 1


def test_a_paper_imported_elsewhere_is_found_by_the_next_search(two: tuple[Store, str, str]) -> None:
    store, a, b = two
    query = {"q": "quokka", "mode": "keyword"}
    for base in (a, b):  # both indexes built before the import
        assert httpx.get(f"{base}/api/search", params=query).json()["total"] == 0
    store.upsert_papers([paper(90, arxiv_id="2501.00990", title="Quokka populations under a changing climate")])
    for base in (a, b):
        found = httpx.get(f"{base}/api/search", params=query).json()
        assert [h["id"] for h in found["results"]] == ["2501.00990"], found
