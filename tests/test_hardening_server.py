"""The real server (`paperfeed --config FILE serve`, uvicorn in its own process) under slow upstreams and slow
clients: the event loop stays free, the config file's settings reach the served app, and connections that
dribble their headers are closed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import Reply, Seen, Server
from feeds import atom_entry, atom_page
from mailsink import free_port
from paperfeed.store import open_store
from search_corpus import corpus

SECRET = "server-hardening-" + "s" * 40
BASE = "https://feeds.example.net"


@dataclass
class Served:
    url: str
    arxiv: Server


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paperfeed serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("paperfeed serve did not answer within 90 s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    arxiv = Server()

    def slow_arxiv(seen: Seen) -> Reply:  # an arXiv that takes 10 s to answer
        return Reply(200, atom_page([atom_entry(7)], total=1, start=0), {"Content-Type": "application/atom+xml"}, 10)

    arxiv.respond = slow_arxiv
    config = folder / "site.conf"  # not ./paperfeed.env, which load_settings finds even without --config
    config.write_text(
        f"PAPERFEED_DATA_DIR={folder}\nPAPERFEED_BASE_URL={BASE}\nPAPERFEED_ARXIV_API_URL={arxiv.url}\n"
        "PAPERFEED_JOBS_IN_PROCESS=false\nPAPERFEED_HEADER_TIMEOUT=1\nPAPERFEED_SIGNUPS_PER_HOUR=100\n"
        "PAPERFEED_LOGIN_ATTEMPTS_PER_MINUTE=100\n"
    )
    store = open_store(f"sqlite:///{folder}/paperfeed.db")
    store.migrate()
    store.upsert_papers(corpus())
    store.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_SECRET_KEY"] = SECRET
    env["PAPERFEED_ARXIV_API_URL"] = arxiv.url  # also in the file, but the loop test must not depend on point 9
    command = [sys.executable, "-m", "paperfeed", "--config", str(config), "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url)
        yield Served(url, arxiv)
    finally:
        process.terminate()
        process.wait(timeout=30)
        arxiv.close()


def _form_token(client: httpx.Client, path: str) -> str:
    page = client.get(path).text
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_config_files_settings_reach_the_served_app(served: Served) -> None:
    rss = httpx.get(served.url + "/feeds/daily.rss", timeout=10)
    assert rss.status_code == 200
    assert f"<link>{BASE}/papers/" in rss.text
    assert rss.headers["strict-transport-security"]  # the file's https base URL, not the default http one


def test_slow_log_ins_and_a_slow_arxiv_do_not_block_the_event_loop(served: Served) -> None:
    submitter = httpx.Client(base_url=served.url, timeout=30)
    token = _form_token(submitter, "/signup")
    data = {"csrf_token": token, "name": "loopwatcher", "password": "a long password"}
    assert submitter.post("/signup", data=data).status_code in (200, 303)
    submit_token = _form_token(submitter, "/submit")
    logins = []
    for _ in range(10):
        client = httpx.Client(base_url=served.url, timeout=30)
        logins.append((client, _form_token(client, "/login")))

    def log_in(client: httpx.Client, token: str) -> None:
        client.post("/login", data={"csrf_token": token, "name": "loopwatcher", "password": "wrong password"})

    def submit() -> None:
        submitter.post("/submit", data={"csrf_token": submit_token, "id": "2403.00007"})

    threads = [threading.Thread(target=submit)]
    threads[0].start()
    deadline = time.monotonic() + 20
    while not any(seen.query.get("id_list") == "2403.00007" for seen in served.arxiv.seen):
        assert time.monotonic() < deadline, "the submit never reached arXiv"
        time.sleep(0.05)
    threads += [threading.Thread(target=log_in, args=pair) for pair in logins]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.1)  # everything is in flight: the submit waits on the 10 s arXiv, the log-ins hash
    probes = []
    with httpx.Client(base_url=served.url, timeout=15) as probe:
        for _ in range(7):
            started = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            probes.append(time.perf_counter() - started)
    still_waiting = threads[0].is_alive()
    for thread in threads:
        thread.join(timeout=60)
    assert max(probes) < 0.1, probes
    assert still_waiting  # the submit was still waiting on arXiv through every probe


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_client_that_dribbles_its_headers_is_cut_off(served: Served) -> None:
    with _connect(served.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed_after = None
        started = time.monotonic()
        sock.settimeout(0.25)
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"X")  # one byte of a header, now and then, never finishing
                if sock.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                closed_after = time.monotonic() - started
                break
        assert closed_after is not None, "the server kept a dribbling connection open for 8 s"


def test_oversized_headers_are_refused(served: Served) -> None:
    with _connect(served.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]


def test_a_forged_host_is_refused_by_the_real_server(served: Served) -> None:
    answer = httpx.get(served.url + "/", headers={"Host": "evil.example"}, timeout=10)
    assert answer.status_code == 400
    assert httpx.get(served.url + "/", timeout=10).status_code == 200
