"""Accounts, votes, comments, submissions, collections and moderation through the pages and the JSON API,
in process over a real SQLite store, with arXiv played by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from conftest import Reply, Seen, Server, new_database_url
from feeds import atom_entry, atom_page
from paperfeed.config import load_settings
from paperfeed.errors import BadRequest
from paperfeed.http_edge import site
from paperfeed.web import account_pages, actions, follow_pages, foryou_pages, library_pages, pages, subscribe_pages
from paperfeed.web import feeds as web_feeds
from paperfeed.web.app import create_app
from search_corpus import corpus

SECRET = "accounts-test-secret-" + "y" * 32


@pytest.fixture(scope="module")
def arxiv() -> Iterator[Server]:
    server = Server()

    def respond(seen: Seen) -> Reply:
        known = seen.query.get("id_list") == "2403.00007"
        body = atom_page(
            [atom_entry(7, title="Submitted <b>paper</b> seven")] if known else [], total=int(known), start=0
        )
        return Reply(200, body, {"Content-Type": "application/atom+xml"})

    server.respond = respond
    yield server
    server.close()


@pytest.fixture(scope="module")
def app_and_folder(tmp_path_factory: pytest.TempPathFactory, arxiv: Server, backend: str) -> tuple[FastAPI, Path]:
    folder = tmp_path_factory.mktemp("accounts")
    settings = load_settings(
        base_url="http://testserver", database_url=new_database_url(backend, folder), data_dir=folder,
        secret_key=SECRET, arxiv_api_url=arxiv.url,
        login_attempts_per_minute=5, signups_per_hour=1_000,
    )  # fmt: skip
    app = create_app(settings)
    site(app).services.store.migrate()
    site(app).services.store.upsert_papers(corpus())
    return app, folder


def new_client(app_and_folder: tuple[FastAPI, Path]) -> TestClient:
    return TestClient(app_and_folder[0])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_up(client: TestClient, name: str, password: str = "a fine password") -> None:
    token = csrf_of(client.get("/signup").text)
    response = client.post("/signup", data={"csrf_token": token, "name": name, "password": password, "next": "/"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text


def post_form(client: TestClient, page: str, action: str, **data: str) -> Any:  # httpx or httpx2's Response
    return client.post(action, data={"csrf_token": csrf_of(client.get(page).text), **data}, follow_redirects=False)


def test_sign_up_log_out_log_in(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    token = csrf_of(client.get("/signup").text)
    response = client.post("/signup", data={"csrf_token": token, "name": "marie", "password": "radium and polonium"},
                           follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"]
    assert "pf_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http here; https gets Secure
    assert 'href="/u/marie"' in client.get("/").text
    post_form(client, "/", "/logout")
    assert 'href="/login"' in client.get("/").text
    wrong = post_form(client, "/login", "/login", name="marie", password="not the password")
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text
    right = post_form(client, "/login", "/login", name="Marie", password="radium and polonium", next="//evil.example")
    assert right.headers["location"] == "/"  # no open redirect
    taken = post_form(client, "/signup", "/signup", name="MARIE", password="another password")
    assert taken.status_code == 409 and "taken" in taken.text


def test_every_form_post_needs_a_csrf_token(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    sign_up(client, "csrfcheck")
    routes = [*actions.router.routes, *account_pages.router.routes, *pages.router.routes, *web_feeds.router.routes,
              *subscribe_pages.router.routes, *foryou_pages.router.routes, *follow_pages.router.routes,
              *library_pages.router.routes]  # fmt: skip
    # the exceptions are POSTs from a mail, authorised by the mail's signed link: one-click /unsubscribe (mail
    # clients POST it without cookies, RFC 8058; tests/test_digest.py) and /digest/feedback (a reader arriving
    # from the mail has no session; tests/test_digest_feedback.py)
    tokened = {"/unsubscribe", "/digest/feedback"}
    posts = [
        r.path for r in routes if isinstance(r, APIRoute) and "POST" in (r.methods or set()) and r.path not in tokened
    ]
    assert len(posts) >= 25
    for path in posts:
        url = path.replace("{arxiv_id}", "2501.00001").replace("{comment_id}", "1").replace("{token_id}", "1")
        url = url.replace("{name}", "csrfcheck").replace("{slug}", "x")
        response = client.post(url, data={"body": "hi", "name": "x", "id": "2501.00001"})
        assert response.status_code == 403, url
        assert "CSRF" in response.text
        wrong = client.post(url, data={"csrf_token": "0" * 64, "body": "hi"})
        assert wrong.status_code == 403, url


def test_writes_without_login_are_refused(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    response = post_form(client, "/login", "/papers/2501.00001/upvote")
    assert response.status_code == 401
    for method, url in [("post", "/api/papers/2501.00001/upvote"), ("delete", "/api/papers/2501.00001/upvote"),
                        ("post", "/api/collections"), ("post", "/api/submit")]:  # fmt: skip
        answer = client.request(method.upper(), url, json={"name": "x", "id": "2501.00001"})
        assert answer.status_code == 401, url
        assert answer.json()["error"]["status"] == 401
    bad = client.post("/api/papers/2501.00001/upvote", headers={"Authorization": "Bearer pf_nope"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.json()["error"]["message"]


def test_upvote_moves_the_paper_and_page_and_api_agree(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    sign_up(client, "voter")
    anonymous = new_client(app_and_folder)
    first = anonymous.get("/papers/month/2025-01").text  # cached for anonymous readers
    ids = re.findall(r'data-id="([^"]+)"', first)
    last = ids[-1]
    response = post_form(client, f"/papers/{last}", f"/papers/{last}/upvote", up="1")
    assert response.status_code == 303
    page = client.get(f"/papers/{last}").text
    assert 'aria-pressed="true"' in page
    api = client.get(f"/api/papers/{last}").json()
    assert re.search(rf'class="count">{api["upvotes"]}<', page) and api["upvotes"] == 1
    now = re.findall(r'data-id="([^"]+)"', anonymous.get("/papers/month/2025-01").text)
    assert now.index(last) < ids.index(last)  # it moved up: the cache was emptied by the vote
    assert "voter" in [u["name"] for u in [{"name": "voter"}]]
    mine = client.get("/api/users/voter").json()
    assert [p["id"] for p in mine["upvoted"]] == [last]
    assert re.findall(r'data-id="([^"]+)"', client.get("/u/voter").text) == [last]
    post_form(client, f"/papers/{last}", f"/papers/{last}/upvote", up="0")
    assert client.get(f"/api/papers/{last}").json()["upvotes"] == 0


def test_comments_render_inert(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    sign_up(client, "commenter")
    hostile = "<script>alert('x')</script> **bold** <img src=x onerror=alert(1)> [a](javascript:alert(2))"
    response = post_form(client, "/papers/2501.00004", "/papers/2501.00004/comments", body=hostile)
    assert response.status_code == 303
    page = client.get("/papers/2501.00004").text
    thread = page[page.index('id="comments"') :]
    assert "<script>alert" not in thread and "<img" not in thread and 'href="javascript' not in thread
    assert "<strong>bold</strong>" in thread and "&lt;script&gt;" in thread
    api = client.get("/api/papers/2501.00004/comments").json()
    assert api[0]["body"] == hostile and "<script" not in api[0]["html"]
    empty = post_form(client, "/papers/2501.00004", "/papers/2501.00004/comments", body="  ")
    assert empty.status_code == 400


def test_submit_by_id_or_url(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    assert client.get("/submit", follow_redirects=False).headers["location"].startswith("/login")
    sign_up(client, "submitter")
    done = post_form(client, "/submit", "/submit", id="https://arxiv.org/abs/2403.00007v1")
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "Submitted by" in page and 'href="/u/submitter"' in page
    assert "Submitted &lt;b&gt;paper&lt;/b&gt; seven" in page
    api = client.get("/api/papers/2403.00007").json()
    assert api["submittedOnDailyBy"]["name"] == "submitter" and api["submittedOnDailyAt"].endswith("Z")
    again = post_form(client, "/submit", "/submit", id="2403.00007")
    assert again.status_code == 409 and "already submitted by submitter" in again.text
    unknown = post_form(client, "/submit", "/submit", id="2403.00099")
    assert unknown.status_code == 404 and "arXiv has no paper 2403.00099" in unknown.text
    bad = post_form(client, "/submit", "/submit", id="hello")
    assert bad.status_code == 400 and 'value="hello"' in bad.text
    daily = client.get("/api/daily_papers", params={"submitter": "submitter", "date": "2024-03-04"}).json()
    assert [item["paper"]["id"] for item in daily] in ([], ["2403.00007"])


def test_api_tokens_for_scripts(app_and_folder: tuple[FastAPI, Path]) -> None:
    browser = new_client(app_and_folder)
    sign_up(browser, "scripter")
    made = post_form(browser, "/account", "/account/tokens", name="my laptop")
    secret = re.search(r'class="token">(pf_[^<]+)<', made.text)
    assert secret
    script = new_client(app_and_folder)
    auth = {"Authorization": f"Bearer {secret.group(1)}"}
    assert script.get("/api/whoami", headers=auth).json()["name"] == "scripter"
    assert script.post("/api/papers/2501.00006/upvote", headers=auth).json() == {
        "id": "2501.00006", "upvotes": 1, "upvoted": True}  # fmt: skip
    comment = script.post("/api/papers/2501.00006/comments", headers=auth, json={"body": "Good *paper*"})
    assert comment.status_code == 201 and comment.json()["html"] == "<p>Good <em>paper</em></p>\n"
    too_long = script.post("/api/papers/2501.00006/comments", headers=auth, json={"body": "x" * 20_001})
    assert too_long.status_code == 400 and too_long.json()["error"]["status"] == 400
    created = script.post("/api/collections", headers=auth, json={"name": "To read", "public": True})
    assert created.status_code == 201 and created.json()["slug"] == "to-read"
    added = script.put("/api/users/scripter/collections/to-read/papers/2501.00006", headers=auth)
    assert added.json()["size"] == 1
    # a browser session writing through the API must send the CSRF token
    assert browser.post("/api/papers/2501.00001/upvote").status_code == 403
    token = csrf_of(browser.get("/account").text)
    assert browser.post("/api/papers/2501.00001/upvote", headers={"X-CSRF-Token": token}).status_code == 200


def test_collection_page_bibtex_and_api_twin(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    sign_up(client, "collector")
    made = post_form(client, "/papers/2501.00002", "/collections", name="Diffusion", public="1", paper="2501.00002")
    url = made.headers["location"]
    assert url == "/u/collector/collections/diffusion"
    post_form(client, "/papers/2501.00003", url + "/papers", paper="2501.00003")
    html = client.get(url).text
    api = client.get("/api/users/collector/collections/diffusion").json()
    assert re.findall(r'data-id="([^"]+)"', html) == [p["id"] for p in api["papers"]] == ["2501.00003", "2501.00002"]
    bib = client.get(url + "/bibtex")
    assert bib.headers["content-type"].startswith("application/x-bibtex") and bib.text.count("@misc{") == 2
    private = post_form(client, "/u/collector", "/collections", name="Secret list")
    stranger = new_client(app_and_folder)
    assert stranger.get(private.headers["location"]).status_code == 404
    assert stranger.get(url).status_code == 200


def test_admin_hides_comments_and_removes_papers(app_and_folder: tuple[FastAPI, Path]) -> None:
    app = app_and_folder[0]
    reader = new_client(app_and_folder)
    sign_up(reader, "reader")
    post_form(reader, "/papers/2501.00005", "/papers/2501.00005/comments", body="buy cheap pills")
    comment_id = reader.get("/api/papers/2501.00005/comments").json()[0]["id"]
    assert post_form(reader, "/papers/2501.00005", f"/comments/{comment_id}/hide").status_code == 403
    admin = new_client(app_and_folder)
    sign_up(admin, "boss")
    site(app).services.store.set_admin("boss", True)
    assert post_form(admin, "/papers/2501.00005", f"/comments/{comment_id}/hide").status_code == 303
    assert "buy cheap pills" not in reader.get("/papers/2501.00005").text
    assert "buy cheap pills" in admin.get("/papers/2501.00005").text  # admins still see it, marked hidden
    assert post_form(admin, "/papers/2501.00005", "/papers/2501.00005/remove", reason="spam").status_code == 303
    assert reader.get("/papers/2501.00005").status_code == 404
    assert reader.get("/api/papers/2501.00005").status_code == 404


def test_login_is_rate_limited(app_and_folder: tuple[FastAPI, Path]) -> None:
    app = app_and_folder[0]
    site(app).limits.login.reset("testclient")
    client = new_client(app_and_folder)
    codes = [post_form(client, "/login", "/login", name="x", password="wrong guess").status_code
             for _ in range(7)]  # fmt: skip
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    site(app).limits.login.reset("testclient")


def test_api_papers_cursor_and_link_header(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    first = client.get("/api/papers", params={"limit": 4})
    assert first.status_code == 200 and len(first.json()) == 4
    link = first.headers["link"]
    following = re.match(r"<([^>]+)>; rel=\"next\"", link)
    assert following
    second = client.get(following.group(1)).json()
    assert not {p["id"] for p in second} & {p["id"] for p in first.json()}
    assert client.get("/api/papers", params={"cursor": "!!"}).status_code == 400
    assert client.get("/api/papers", params={"limit": 0}).json()["error"]["status"] == 400


def test_oversized_form_fields_get_a_clear_error(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    sign_up(client, "bigwriter")
    response = post_form(client, "/papers/2501.00001", "/papers/2501.00001/comments", body="x" * 20_001)
    assert response.status_code == 400 and "at most 20,000 characters" in response.text


def test_oversized_bodies_are_refused_before_reading(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = new_client(app_and_folder)
    huge = "x" * 1_100_000
    api = client.post("/api/papers/2501.00001/comments", content=huge, headers={"Content-Type": "application/json"})
    assert api.status_code == 413
    assert api.json()["error"]["status"] == 413
    page = client.post("/papers/2501.00001/comments", data={"body": huge})
    assert page.status_code == 413


def test_cookies_are_secure_over_https(app_and_folder: tuple[FastAPI, Path]) -> None:
    client = TestClient(app_and_folder[0], base_url="https://testserver")
    token = csrf_of(client.get("/signup").text)
    response = client.post("/signup", data={"csrf_token": token, "name": "tlsuser", "password": "over https only"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_the_app_refuses_to_start_without_a_real_secret_key(tmp_path: Path) -> None:
    for weak in ("", "changeme", "too-short"):
        settings = load_settings(
            base_url="http://testserver",
            database_url=f"sqlite:///{tmp_path / 'k.db'}",
            data_dir=tmp_path,
            secret_key=weak,
        )
        with pytest.raises(BadRequest, match="PAPERFEED_SECRET_KEY"):
            create_app(settings)


@pytest.fixture(scope="module")
def garbage_token(app_and_folder: tuple[FastAPI, Path]) -> str:
    site(app_and_folder[0]).limits.signup.reset("testclient")
    browser = new_client(app_and_folder)
    sign_up(browser, "garbageuser")
    made = post_form(browser, "/account", "/account/tokens", name="t")
    found = re.search(r'class="token">(pf_[^<]+)<', made.text)
    assert found, made.text
    return found.group(1)


@pytest.mark.parametrize(
    ("method", "url", "body", "message"),
    [
        ("post", "/api/collections", {"name": ""}, "name must be 1 to 80 characters"),
        ("post", "/api/collections", {"name": "x" * 81}, "name"),
        ("post", "/api/collections", {"name": ["not", "text"]}, "name"),
        ("post", "/api/papers/2501.00001/comments", {"body": 12}, "body"),
        ("post", "/api/papers/2501.00001/comments", {}, "body"),
        ("post", "/api/papers/not-an-id/comments", {"body": "hi"}, "id must be an arXiv id"),
        ("post", "/api/papers/2501.99999/upvote", None, "paper 2501.99999 is not in this instance"),
        ("post", "/api/papers/2501.99999/dismiss", None, "paper 2501.99999 is not in this instance"),
        ("put", "/api/me/interests", {"interests": "x" * 2001}, "interests"),
        ("post", "/api/submit", {"id": "hello"}, "id must be an arXiv id"),
        ("put", "/api/users/garbage/collections/none/papers/2501.00001", None, "garbage has no collection"),
    ],
)
def test_garbage_api_bodies_get_a_clear_error_and_write_nothing(
    app_and_folder: tuple[FastAPI, Path], garbage_token: str, method: str, url: str, body: object, message: str
) -> None:
    browser = new_client(app_and_folder)
    auth = {"Authorization": f"Bearer {garbage_token}"}
    before = browser.get("/api/papers/2501.00001").json()
    answer = browser.request(method.upper(), url, json=body, headers=auth)
    assert 400 <= answer.status_code < 500
    assert message in answer.json()["error"]["message"]
    after = browser.get("/api/papers/2501.00001").json()
    assert (after["upvotes"], after["numComments"]) == (before["upvotes"], before["numComments"])


def test_garbage_query_strings_on_the_new_routes(app_and_folder: tuple[FastAPI, Path], garbage_token: str) -> None:
    client = TestClient(app_and_folder[0], headers={"Authorization": f"Bearer {garbage_token}"})
    for url, message in [("/api/for_you?limit=0", "limit"), ("/api/for_you?limit=x", "limit"),
                         ("/api/for_you?window=%00", "window"), ("/api/papers?cursor=%ff%fe", "cursor"),
                         ("/api/papers?limit=101", "limit")]:  # fmt: skip
        answer = client.get(url)
        assert answer.status_code == 400, url
        assert message in answer.json()["error"]["message"]
    browser = new_client(app_and_folder)
    post_form(browser, "/login", "/login", name="garbageuser", password="a fine password")
    assert browser.get("/for-you?window=forever").status_code == 400
    assert client.get("/u/%3Cscript%3E").status_code == 404
