"""A reader's library: private notes, "mark as read" and feeds that hide what was read, exports (BibTeX, RIS,
CSL-JSON, read back with their own parsers) and imports into a collection, through the API and the pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import rispy
from bibtexparser.entrypoint import parse_string as parse_bibtex
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of
from paperfeed import accounts, reader_actions

BASE = "https://papers.example.org"


@dataclass
class Reader:
    name: str
    api: TestClient
    page: TestClient


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[FastAPI]:
    made = corpus_app(tmp_path_factory.mktemp("library"), backend, jobs_in_process=False, base_url=BASE,
                      writes_per_minute=100_000, page_cache_seconds=0)  # fmt: skip
    yield made
    app_store(made).close()


def _reader(app: FastAPI, name: str) -> Reader:
    store = app_store(app)
    user = accounts.sign_up(store, name, "a long enough password")
    secret, _ = accounts.create_token(store, user, "t")
    page = TestClient(app, base_url=BASE)
    page.cookies.set(accounts.SESSION_COOKIE, accounts.start_session(store, user).token)
    return Reader(name, TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {secret}"}), page)


def test_notes_are_private_markdown(app: FastAPI) -> None:
    ada, bob = _reader(app, "ada-notes"), _reader(app, "bob-notes")
    saved = ada.api.put("/api/papers/2501.00002v1/note", json={"body": "Read *this*. <script>alert(1)</script>"})
    assert (
        saved.status_code == 200 and "<em>this</em>" in saved.json()["html"] and "<script" not in saved.json()["html"]
    )
    assert ada.api.get("/api/papers/2501.00002/note").json()["body"].startswith("Read *this*")
    assert bob.api.get("/api/papers/2501.00002/note").status_code == 404  # bob sees none of ada's
    assert "<em>this</em>" in ada.page.get("/papers/2501.00002").text
    assert "<em>this</em>" not in bob.page.get("/papers/2501.00002").text
    for body, status, message in [
        ({"body": "x" * 20_001}, 400, "body must be at most 20,000 characters"),
        ({"body": "x" * 200_000}, 400, "body: String should have at most"),
        ({}, 400, "body: Field required"),
    ]:
        answer = ada.api.put("/api/papers/2501.00002/note", json=body)
        assert answer.status_code == status and message in answer.json()["error"]["message"]
    assert ada.api.put("/api/papers/2501.99999/note", json={"body": "x"}).status_code == 404
    assert ada.api.put("/api/papers/not-an-id/note", json={"body": "x"}).status_code == 400
    assert ada.api.get("/api/papers/2501.00002/note").json()["body"].startswith("Read *this*")  # unchanged
    page = ada.page.get("/papers/2501.00002").text
    ada.page.post("/papers/2501.00002/note", data={"csrf_token": csrf_of(page), "note": ""})
    assert ada.api.get("/api/papers/2501.00002/note").status_code == 404  # an empty note deletes it


def test_read_papers_can_be_hidden_from_every_feed(app: FastAPI) -> None:
    cleo = _reader(app, "cleo-reads")
    day = "/api/feed?date=2025-01-07"
    everything = [p["id"] for p in cleo.api.get(day).json()["papers"]]
    assert cleo.api.put(f"/api/papers/{everything[0]}/read").json() == {"id": everything[0], "read": True}
    hidden = cleo.api.get(day + "&hide_read=1").json()
    assert [p["id"] for p in hidden["papers"]] == everything[1:] and hidden["hiddenRead"] == 1
    page = cleo.page.get("/papers/date/2025-01-07?hide_read=1").text
    assert "1 paper you marked read is hidden" in page and f'data-id="{everything[0]}"' not in page
    assert f'data-id="{everything[0]}"' in cleo.page.get("/papers/date/2025-01-07").text  # shown when not hiding
    assert cleo.api.delete(f"/api/papers/{everything[0]}/read").json()["read"] is False
    assert cleo.api.get(day + "&hide_read=1").json()["hiddenRead"] == 0
    assert TestClient(app, base_url=BASE).put(f"/api/papers/{everything[0]}/read").status_code == 401
    cleo.api.post("/api/papers/2501.00006/upvote")
    picks = [p["id"] for p in cleo.api.get("/api/for_you?window=all").json()]
    assert picks
    cleo.api.put(f"/api/papers/{picks[0]}/read")
    assert [p["id"] for p in cleo.api.get("/api/for_you?window=all&hide_read=1").json()] == picks[1:]
    page = cleo.page.get("/for-you?window=all&hide_read=1").text
    assert "1 paper you marked read is hidden here" in page and f'data-id="{picks[0]}"' not in page


def test_exports_read_back_with_their_own_parsers(app: FastAPI) -> None:
    dora = _reader(app, "dora-exports")
    store = app_store(app)
    user = store.get_user("dora-exports")
    assert user is not None
    made = reader_actions.create_collection(store, user, "Surface codes", False)
    for arxiv_id in ("2501.00006", "2501.00002"):
        reader_actions.set_in_collection(store, user, user.name, made.slug, arxiv_id, True)
    base = f"/api/users/dora-exports/collections/{made.slug}/export"
    bib = dora.api.get(base + ".bib")
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    entries = parse_bibtex(bib.text).entries
    assert sorted(e.fields_dict["eprint"].value for e in entries) == ["2501.00002", "2501.00006"]
    records = rispy.loads(dora.api.get(base + ".ris").text)
    assert {r["title"] for r in records} >= {"Quantum Error Correction with Surface Codes"}
    assert all(r["type_of_reference"] and r["urls"] for r in records)
    csl = orjson.loads(dora.api.get(base + ".json").content)
    assert all(item["id"] and item["type"] == "article" and item["title"] and item["author"] for item in csl)
    everything = orjson.loads(dora.api.get("/api/library/export.json").content)
    assert {i["id"] for i in everything} == {"arXiv:2501.00006", "arXiv:2501.00002"}
    assert dora.api.get(base + ".docx").status_code == 400
    assert _reader(app, "eve-exports").api.get(base + ".bib").status_code == 404  # private: not eve's to see
    assert TestClient(app, base_url=BASE).get("/api/library/export.bib").status_code == 401


BIB = """@misc{one, title={Whatever It Was Called}, eprint={2501.00006}, archivePrefix={arXiv}}
@article{two, title={Diffusion Models for High-Resolution Image Synthesis}, journal={Somewhere}}
@article{three, title={A Paper This Instance Has Never Heard Of}, doi={10.1234/nothing.here}}
"""


def test_imports_match_by_id_and_title_and_list_the_rest(app: FastAPI, tmp_path: Path) -> None:
    fay = _reader(app, "fay-imports")
    made = fay.api.post("/api/collections", json={"name": "Imported list"}).json()
    url = f"/api/users/fay-imports/collections/{made['slug']}/import"
    answer = fay.api.post(url, files={"file": ("refs.bib", BIB.encode(), "text/plain")})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert sorted(report["found"]) == ["2501.00002", "2501.00006"] and report["added"] == 2
    assert report["missing"] == ["A Paper This Instance Has Never Heard Of"]
    again = fay.api.post(url, files={"file": ("refs.bib", BIB.encode(), "text/plain")}).json()
    assert again["added"] == 0 and again["collection"]["size"] == 2  # nothing twice
    ris = "TY  - JOUR\nTI  - Quantum Error Correction with Surface Codes\nER  - \n"
    assert fay.api.post(url, files={"file": ("refs.ris", ris.encode(), "text/plain")}).json()["found"] == ["2501.00006"]
    for body, message in [
        (b"@article{broken, title={no end", "file, line 1: this BibTeX entry cannot be read"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"x" * 950_000, "is over 900,000 bytes"),
        (b"just some text", "no BibTeX entries"),
    ]:
        bad = fay.api.post(url, files={"file": ("bad.bib", body, "text/plain")})
        assert bad.status_code == 400 and message in bad.json()["error"]["message"], message
    assert fay.api.post(url, data={"x": "1"}).json()["error"]["message"].startswith("file: choose")
    assert app_store(app).get_collection("fay-imports", made["slug"]).size == 2  # type: ignore[union-attr]
    other = _reader(app, "gus-imports")
    refused = other.api.post(url, files={"file": ("refs.bib", BIB.encode(), "text/plain")})
    assert refused.status_code in (403, 404)
    page = fay.page.get(f"/u/fay-imports/collections/{made['slug']}").text
    assert "Import a BibTeX or RIS file" in page and "export.ris" in page
    done = fay.page.post(f"/u/fay-imports/collections/{made['slug']}/import", data={"csrf_token": csrf_of(page)},
                         files={"file": ("refs.bib", BIB.encode(), "text/plain")})  # fmt: skip
    assert done.status_code == 200 and "A Paper This Instance Has Never Heard Of" in done.text


def test_public_collections_have_feeds_private_ones_do_not(app: FastAPI) -> None:
    import feedparser

    hal = _reader(app, "hal-feeds")
    shared = hal.api.post("/api/collections", json={"name": "Shared reading", "public": True}).json()
    secret = hal.api.post("/api/collections", json={"name": "Secret reading"}).json()
    for made in (shared, secret):
        hal.api.put(f"/api/users/hal-feeds/collections/{made['slug']}/papers/2501.00006")
    anonymous = TestClient(app, base_url=BASE)
    atom = anonymous.get(f"/u/hal-feeds/collections/{shared['slug']}.atom")
    parsed = feedparser.parse(atom.content)
    assert (
        atom.status_code == 200
        and not parsed.bozo
        and [e.link for e in parsed.entries] == [f"{BASE}/papers/2501.00006"]
    )
    document = orjson.loads(anonymous.get(f"/u/hal-feeds/collections/{shared['slug']}.json").content)
    assert document["version"] == "https://jsonfeed.org/version/1.1" and document["items"][0]["id"]
    assert anonymous.get(f"/u/hal-feeds/collections/{secret['slug']}.atom").status_code == 404
    assert hal.page.get(f"/u/hal-feeds/collections/{secret['slug']}.atom").status_code == 404  # feeds: public only
    assert anonymous.get(f"/u/hal-feeds/collections/{shared['slug']}.pdf").status_code == 404
    assert anonymous.get(f"/u/hal-feeds/collections/{shared['slug']}").status_code == 200  # the page itself
