"""Follows (authors, categories, saved searches), author pages and their API twins, and personal feeds (Atom,
RSS, JSON Feed) behind a revocable private token, over a real store (SQLite and PostgreSQL) in process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import feedparser
import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of, matched, sql_engine
from paperfeed import accounts
from paperfeed.models import Author, author_key
from paperfeed.store import Store
from search_corpus import corpus, paper

DAY = date(2025, 1, 20)


@dataclass
class Reader:
    client: TestClient  # signed in through its session cookie
    api: TestClient  # the same reader as a script with a token
    user_id: int


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[FastAPI]:
    made = corpus_app(tmp_path_factory.mktemp("follows"), backend, jobs_in_process=False, writes_per_minute=100_000,
                      base_url="https://papers.example.org")  # fmt: skip
    extra = [
        paper(50, arxiv_id="2501.00050", title="Sparse Autoencoders for Language Models", feed_date=DAY,
              authors=(Author("Jürgen Schmidhuber"), Author("Ada Lovelace")), categories=("cs.CL",)),
        paper(51, arxiv_id="2501.00051", title="Recurrent Memory Revisited", feed_date=DAY,
              authors=(Author("Jurgen  Schmidhuber"),), categories=("cs.LG",)),
        paper(52, arxiv_id="2501.00052", title="Stochastic Calculus on Graphs", feed_date=DAY,
              authors=(Author("Kiyoshi Ito"),), categories=("math.PR",)),
    ]  # fmt: skip
    app_store(made).upsert_papers(extra)
    yield made
    app_store(made).close()


def _reader(app: FastAPI, name: str) -> Reader:
    store = app_store(app)
    user = accounts.sign_up(store, name, "a long enough password")
    session = accounts.start_session(store, user)
    client = TestClient(app, base_url="https://papers.example.org")
    client.cookies.set(accounts.SESSION_COOKIE, session.token)
    secret, _ = accounts.create_token(store, user, "tests")
    api = TestClient(app, base_url="https://papers.example.org", headers={"Authorization": f"Bearer {secret}"})
    return Reader(client, api, user.id)


def _count(store: Store) -> int:
    with sql_engine(store).connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM follows")).scalar() or 0)


def test_author_keys_merge_spellings_but_not_initials() -> None:
    assert author_key("Jürgen Schmidhuber") == author_key("Jurgen  Schmidhuber") == "jurgen schmidhuber"
    assert author_key("Jean-Pierre Serre") == author_key("jean pierre serre")
    assert author_key("Y. LeCun") != author_key("Yann LeCun")
    assert author_key("  ") == "" and author_key("...") == ""


def test_ascii_names_get_the_same_key_as_through_unicode_normalisation() -> None:
    every = "".join(map(chr, range(128)))  # the ASCII fast path against the NFKD path (an accent sends it there)
    assert author_key(every) == "0123456789 abcdefghijklmnopqrstuvwxyz _ abcdefghijklmnopqrstuvwxyz"
    assert author_key(every + "é") == author_key(every) + " e"
    assert author_key("O'Brien_Smith\tJ.\x00R.") == author_key("O'Brien_Smith\tJ.\x00R.é")[:-2] == "o brien_smith j r"


def test_author_page_and_its_api_twin_agree(app: FastAPI) -> None:
    client = TestClient(app, base_url="https://papers.example.org")
    page = client.get("/authors/Jurgen Schmidhuber")
    assert page.status_code == 200 and "2 papers" in page.text and "Also written" in page.text
    twin = client.get("/api/authors/jürgen schmidhuber").json()
    assert twin["total"] == 2 and set(twin["names"]) == {"Jürgen Schmidhuber", "Jurgen  Schmidhuber"}
    assert [p["id"] for p in twin["papers"]] == matched_ids(page.text)
    assert twin["coauthors"] == [{"name": "Ada Lovelace", "papers": 1}]
    assert {c["category"] for c in twin["categories"]} == {"cs.CL", "cs.LG"}
    paper_page = client.get("/papers/2501.00050").text
    assert 'class="author" href="/authors/J%C3%BCrgen%20Schmidhuber"' in paper_page  # names link to their page
    for path, status, message in [
        ("/api/authors/Nobody%20Atall", 404, "no paper here has an author"),
        ("/api/authors/" + "x" * 400, 400, "name must be an author's name"),
        ("/api/authors/...", 400, "name must be"),
        ("/api/authors/Kiyoshi%20Ito?page=2", 400, "page must be between 1 and 1"),
        ("/api/authors/Kiyoshi%20Ito?page=zero", 400, "page must be an integer"),
    ]:
        answer = client.get(path)
        assert answer.status_code == status and message in answer.json()["error"]["message"], path
    assert client.get("/authors/Nobody%20Atall").status_code == 404


def matched_ids(html: str) -> list[str]:
    import re

    return re.findall(r'<li class="paper" data-id="([^"]+)"', html)


def test_follows_api_validates_and_never_saves_in_part(app: FastAPI) -> None:
    reader = _reader(app, "follower")
    store = app_store(app)
    before = _count(store)
    for body, message in [
        ({"kind": "person", "value": "Ada"}, "kind must be one of author, category, query"),
        ({"kind": "author", "value": "   "}, "value is empty"),
        ({"kind": "author", "value": "x" * 10_000}, "value must be at most 300 characters"),
        ({"kind": "author", "value": "!!!"}, "value must be an author's name"),
        ({"kind": "category", "value": "cs..LG"}, "value must be an arXiv category"),
        ({"kind": "query", "value": "diffusion since:2025-13"}, "value is not a search paperfeed can run"),
        ({"kind": "query", "value": "-video"}, "value must search for something"),
        ({"kind": "author"}, "value: Field required"),
        ({"kind": "author", "value": "x" * 30_000}, "value: String should have at most"),
    ]:
        answer = reader.api.post("/api/follows", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"]["message"], body
    assert (
        reader.api.post("/api/follows", content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert (
        TestClient(app, base_url="https://papers.example.org")
        .post("/api/follows", json={"kind": "author", "value": "Ada Lovelace"})
        .status_code
        == 401
    )
    assert _count(store) == before  # nothing saved by any of them
    wanted = [("author", "Jürgen Schmidhuber"), ("category", "math"), ("query", '"sparse autoencoders" -vision')]
    made = [reader.api.post("/api/follows", json={"kind": k, "value": v}) for k, v in wanted]
    assert [m.status_code for m in made] == [201, 201, 201]
    again = reader.api.post("/api/follows", json={"kind": "author", "value": "jurgen schmidhuber"}).json()
    assert again["id"] == made[0].json()["id"]  # the same author: the same follow
    listed = reader.api.get("/api/follows").json()
    assert [f["kind"] for f in listed] == ["author", "category", "query"]
    other = _reader(app, "someone-else")
    assert other.api.delete(f"/api/follows/{listed[1]['id']}").status_code == 404  # not theirs
    assert other.api.delete("/api/follows/abc").status_code == 400
    assert reader.api.delete(f"/api/follows/{listed[1]['id']}").status_code == 204
    assert [f["kind"] for f in reader.api.get("/api/follows").json()] == ["author", "query"]


def test_a_reader_may_follow_at_most_a_hundred_things(app: FastAPI) -> None:
    reader = _reader(app, "collector")
    for n in range(100):
        assert reader.api.post("/api/follows", json={"kind": "query", "value": f"topic{n}"}).status_code == 201
    over = reader.api.post("/api/follows", json={"kind": "query", "value": "one more"})
    assert over.status_code == 409 and "you follow 100 things already" in over.json()["error"]["message"]


def _feed_links(reader: Reader) -> dict[str, str]:
    page = reader.client.get("/follows").text
    return {fmt: matched(rf'value="(https://papers\.example\.org/feeds/me/[^"]+\.{fmt})"', page)
            for fmt in ("atom", "rss", "json")}  # fmt: skip


def test_personal_feeds_carry_the_follows_validate_and_can_be_revoked(app: FastAPI) -> None:
    reader = _reader(app, "feedreader")
    page = reader.client.get("/follows").text
    for kind, value in (("author", "Jurgen Schmidhuber"), ("category", "math"), ("query", "quantum error correction")):
        answer = reader.client.post("/follows", data={"csrf_token": csrf_of(page), "kind": kind, "value": value,
                                                      "next": "//evil.example/"}, follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303 and answer.headers["location"] == "/follows"
    links = _feed_links(reader)
    paths = {fmt: url.removeprefix("https://papers.example.org") for fmt, url in links.items()}
    atom = reader.client.get(paths["atom"])
    assert atom.headers["content-type"].startswith("application/atom+xml")
    ET.fromstring(atom.content)  # well-formed XML
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo, parsed.bozo_exception
    ids = [e.link.rsplit("/", 1)[1] for e in parsed.entries]
    assert {"2501.00050", "2501.00051", "2501.00052", "2501.00006"} <= set(ids)  # author, archive, search
    dates = [e.updated_parsed for e in parsed.entries]
    assert dates == sorted(dates, reverse=True)  # newest first
    rss = feedparser.parse(reader.client.get(paths["rss"]).content)
    assert not rss.bozo and [e.id for e in rss.entries] == [f"arxiv:{i}" for i in ids]
    document = orjson.loads(reader.client.get(paths["json"]).content)
    assert document["version"] == "https://jsonfeed.org/version/1.1" and document["title"]
    assert all(item["id"] and (item.get("content_text") or item.get("content_html")) for item in document["items"])
    assert [item["id"].rsplit("/", 1)[1] for item in document["items"]] == ids
    assert reader.client.get(paths["atom"]).content == atom.content  # stable: the same ids, the same order
    anonymous = TestClient(app, base_url="https://papers.example.org")
    assert anonymous.get(paths["json"]).status_code == 200  # the token is all a feed reader needs
    token = paths["atom"].rsplit("/", 1)[1].removesuffix(".atom")
    for forged in (token[:-1] + ("0" if token[-1] != "0" else "1"), "1-" + "0" * 32, "x", "99999-" + "a" * 32):
        assert anonymous.get(f"/feeds/me/{forged}.atom").status_code == 404, forged
    assert anonymous.get(f"/feeds/me/{token}.html").status_code == 404
    page = reader.client.get("/follows").text
    revoked = reader.client.post("/follows/feed-token", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert revoked.status_code == 303
    assert anonymous.get(paths["atom"]).status_code == 404  # the old link stops working
    fresh = _feed_links(reader)["atom"].removeprefix("https://papers.example.org")
    assert fresh != paths["atom"] and anonymous.get(fresh).status_code == 200


def test_follow_forms_need_csrf_and_show_on_search_and_author_pages(app: FastAPI) -> None:
    reader = _reader(app, "formfiller")
    forged = reader.client.post("/follows", data={"kind": "author", "value": "Ada Lovelace", "csrf_token": "nope"})
    assert forged.status_code == 403
    results = reader.client.get("/search", params={"q": "diffusion"}).text
    assert "Follow this search" in results
    author = reader.client.get("/authors/Ada Lovelace").text
    assert ">Follow</button>" in author
    done = reader.client.post("/follows", data={"csrf_token": csrf_of(author), "kind": "author",
                                                "value": "Ada Lovelace", "next": "/authors/Ada%20Lovelace"},
                              follow_redirects=False)  # fmt: skip
    assert done.headers["location"] == "/authors/Ada%20Lovelace"
    followed = reader.client.get("/authors/Ada Lovelace").text
    assert "✓ Following" in followed and ">Unfollow</button>" in followed
    unfollow = matched(r'action="(/follows/\d+/delete)"', followed)
    left = reader.client.post(unfollow, data={"csrf_token": csrf_of(followed), "next": "/authors/Ada%20Lovelace"},
                              follow_redirects=False)  # fmt: skip
    assert left.headers["location"] == "/authors/Ada%20Lovelace"
    assert ">Follow</button>" in reader.client.get("/authors/Ada Lovelace").text
    reader.client.post("/follows", data={"csrf_token": csrf_of(followed), "kind": "author", "value": "Ada Lovelace"})
    page = reader.client.get("/follows").text
    follow_id = matched(r'action="/follows/(\d+)/delete"', page)
    gone = reader.client.post(
        f"/follows/{follow_id}/delete", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert gone.status_code == 303 and "You follow nothing yet" in reader.client.get("/follows").text
    assert (
        TestClient(app, base_url="https://papers.example.org")
        .get("/follows", follow_redirects=False)
        .headers["location"]
        == "/login?next=/follows"
    )


def test_authors_of_papers_stored_before_the_migration_are_indexed(tmp_path: Path) -> None:
    from paperfeed.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    store.migrate()
    store.upsert_papers(corpus())
    with sql_engine(store).begin() as conn:  # back to schema 9, as an instance before this release
        dropped = ["digest_slots", "follows", "paper_authors", "alerts", "webhooks", "notes", "reads",
                   "digest_feedback"]  # fmt: skip
        for statement in [*(f"DROP TABLE {t}" for t in dropped), "DROP INDEX ix_paper_embeddings_model_seq",
                          "DELETE FROM schema_migrations WHERE version >= 10",
                          "ALTER TABLE subscriptions DROP COLUMN confidence",
                          "ALTER TABLE subscriptions DROP COLUMN explore",
                          "ALTER TABLE users DROP COLUMN feed_generation",
                          "ALTER TABLE subscriptions DROP COLUMN record_opens"]:  # fmt: skip
            conn.execute(sa.text(statement))
    assert store.migrate() == [10, 11]
    assert store.author_facts(author_key("Yann LeCun"), limit=10).total >= 1
    store.close()
