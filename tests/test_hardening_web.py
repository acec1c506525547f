"""Attacks on the web edge, in process over a real store of each backend: forged Host and forwarding headers
against the page cache, subscriptions of addresses one does not own, log-in guessing, comments, security
headers, CSRF binding, and the raw bytes of the mails' headers."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import new_database_url
from paperfeed import reader_actions
from paperfeed.config import load_settings
from paperfeed.digest import subscribe as subs
from paperfeed.digest.compose import Edition, confirmation_mail, digest_mail
from paperfeed.digest.config import mail_settings
from paperfeed.http_edge import site
from paperfeed.models import Subscription
from paperfeed.store import Store
from paperfeed.web.app import create_app
from search_corpus import corpus

SECRET = "hardening-secret-" + "h" * 40
BASE = "https://papers.example.org"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[FastAPI]:
    folder = tmp_path_factory.mktemp("hardening")
    settings = load_settings(
        database_url=new_database_url(backend, folder), data_dir=folder, secret_key=SECRET, base_url=BASE,
        trusted_proxies=["10.0.0.0/8"], login_attempts_per_minute=100, signups_per_hour=1000,
        digest_schedule=False, page_cache_seconds=60, account_login_failures=3,
    )  # fmt: skip
    made = create_app(settings)
    site(made).services.store.migrate()
    site(made).services.store.upsert_papers(corpus())
    yield made
    site(made).services.store.close()


def visitor(app: FastAPI, **kwargs: Any) -> TestClient:
    """A browser at the configured address (its Host is papers.example.org)."""
    return TestClient(app, base_url=BASE, **kwargs)


def store_of(app: FastAPI) -> Store:
    found: Store = site(app).services.store
    return found


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_up(client: TestClient, name: str, email: str = "", password: str = "a fine password") -> None:
    token = csrf_of(client.get("/signup").text)
    data = {"csrf_token": token, "name": name, "password": password, "email": email}
    assert client.post("/signup", data=data, follow_redirects=False).status_code == 303


# -- 1. Host header and the page cache ------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [{"host": "evil.example"}, {"host": "evil.example:443"}, {"host": "papers.example.org.evil.example"}],
)
def test_an_unknown_host_is_refused_and_never_cached(app: FastAPI, forged: dict[str, str]) -> None:
    poisoned = visitor(app).get("/", headers=forged)
    assert poisoned.status_code == 400
    assert "Host header" in poisoned.text
    assert visitor(app).get("/api/feed", headers=forged).json()["error"]["status"] == 400
    clean = visitor(app).get("/")
    assert clean.status_code == 200
    assert "evil" not in clean.text


def test_forwarding_headers_from_an_untrusted_peer_change_nothing(app: FastAPI) -> None:
    forged = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "gopher", "x-forwarded-for": "1.2.3.4"}
    for path in ("/", "/papers/date/2025-01-03", "/api/daily_papers", "/feeds/daily.rss"):
        poisoned = visitor(app).get(path, headers=forged)
        assert poisoned.status_code == 200 and "evil" not in poisoned.text
        again = visitor(app).get(path)  # a normal visitor, possibly served from the cache
        assert again.status_code == 200 and "evil" not in again.text
    page = visitor(app).get("/").text
    assert 'href="/static/paperfeed.css"' in page  # assets are relative: no host in them at all
    assert "http://" not in re.sub(r'href="https?://arxiv\.org[^"]*"', "", page).split("<main>")[0]


def test_feed_links_come_from_the_base_url(app: FastAPI) -> None:
    rss = TestClient(app, base_url="http://localhost:8000").get("/feeds/daily.rss")
    assert rss.status_code == 200
    assert f"<link>{BASE}/papers/" in rss.text
    assert "localhost" not in rss.text


# -- 2. Subscriptions cannot be changed by someone who does not own the address -------------------------


def test_subscribing_a_taken_address_changes_nothing_and_says_nothing(app: FastAPI) -> None:
    store = store_of(app)
    owner = subs.preferences(frequency="weekly", categories="cs.CV", max_papers="5")
    sub, made = store.add_subscription("owner@example.org", owner, None, datetime.now(UTC))
    assert made
    store.confirm_subscription(sub.id, datetime.now(UTC))
    claim_all(store)
    attacker = visitor(app)

    def post(email: str) -> str:
        page = attacker.get("/subscribe").text
        data = {"csrf_token": csrf_of(page), "email": email, "frequency": "daily", "categories": "math.AG",
                "max_papers": "50"}  # fmt: skip
        response = attacker.post("/subscribe", data=data)
        assert response.status_code == 200
        return response.text.replace(email, "ADDRESS")

    assert post("owner@example.org") == post("newcomer@example.org")  # the answer never tells which is which
    kept = store.get_subscription(sub.id)
    assert kept is not None
    assert (kept.frequency, kept.categories, kept.max_papers, kept.confirmed) == ("weekly", ("cs.CV",), 5, True)
    mails = claim_all(store)
    to_owner = [m for m in mails if m.recipient == "owner@example.org"]
    assert len(to_owner) == 1 and b"/subscribe/manage?token=" in to_owner[0].message
    assert b"nothing about it was changed" in to_owner[0].message
    post("owner@example.org")  # again within the hour: no second mail
    assert not [m for m in claim_all(store) if m.recipient == "owner@example.org"]


def test_the_api_answers_the_same_for_a_taken_address(app: FastAPI) -> None:
    store = store_of(app)
    store.add_subscription("apiowner@example.org", subs.preferences(max_papers="3"), None, datetime.now(UTC))
    client = visitor(app)
    body = {"email": "apiowner@example.org", "frequency": "weekly", "max_papers": 40}
    taken = client.post("/api/subscriptions", json=body)
    fresh = client.post("/api/subscriptions", json={**body, "email": "apinew@example.org"})
    assert taken.status_code == fresh.status_code == 202
    assert {**taken.json(), "email": "-"} == {**fresh.json(), "email": "-"}
    again, _ = store.add_subscription("apiowner@example.org", subs.preferences(), None, datetime.now(UTC))
    assert (again.frequency, again.max_papers) == ("daily", 3)


def test_a_signed_in_reader_cannot_attach_another_address(app: FastAPI) -> None:
    client = visitor(app)
    sign_up(client, "mallory", email="mallory@example.org")
    for email in ("victim@example.org", "mallory@example.org"):
        page = client.get("/subscribe").text
        client.post("/subscribe", data={"csrf_token": csrf_of(page), "email": email, "content": "for_you"})
    victim, _ = store_of(app).add_subscription("victim@example.org", subs.preferences(), None, datetime.now(UTC))
    own, _ = store_of(app).add_subscription("mallory@example.org", subs.preferences(), None, datetime.now(UTC))
    assert victim.user_id is None
    assert own.user_id is not None


def claim_all(store: Store) -> list[Any]:
    now = datetime.now(UTC) + timedelta(seconds=1)
    return store.claim_due(now, 10_000, now - timedelta(hours=1))


# -- 5. Abuse limits -------------------------------------------------------------------------------------


def test_guessing_one_account_from_many_addresses_backs_off(app: FastAPI) -> None:
    sign_up(visitor(app), "target", password="the right password")
    for n in range(3):  # each guess from another address (a trusted proxy says so): the address limit never bites
        guesser = visitor(app, client=("10.0.0.1", 1000 + n))
        token = csrf_of(guesser.get("/login").text)
        data = {"csrf_token": token, "name": "TARGET", "password": "wrong", "next": "/"}
        wrong = guesser.post("/login", data=data, headers={"x-forwarded-for": f"203.0.113.{n}"})
        assert wrong.status_code == 401
    late = visitor(app, client=("10.0.0.1", 2000))
    token = csrf_of(late.get("/login").text)
    data = {"csrf_token": token, "name": "target", "password": "the right password", "next": "/"}
    blocked = late.post("/login", data=data, headers={"x-forwarded-for": "198.51.100.7"}, follow_redirects=False)
    assert blocked.status_code == 429 and "failed log-ins to this account" in blocked.text
    assert int(blocked.headers["retry-after"]) >= 1


def test_forwarded_for_counts_only_from_a_trusted_proxy(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    limiter = site(app).limits.signup
    direct = visitor(app, client=("192.0.2.50", 1))
    token = csrf_of(direct.get("/signup").text)
    with caplog.at_level(logging.WARNING, logger="paperfeed.web"):
        data = {"csrf_token": token, "name": "direct", "password": "long enough pw"}
        direct.post("/signup", data=data, headers={"x-forwarded-for": "203.0.113.98"})
    assert "192.0.2.50" in limiter._counts and "203.0.113.98" not in limiter._counts
    assert "PAPERFEED_TRUSTED_PROXIES" in caplog.text
    proxied = visitor(app, client=("10.1.2.3", 1))
    token = csrf_of(proxied.get("/signup").text)
    data = {"csrf_token": token, "name": "proxied", "password": "long enough pw"}
    proxied.post("/signup", data=data, headers={"x-forwarded-for": "203.0.113.99, 10.9.9.9"})
    assert "203.0.113.99" in limiter._counts and "10.1.2.3" not in limiter._counts


def test_comments_are_stored_sanitised_bounded_and_paginated(app: FastAPI) -> None:
    client = visitor(app)
    sign_up(client, "commenter")
    page = client.get("/papers/2501.00004").text
    hostile = "<script>alert(1)</script> [x](javascript:alert(2)) **bold**"
    made = client.post("/papers/2501.00004/comments", data={"csrf_token": csrf_of(page), "body": hostile})
    assert made.status_code == 200
    stored = store_of(app).list_comments("2501.00004")[-1]
    assert "<strong>bold</strong>" in stored.html and "<script" not in stored.html and "href" not in stored.html
    too_long = client.post("/papers/2501.00004/comments", data={"csrf_token": csrf_of(page), "body": "y" * 20_001})
    assert too_long.status_code == 400 and "20,000" in too_long.text
    user = store_of(app).get_user("commenter")
    assert user is not None
    for n in range(reader_actions.COMMENTS_PER_PAGE + 5):
        reader_actions.comment(store_of(app), user, "2501.00004", f"comment number {n}")
    first = client.get("/papers/2501.00004")
    assert first.text.count('id="comment-') == reader_actions.COMMENTS_PER_PAGE
    assert "?comments=2#comments" in first.text
    second = client.get("/papers/2501.00004?comments=2")
    assert "comment number 54" in second.text
    assert client.get("/papers/2501.00004?comments=99").status_code == 400
    api = client.get("/api/papers/2501.00004/comments", params={"limit": 10})
    assert len(api.json()) == 10 and int(api.headers["x-total-count"]) == reader_actions.COMMENTS_PER_PAGE + 6
    assert 'rel="next"' in api.headers["link"]


# -- 6. Security headers, Swagger UI, CSRF --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/feed", "/static/paperfeed.css", "/nowhere", "/api/docs", "/healthz"])
def test_every_response_carries_the_security_headers(app: FastAPI, path: str) -> None:
    headers = visitor(app).get(path).headers
    policy = headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy  # no inline script (nor style) at all
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["strict-transport-security"].startswith("max-age=")  # the base URL is https


def test_api_docs_load_only_vendored_files(app: FastAPI) -> None:
    client = visitor(app)
    page = client.get("/api/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources)
    assert "<script>" not in page  # no inline script
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_the_csrf_token_is_bound_to_the_session_and_rotated_at_log_in(app: FastAPI) -> None:
    client = visitor(app)
    before = csrf_of(client.get("/login").text)
    cookie_before = client.cookies.get("pf_csrf")
    sign_up(client, "rotator")
    assert client.cookies.get("pf_csrf") != cookie_before  # a new binding after log-in
    stale = client.post("/papers/2501.00001/upvote", data={"csrf_token": before}, follow_redirects=False)
    assert stale.status_code == 403
    fresh = csrf_of(client.get("/papers/2501.00001").text)
    assert (
        client.post("/papers/2501.00001/upvote", data={"csrf_token": fresh}, follow_redirects=False).status_code == 303
    )


def test_an_empty_authorization_header_does_not_skip_the_csrf_check(app: FastAPI) -> None:
    client = visitor(app)
    sign_up(client, "emptyauth")
    for header in ("", " ", "\t"):
        response = client.post("/api/papers/2501.00002/upvote", headers={"Authorization": header})
        assert response.status_code == 403, header
        assert "CSRF" in response.json()["error"]["message"]


# -- 8. Mail headers -------------------------------------------------------------------------------------


def test_url_headers_are_plain_in_the_raw_bytes(app: FastAPI) -> None:
    settings = mail_settings(site(app).settings)
    sub = Subscription(id=2_000_000_001, email="long.address.of.a.reader@example.org", frequency="daily")
    now = datetime.now(UTC)
    edition = Edition("daily:2025-01-03", "daily", "Papers of Fri 03 Jan 2025", day="2025-01-03")
    for mail in (digest_mail(settings, sub, edition, corpus()[:3], now), confirmation_mail(settings, sub, now)):
        head = mail.message.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert "=?" not in head  # no RFC 2047 encoded word anywhere in the headers
        unfolded = re.sub(r"\r\n[ \t]", " ", head)
        for line in unfolded.split("\r\n"):
            if "http" in line:
                assert re.fullmatch(r"[\w-]+: <https://[^\s<>]+>", line), line
    digest_head = digest_mail(settings, sub, edition, [], now).message.split(b"\r\n\r\n", 1)[0]
    assert re.search(
        rb"\r\nList-Unsubscribe: <https://papers\.example\.org/unsubscribe\?token=[\w.-]+>\r\n", digest_head
    )
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in digest_head


def test_a_nul_character_anywhere_is_a_named_400_and_writes_nothing(app: FastAPI) -> None:
    client = visitor(app)
    assert client.get("/api/search", params={"q": "a\x00b"}).json()["error"]["message"].startswith("q:")
    assert client.get("/api/users/a%00b").status_code == 400
    sign_up(client, "nulwriter")
    before = store_of(app).count_comments("2501.00005")
    page = client.get("/papers/2501.00005").text
    data = {"csrf_token": csrf_of(page), "body": "a\x00b"}
    response = client.post("/papers/2501.00005/comments", data=data, follow_redirects=False)
    assert response.status_code in (303, 400)  # SQLite keeps the NUL as text; PostgreSQL refuses it: a 400
    if response.status_code == 400:
        assert store_of(app).count_comments("2501.00005") == before
