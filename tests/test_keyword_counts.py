"""Keyword search at the size of arXiv (issue 22): a word in most papers does not rank beside rarer words, and
keyword mode counts its matches only where counting is cheap, estimating (and saying so) where it is not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import corpus_app
from paperfeed.models import Paper
from paperfeed.search import keyword as keyword_module
from paperfeed.search.keyword import KeywordIndex, Total, about
from paperfeed.search.query import parse_query
from paperfeed.store import Store

PAPERS = 40
MODELS = 30  # papers 0-29 mention "models": three quarters of the index
ZEBRAS = (5, 35)  # one of them also mentions models
QUOKKAS = (36, 37, 38)


def text_of(i: int) -> str:
    words = [f"topic{i}", "study"]
    words += ["models"] if i < MODELS else []
    words += ["zebra"] if i in ZEBRAS else []
    words += ["quokka"] if i in QUOKKAS else []
    return " ".join(words)


@pytest.fixture
def index(store: Store, tmp_path: Path) -> tuple[Store, KeywordIndex]:
    store.upsert_papers(
        [Paper(arxiv_id=f"2501.{i:05d}", title=f"Paper {i}", abstract=text_of(i), categories=("cs.LG",))
         for i in range(PAPERS)]
    )  # fmt: skip
    keyword = KeywordIndex(tmp_path / "keyword")
    keyword.sync(store)
    return store, keyword


def ids(store: Store, hits: list[tuple[int, float]]) -> list[str]:
    papers = store.papers_by_key([key for key, _ in hits])
    return [papers[key].arxiv_id for key, _ in hits]


def test_a_word_in_most_papers_ranks_only_alone(
    index: tuple[Store, KeywordIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, keyword = index
    monkeypatch.setattr(keyword_module, "COMMON_FROM", 10)  # as if the index were large enough for the rule
    hits, count = keyword.search(parse_query("zebra models"), 50)
    assert sorted(ids(store, hits)) == ["2501.00005", "2501.00035"] and count == 2
    alone, _ = keyword.search(parse_query("zebra"), 50)
    assert dict(hits) == pytest.approx(dict(alone))  # "models" added nothing to either score
    by_itself, count = keyword.search(parse_query("models"), 50)
    assert count == MODELS and len(by_itself) == MODELS  # with nothing else, it still ranks


def test_a_small_index_ranks_every_word(index: tuple[Store, KeywordIndex]) -> None:
    store, keyword = index
    assert PAPERS < keyword_module.COMMON_FROM
    hits, count = keyword.search(parse_query("zebra models"), 50)
    assert count == MODELS + 1  # every paper with either word
    assert ids(store, hits)[0] == "2501.00005"  # both words


def test_a_cheap_count_is_exact(index: tuple[Store, KeywordIndex]) -> None:
    _, keyword = index
    hits, total = keyword.search_with_total(parse_query("models quokka"), 10)
    assert total == Total(MODELS + len(QUOKKAS), exact=True)
    assert hits == keyword.search(parse_query("models quokka"), 10)[0]


def test_a_costly_count_is_estimated_from_document_frequencies(
    index: tuple[Store, KeywordIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, keyword = index
    monkeypatch.setattr(keyword_module, "EXACT_COUNT_POSTINGS", 3)
    hits, total = keyword.search_with_total(parse_query("zebra quokka"), 10)
    expected = PAPERS * (1 - (1 - len(ZEBRAS) / PAPERS) * (1 - len(QUOKKAS) / PAPERS))  # 4.85
    assert total == Total(about(expected, PAPERS), exact=False) and total.value == 5
    assert hits == keyword.search(parse_query("zebra quokka"), 10)[0]  # the same papers, in the same order
    hits, total = keyword.search_with_total(parse_query("models"), 10)
    assert total == Total(MODELS, exact=False) and len(hits) == 10
    _, total = keyword.search_with_total(parse_query("models cat:cs.LG -quokka"), 10)
    assert total == Total(MODELS, exact=True)  # a query with constraints is counted, whatever it costs


@pytest.mark.parametrize(
    ("estimate", "most", "shown"),
    [
        (4.85, 40, 5),
        (1_249_500.2, 2_700_000, 1_300_000),
        (99_001, 10**6, 100_000),
        (2_690_500, 2_691_000, 2_691_000),
        (120.0, 10**6, 120),
        (0.0, 10, 0),
    ],
)
def test_an_estimate_is_rounded_up_to_two_figures_within_the_index(estimate: float, most: int, shown: int) -> None:
    assert about(estimate, most) == shown


def test_the_page_and_its_api_twin_say_when_the_total_is_an_estimate(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_module, "EXACT_COUNT_POSTINGS", 1)
    client = TestClient(corpus_app(tmp_path, backend))
    params = {"q": "diffusion models", "mode": "keyword"}
    data = client.get("/api/search", params=params).json()
    assert data["totalExact"] is False and data["total"] >= len(data["results"]) > 0
    page = client.get("/search", params=params)
    assert page.status_code == 200
    assert re.search(rf"of about {data['total']:,} results", page.text)
    monkeypatch.setattr(keyword_module, "EXACT_COUNT_POSTINGS", 10**9)
    exact = client.get("/api/search", params=params).json()
    assert exact["totalExact"] is True and exact["total"] >= len(exact["results"])
    assert "of about" not in client.get("/search", params=params).text


@pytest.mark.parametrize(
    "q",
    ["models " * 1_500, " ".join(f"w{i}" for i in range(400)), "models\x00zebra", "zebra -models -" + "x" * 3_000],
)
def test_hostile_keyword_queries_are_answered_or_refused_by_name(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, q: str
) -> None:
    monkeypatch.setattr(keyword_module, "EXACT_COUNT_POSTINGS", 1)
    client = TestClient(corpus_app(tmp_path, backend))
    response = client.get("/api/search", params={"q": q, "mode": "keyword"})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["error"]["message"].startswith("q")
    else:
        assert isinstance(response.json()["totalExact"], bool)
