"""Cold start in one step: categories, pasted arXiv ids, BibTeX and RIS exports become a new reader's seeds;
bad input is refused with the field or line, and nothing is saved in part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of, present
from paperfeed import accounts, seed
from paperfeed.errors import BadRequest
from paperfeed.models import User
from paperfeed.search.keyword import KeywordIndex
from paperfeed.store import Store
from search_corpus import corpus, paper

BIBTEX = """% a Zotero export
@article{vaswani,
  title = {Attention Is All You Need for {Protein} Folding},
  author = {Lovelace, Ada},
  eprint = {2501.00000v2}, archivePrefix = {arXiv},
}

@inproceedings{bydoi,
  title = {Some Other Title},
  doi = {10.1000/XYZ.42},
}

@misc{bytitle,
  title = {Quantum error correction with surface codes},
  howpublished = {a workshop},
}

@book{absent,
  title = {A Book This Instance Does Not Have},
}
"""

RIS = """TY  - JOUR
TI  - Diffusion Models for Video Generation
UR  - https://arxiv.org/abs/2501.00003
ER  -

TY  - CONF
TI  - Nothing Like This Here
ER  -
"""


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> tuple[Store, KeywordIndex, User]:
    store.upsert_papers([*corpus(), paper(12, arxiv_id="2501.00012", title="Cited By Its DOI", doi="10.1000/xyz.42")])
    index = KeywordIndex(tmp_path / "keyword")
    index.sync(store)
    return store, index, accounts.sign_up(store, "newcomer", "a long password")


def test_ids_categories_and_a_bibtex_file_become_seeds(filled: tuple[Store, KeywordIndex, User]) -> None:
    store, index, user = filled
    report = seed.seed(store, index, user, categories="cs.CV, quant-ph", ids="2501.00004\nhttps://arxiv.org/abs/9999.99999",
                       upload=BIBTEX.encode(), filename="library.bib")  # fmt: skip
    assert report.categories == ["cs.CV", "quant-ph"]
    assert report.found == ["2501.00004", "2501.00000", "2501.00012", "2501.00006"]  # id, eprint, DOI, title
    assert report.missing == ["9999.99999", "A Book This Instance Does Not Have"]
    made = present(report.collection)
    assert not made.public and made.owner == "newcomer"
    assert {p.arxiv_id for p in store.collection_papers(made.id)} == set(report.found)
    assert "cat:cs.CV" in store.signals(user.id).interests
    assert set(store.signals(user.id).liked) == set(store.paper_keys(report.found).values())  # seeds count as liked


def test_a_ris_export_is_matched_by_its_url(filled: tuple[Store, KeywordIndex, User]) -> None:
    store, index, user = filled
    report = seed.seed(store, index, user, upload=RIS.encode(), filename="export.ris")
    assert report.found == ["2501.00003"] and report.missing == ["Nothing Like This Here"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"categories": ""}, "give categories, arXiv ids or URLs, or a BibTeX or RIS file"),
        ({"ids": "2501.00001\nnot an id at all"}, r"ids, line 2: 'not'"),
        ({"categories": "cs.CV <script>"}, "categories: '<script>' is not an arXiv category"),
        ({"categories": " ".join(f"cs.{c}" for c in "ABCDEFGHIJKLMNOPQRSTU")}, "categories: at most 20"),
        ({"upload": BIBTEX.encode() + b"\n@article{broken, title = {Oops\n"}, r"file, line 2[0-9]: this BibTeX entry"),
        ({"upload": b"\xff\xfe\x00garbage"}, "file, line 1: not UTF-8"),
        ({"upload": b"just some words\nand more"}, "file: no BibTeX entries"),
        ({"upload": b"@" * (seed.MAX_FILE_BYTES + 1)}, "is over 900,000 bytes"),
        ({"ids": "\n".join(f"2501.{n:05d}" for n in range(600))}, "ids: at most 500"),
    ],
)
def test_bad_input_names_the_problem_and_saves_nothing(
    filled: tuple[Store, KeywordIndex, User], fields: dict[str, Any], message: str
) -> None:
    store, index, user = filled
    before = store.signals(user.id)
    with pytest.raises(BadRequest, match=message):
        seed.seed(store, index, user, **{"categories": "cs.LG", **fields})
    assert store.signals(user.id) == before  # neither the categories nor a collection were saved


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return corpus_app(tmp_path, "sqlite")


def signed_in(app: FastAPI, name: str) -> tuple[TestClient, str]:
    client = TestClient(app, base_url="http://testserver")
    client.post("/signup", data={"csrf_token": csrf_of(client.get("/signup").text), "name": name,
                                 "password": "a long password"})  # fmt: skip
    return client, csrf_of(client.get("/for-you").text)


def test_the_page_and_its_api_twin_seed_the_same_way(app: FastAPI) -> None:
    client, token = signed_in(app, "pagereader")
    page = client.post("/for-you/seed", data={"csrf_token": token, "categories": "cs.CV"},
                       files={"file": ("export.ris", RIS.encode(), "application/x-research-info-systems")})  # fmt: skip
    assert page.status_code == 200
    assert "1 paper found in this instance" in page.text and "Nothing Like This Here" in page.text
    picks = client.get("/api/for_you", params={"limit": 5}).json()
    assert picks and all(p["id"] != "2501.00003" for p in picks)  # a seed is never recommended back
    api, api_token = signed_in(app, "apireader")
    answer = api.post("/api/for_you/seed", headers={"X-CSRF-Token": api_token}, data={"categories": "cs.CV"},
                      files={"file": ("export.ris", RIS.encode(), "text/plain")})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["found"], body["missing"], body["categories"]) == (
        ["2501.00003"],
        ["Nothing Like This Here"],
        ["cs.CV"],
    )
    assert body["collection"]["public"] is False


def test_forged_and_garbage_requests_get_a_4xx_that_says_why(app: FastAPI) -> None:
    client, token = signed_in(app, "garbage")
    store = app_store(app)
    user = present(store.get_user("garbage"))
    assert client.post("/for-you/seed", data={"ids": "2501.00001"}).status_code == 403  # no CSRF token
    anonymous = TestClient(app, base_url="http://testserver")
    assert anonymous.post("/api/for_you/seed", data={"ids": "2501.00001"}).status_code == 401
    bad = client.post("/for-you/seed", data={"csrf_token": token}, files={"file": ("x.bib", b"\xff\xfe", "text/plain")})
    assert bad.status_code == 400 and "not UTF-8" in bad.text
    api_bad = client.post("/api/for_you/seed", headers={"X-CSRF-Token": token}, data={"ids": "nope"})
    assert api_bad.status_code == 400 and "ids, line 1" in api_bad.json()["error"]["message"]
    huge = client.post(
        "/api/for_you/seed", headers={"X-CSRF-Token": token}, files={"file": ("x.bib", b"@" * 1_100_000)}
    )
    assert huge.status_code == 413
    assert store.signals(user.id).liked == []  # nothing was saved by any of them
