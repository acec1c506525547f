"""The keyword index in shards searched in parallel (PAPERFEED_KEYWORD_SHARDS, issue 22): it finds, counts,
filters, orders and marks what one index does, keeps each paper in one shard through updates, and a bad setting
is refused by name."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import corpus_app, present
from paperfeed.config import load_settings
from paperfeed.errors import BadRequest
from paperfeed.search import keyword as keyword_module
from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.keyword_shards import KeywordSearch, ShardedKeywordIndex, keyword_index
from paperfeed.search.query import parse_query
from paperfeed.store import Store
from search_corpus import corpus

QUERIES = ["diffusion models", "graph neural networks traffic", "quantum error correction", "protein", "zzzz"]


@pytest.fixture
def indexes(store: Store, tmp_path: Path) -> tuple[Store, KeywordSearch, KeywordSearch]:
    store.upsert_papers(corpus())
    one, three = keyword_index(tmp_path / "one"), keyword_index(tmp_path / "three", 3)
    assert one.sync(store) == len(corpus()) == three.sync(store)
    return store, one, three


def test_shards_hold_each_paper_once(indexes: tuple[Store, KeywordSearch, KeywordSearch]) -> None:
    _, one, three = indexes
    assert isinstance(three, ShardedKeywordIndex) and isinstance(one, KeywordIndex)
    assert three.size() == one.size() == len(corpus())
    sizes = [shard.size() for shard in three.shards]
    assert all(sizes) and sum(sizes) == len(corpus())


@pytest.mark.parametrize("text", QUERIES)
def test_shards_find_and_count_what_one_index_does(
    indexes: tuple[Store, KeywordSearch, KeywordSearch], text: str
) -> None:
    _, one, three = indexes
    q = parse_query(text)
    hits_one, count_one = one.search(q, 50)
    hits_three, count_three = three.search(q, 50)
    assert count_three == count_one == len(hits_one)
    assert {key for key, _ in hits_three} == {key for key, _ in hits_one}
    if hits_one:  # each of these queries has one paper about it: its best answer stands out in every shard
        assert hits_three[0][0] == hits_one[0][0]
        assert [score for _, score in hits_three] == sorted((score for _, score in hits_three), reverse=True)
    assert three.search_with_total(q, 5)[1] == one.search_with_total(q, 5)[1]


def test_a_limit_takes_the_best_across_shards(indexes: tuple[Store, KeywordSearch, KeywordSearch]) -> None:
    _, _, three = indexes
    q = parse_query("models networks learning data")
    everything, count = three.search(q, 100)
    assert count > 3 and three.search(q, 3)[0] == everything[:3]


def test_filters_counts_and_order_match_one_index(indexes: tuple[Store, KeywordSearch, KeywordSearch]) -> None:
    _, one, three = indexes
    for text in ("cat:cs.cv", "since:2025-01-10", "cat:cs.lg until:2025-01-20", "-diffusion since:2025-01-01"):
        q = parse_query(text)
        assert three.count_matching(q) == one.count_matching(q), text
        newest = three.matching_keys(q, 100)
        assert sorted(newest) == sorted(one.matching_keys(q, 100)) and len(newest) == len(set(newest)), text
        assert three.matching_keys(q, 4) == newest[:4]
    q = parse_query("since:2025-01-01")
    within = one.matching_keys(q, 100)[::2]
    assert sorted(three.matching_keys(q, 100, within=within)) == sorted(within)
    filtered, count = three.search(q, 5)
    assert count == one.count_matching(q) and [key for key, _ in filtered] == three.matching_keys(q, 5)


def test_newest_first_across_shards(store: Store, tmp_path: Path) -> None:
    store.upsert_papers([replace(p, feed_date=date(2025, 3, 1 + (i * 7) % 10)) for i, p in enumerate(corpus())])
    three = keyword_index(tmp_path, 3)
    three.sync(store)
    keys = three.matching_keys(parse_query("since:2025-03-01"), 100)
    papers = store.papers_by_key(keys)
    days = [present(papers[key].feed_date, "a feed date") for key in keys]
    assert len(keys) == len(corpus()) and days == sorted(days, reverse=True) and len(set(days)) == len(days)


def test_snippets_and_frequencies_come_from_every_shard(indexes: tuple[Store, KeywordSearch, KeywordSearch]) -> None:
    _, one, three = indexes
    q = parse_query("diffusion models")
    keys = [key for key, _ in one.search(q, 10)[0]]
    assert len(keys) >= 2
    assert three.snippets(q, keys) == one.snippets(q, keys)
    words = ["diffusion", "protein", "zebra"]
    assert three.document_frequency(words) == one.document_frequency(words)
    assert isinstance(three, ShardedKeywordIndex) and three.segments() >= len(three.shards)


def test_an_updated_paper_stays_in_its_shard(indexes: tuple[Store, KeywordSearch, KeywordSearch]) -> None:
    store, _, three = indexes
    first = corpus()[0]
    store.upsert_papers([replace(first, title="Zebra stripes as error correcting codes", version=2)])
    assert three.pending(store)
    assert three.sync(store) == 1
    assert three.size() == len(corpus())
    hits, count = three.search(parse_query("zebra stripes"), 5)
    assert count == 1 and store.papers_by_key([hits[0][0]])[hits[0][0]].arxiv_id == first.arxiv_id


def test_a_shard_keeps_only_its_own_keys_and_rebuilds_when_cut_differently(store: Store, tmp_path: Path) -> None:
    store.upsert_papers(corpus())
    half = KeywordIndex(tmp_path / "part", part=(1, 2))
    half.sync(store)
    keys = half.matching_keys(parse_query("since:2000-01-01"), 100)
    assert keys and all(key % 2 == 1 for key in keys)
    again = KeywordIndex(tmp_path / "part", part=(0, 2))  # the same folder cut another way: built anew
    assert again.size() == 0
    again.sync(store)
    assert all(key % 2 == 0 for key in again.matching_keys(parse_query("since:2000-01-01"), 100))


def test_an_estimated_total_is_summed_and_said_to_be(
    indexes: tuple[Store, KeywordSearch, KeywordSearch], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, one, three = indexes
    monkeypatch.setattr(keyword_module, "EXACT_COUNT_POSTINGS", 1)
    q = parse_query("diffusion models networks")
    _, total = three.search_with_total(q, 5)
    assert not total.exact and total.value >= one.search(q, 1)[1] * 0.5


def test_the_site_searches_its_shards(tmp_path: Path, backend: str) -> None:
    client = TestClient(corpus_app(tmp_path, backend, keyword_shards=2))
    data = client.get("/api/search", params={"q": "surface codes", "mode": "keyword"}).json()
    assert data["results"][0]["id"] == "2501.00006" and data["totalExact"] is True
    page = client.get("/search", params={"q": "surface codes", "mode": "keyword"})
    assert page.status_code == 200 and "2501.00006" in page.text
    assert (tmp_path / "index" / "keyword-shards-2" / "1" / "position.json").exists()


@pytest.mark.parametrize("value", ["0", "17", "-1", "two", "1e3", "", "9" * 400])
def test_a_bad_shard_count_is_refused_by_name(value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERFEED_KEYWORD_SHARDS", value)
    with pytest.raises(BadRequest, match="keyword_shards"):
        load_settings(data_dir=tmp_path)


def test_one_shard_is_the_index_as_it_always_was(tmp_path: Path) -> None:
    index = keyword_index(tmp_path)
    assert isinstance(index, KeywordIndex) and index.folder == tmp_path / "keyword"
