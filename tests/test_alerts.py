"""Alerts: new papers matched against follows, delivered once to a reader's webhook (signed, retried, switched
off after repeated failures, never to the server's own network unless the admin allows it) and in the digest's
"followed" section. Webhooks are received by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import email
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import corpus_app, csrf_of
from paperfeed import accounts, follows
from paperfeed.alerts.run import run_alerts
from paperfeed.alerts.webhooks import DISABLE_AFTER, check_url, deliver, set_webhook
from paperfeed.digest import subscribe as subs
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.run import compose
from paperfeed.errors import BadRequest
from paperfeed.http_edge import site
from paperfeed.models import Author, Follow, User
from paperfeed.search.matching import match
from paperfeed.store import Store
from search_corpus import corpus, paper

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _follow(n: int, user: int, kind: str, value: str) -> Follow:
    key = follows.check_value(follows.parse_kind(kind), value)[1]
    return Follow(n, user, kind, value, key, NOW)


def test_matching_follows_authors_categories_and_searches() -> None:
    papers = [
        paper(0, arxiv_id="2601.00001", title="Sparse Attention Transformers", abstract="We study sparse attention.",
              authors=(Author("Jürgen Schmidhuber"),), categories=("cs.LG",), feed_date=date(2026, 1, 5)),
        paper(1, arxiv_id="2601.00002", title="Stochastic Graphs", abstract="Random walks on video graphs.",
              authors=(Author("Kiyoshi Ito"),), categories=("math.PR",), feed_date=date(2026, 1, 5)),
    ]  # fmt: skip
    wanted = [
        _follow(1, 7, "author", "Jurgen Schmidhuber"), _follow(2, 7, "category", "cs.LG"),
        _follow(3, 8, "category", "math"), _follow(4, 8, "query", '"sparse attention" -video'),
        _follow(5, 9, "query", "graphs -video"), _follow(6, 9, "query", "ti:stochastic au:Ito cat:math"),
        _follow(7, 10, "query", "transformers since:2026-02"), _follow(8, 10, "query", "attention transformer"),
    ]  # fmt: skip
    got = {user: [(p.arxiv_id, f.id) for p, f in pairs] for user, pairs in match(papers, wanted).items()}
    assert got[7] == [("2601.00001", 1)]  # once per reader, by its first matching follow
    assert got[8] == [("2601.00001", 4), ("2601.00002", 3)]
    assert got[9] == [("2601.00002", 6)]  # "graphs -video" is excluded by the abstract's "video"
    assert got[10] == [("2601.00001", 8)]  # since: rules out the first; plurals match singulars


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/hook", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http"),
        ("https://user:pw@example.org/", "must not carry a user name"),
        ("http://127.0.0.1:8000/admin", "resolves to 127.0.0.1"),
        ("http://localhost/", "resolves to"),
        ("http://10.0.0.5/", "resolves to 10.0.0.5"),
        ("http://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254"),
        ("http://[::1]/", "resolves to ::1"),
        ("http://0.0.0.0/", "resolves to 0.0.0.0"),
        ("https://example.org:99999/", "not a valid address"),
        ("https://" + "a" * 3000 + ".org/", "at most 2000 characters"),
        ("", "must be an http or https address"),
        ("https://no-such-host.invalid/", "cannot resolve host"),
    ],
)
def test_webhook_urls_that_could_reach_the_servers_network_are_refused(url: str, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check_url(url, allow_private=False)
    assert message in refused.value.message and refused.value.message.startswith("url")


def test_a_public_name_that_resolves_privately_is_refused_and_the_admin_may_allow_it() -> None:
    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "192.168.1.10"]

    with pytest.raises(BadRequest, match=r"192\.168\.1\.10"):
        check_url("https://hooks.example.org/x", allow_private=False, lookup=rebinding)
    assert check_url("http://127.0.0.1:9/x", allow_private=True) == "http://127.0.0.1:9/x"
    assert check_url("https://hooks.example.org/x", allow_private=False, lookup=lambda h, p: ["93.184.216.34"])


@dataclass
class Sink:
    """A webhook receiver on 127.0.0.1: records every POST and answers with the scripted statuses."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; 204 when empty


@pytest.fixture
def sink() -> Iterator[Sink]:
    box = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            box.received.append((dict(self.headers.items()), body))
            self.send_response(box.statuses.pop(0) if box.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def _reader(store: Store, name: str) -> User:
    return accounts.sign_up(store, name, "a long enough password")


def _deliver(store: Store, at: datetime) -> Any:
    with httpx.Client(timeout=5, follow_redirects=False, trust_env=False) as http:
        return deliver(store, http, allow_private=True, user_agent="paperfeed-test", now=lambda: at)


def test_new_matches_reach_the_webhook_once_signed(store: Store, sink: Sink) -> None:
    store.upsert_papers(corpus())
    ada = _reader(store, "ada")
    follows.follow(store, ada, "author", "Yann LeCun")
    follows.follow(store, ada, "query", "quantum")
    follows.follow(store, ada, "category", "cs.CV", webhook=False)  # digest only
    hook = set_webhook(store, ada, sink.url, allow_private=True)
    assert run_alerts(store, "https://papers.example.org").papers == 0  # first run: what is here is not news
    fresh = [paper(60, arxiv_id="2601.00060", title="Quantum Sensing", authors=(Author("Yann LeCun"),),
                   categories=("quant-ph",)),
             paper(61, arxiv_id="2601.00061", title="Vision Only", categories=("cs.CV",)),
             paper(62, arxiv_id="2601.00062", title="Unrelated Botany", abstract="Leaves and roots.",
                   authors=(Author("Carl Linnaeus"),), categories=("q-bio.PE",))]  # fmt: skip
    store.upsert_papers(fresh)
    report = run_alerts(store, "https://papers.example.org")
    assert (report.papers, report.matches, report.batches) == (3, 2, 1)
    assert run_alerts(store, "https://papers.example.org").matches == 0  # nothing new since
    assert _deliver(store, datetime.now(UTC)).delivered == 1
    assert _deliver(store, datetime.now(UTC)).delivered == 0  # each batch once
    [(headers, body)] = sink.received
    sent = orjson.loads(body)
    assert [p["id"] for p in sent["papers"]] == ["2601.00060"]  # the cs.CV follow is digest-only
    assert sent["papers"][0]["follow"] == {"kind": "author", "value": "Yann LeCun"}
    assert sent["text"].startswith("1 new paper for ada") and "|Quantum Sensing>" in sent["text"]
    stamp = headers["X-Paperfeed-Timestamp"]
    expected = hmac.new(hook.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Paperfeed-Signature"] == f"sha256={expected}" and headers["X-Paperfeed-Delivery"]
    # a new version of a paper that matched does not alert again
    store.upsert_papers([paper(60, arxiv_id="2601.00060", title="Quantum Sensing v2", authors=(Author("Yann LeCun"),),
                               categories=("quant-ph",), version=2)])  # fmt: skip
    assert run_alerts(store, "https://papers.example.org").matches == 0


def test_failing_webhooks_are_retried_then_switched_off_with_a_reason(store: Store, sink: Sink) -> None:
    store.upsert_papers(corpus())
    bob = _reader(store, "bob")
    follows.follow(store, bob, "category", "cs.CV")
    set_webhook(store, bob, sink.url, allow_private=True)
    run_alerts(store, "https://papers.example.org")
    store.upsert_papers([paper(70, arxiv_id="2601.00070", categories=("cs.CV",))])
    run_alerts(store, "https://papers.example.org")
    at = datetime.now(UTC)
    sink.statuses = [503, 500]
    assert _deliver(store, at).retried == 1
    assert _deliver(store, at).delivered == 0  # not due yet: the backoff
    assert _deliver(store, at + timedelta(minutes=1)).retried == 1
    assert _deliver(store, at + timedelta(minutes=3)).delivered == 1  # the third try gets through
    for n in range(DISABLE_AFTER):  # then permanent failures, batch after batch
        store.upsert_papers([paper(71 + n, arxiv_id=f"2601.{71 + n:05d}", categories=("cs.CV",))])
        run_alerts(store, "https://papers.example.org")
        sink.statuses = [410]
        report = _deliver(store, at + timedelta(minutes=10 + n))
        assert report.failed == 1
    hook = store.get_webhook(bob.id)
    assert hook is not None and not hook.active and "5 failed deliveries in a row" in (hook.disabled_reason or "")
    assert report.disabled == 1
    store.upsert_papers([paper(90, arxiv_id="2601.00090", categories=("cs.CV",))])
    assert run_alerts(store, "https://papers.example.org").batches == 0  # switched off: nothing more queued


def test_followed_papers_lead_the_digest_once(store: Store) -> None:
    store.upsert_papers(corpus())
    cleo = _reader(store, "cleo")
    follows.follow(store, cleo, "author", "John Preskill")
    run_alerts(store, "https://papers.example.org")
    day = date(2025, 1, 7)
    store.upsert_papers([paper(80, arxiv_id="2501.00080", title="Followed Surface Codes", feed_date=day,
                               authors=(Author("John Preskill"),))])  # fmt: skip
    run_alerts(store, "https://papers.example.org")
    sub, _ = store.save_subscription("cleo@example.org", subs.preferences(), cleo.id, NOW)
    store.confirm_subscription(sub.id, NOW)
    settings = MailSettings("paperfeed <d@example.org>", "https://papers.example.org", "s" * 40)
    compose(store, settings, day)
    first = _mails(store)
    assert len(first) == 1 and "New from what you follow" in first[0] and "Followed Surface Codes" in first[0]
    compose(store, settings, day + timedelta(days=1))
    later = _mails(store)
    assert all("New from what you follow" not in m for m in later)  # sent once


def _mails(store: Store) -> list[str]:
    texts = []
    for item in store.claim_due(datetime.now(UTC) + timedelta(days=1), 100, datetime.now(UTC)):
        message: Message = email.message_from_bytes(item.message)
        part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        texts.append(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        store.mark_sent(item.id, datetime.now(UTC))
    return texts


def test_webhook_api_and_page(tmp_path: Any, backend: str) -> None:
    app = corpus_app(tmp_path, backend, jobs_in_process=False, base_url="https://papers.example.org")
    store = site(app).services.store
    user = _reader(store, "dora")
    secret, _ = accounts.create_token(store, user, "t")
    api = TestClient(app, base_url="https://papers.example.org", headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/webhook").status_code == 404
    for url, message in [("http://127.0.0.1/", "resolves to 127.0.0.1"), ("gopher://x.org/", "must start with"),
                         ("x" * 30_000, "url: String should have at most")]:  # fmt: skip
        answer = api.put("/api/webhook", json={"url": url})
        assert answer.status_code == 400 and message in answer.json()["error"]["message"], url
    assert store.get_webhook(user.id) is None  # nothing saved
    follow = api.post("/api/follows", json={"kind": "category", "value": "cs.LG", "webhook": False}).json()
    assert (follow["digest"], follow["webhook"]) == (True, False)
    store.set_webhook(user.id, "https://hooks.example.org/x", "sekret", NOW)  # (no DNS in tests)
    shown = api.get("/api/webhook").json()
    assert shown["url"] == "https://hooks.example.org/x" and shown["active"] and shown["secret"] == "sekret"
    session = accounts.start_session(store, user)
    client = TestClient(app, base_url="https://papers.example.org")
    client.cookies.set(accounts.SESSION_COOKIE, session.token)
    page = client.get("/follows").text
    assert "https://hooks.example.org/x" in page and "sekret" in page
    refused = client.post("/follows/webhook", data={"csrf_token": csrf_of(page), "url": "http://10.1.2.3/"})
    assert refused.status_code == 400 and "resolves to 10.1.2.3" in refused.text
    assert api.delete("/api/webhook").status_code == 204 and api.delete("/api/webhook").status_code == 404
    site(app).services.close()
