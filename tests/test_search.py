"""Search through the real engine: tantivy on disk, the real MiniLM model, a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paperfeed import feed
from paperfeed.errors import BadRequest, Conflict, NotFound
from paperfeed.search import engine as search_engine
from paperfeed.search.embed import Embedder
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import SearchEngine, SearchMode, SearchResults, Window
from paperfeed.search.query import parse_query
from paperfeed.store import Store
from search_corpus import TOPICS, corpus, paper


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = Embedder()
    model.load()
    return model


@pytest.fixture
def engine(store: Store, tmp_path: Path, embedder: Embedder) -> SearchEngine:
    store.upsert_papers(corpus())
    embed_papers(store, embedder)
    return SearchEngine(store, tmp_path / "index", embedder)


@pytest.fixture
def bare_engine(store: Store, tmp_path: Path, embedder: Embedder) -> SearchEngine:
    """Papers imported, `paperfeed embed` never run."""
    store.upsert_papers(corpus())
    return SearchEngine(store, tmp_path / "index", embedder)


def ids(results: SearchResults) -> list[str]:
    return [hit.paper.arxiv_id for hit in results.hits]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_an_exact_title_ranks_that_paper_first(engine: SearchEngine, mode: SearchMode) -> None:
    for n, (title, *_rest) in enumerate(TOPICS):
        assert ids(engine.search(title, mode=mode))[0] == f"2501.{n:05d}", title


def test_a_paraphrase_is_found_by_meaning_not_by_words(engine: SearchEngine) -> None:
    q = "teaching machines to hold things with trial-and-error rewards"
    assert ids(engine.search(q, mode="semantic"))[0] == "2501.00004"
    assert ids(engine.search(q, mode="hybrid"))[0] == "2501.00004"
    assert ids(engine.search("kilometre rainfall maps from coarse earth simulations", mode="semantic"))[0] == (
        "2501.00009"
    )


def test_hits_carry_snippets_marks_scores_and_retrievers(engine: SearchEngine) -> None:
    hit = engine.search("surface codes decoder", mode="hybrid").hits[0]
    assert hit.paper.arxiv_id == "2501.00006"
    assert set(hit.found_by) == {"keyword", "semantic"}
    marked = [hit.snippet.text[a:b].lower() for a, b in hit.snippet.marks]
    assert "surface" in marked
    assert "decoder" in marked
    assert [hit.title.text[a:b] for a, b in hit.title.marks] == ["Surface", "Codes"]
    keyword_only = engine.search("surface codes decoder", mode="keyword").hits[0]
    assert keyword_only.found_by == ("keyword",)
    assert keyword_only.score > 0


def test_query_syntax(engine: SearchEngine) -> None:
    assert sorted(ids(engine.search('"diffusion models"', mode="keyword"))) == ["2501.00002", "2501.00003"]
    assert ids(engine.search('"diffusion models" -video', mode="keyword")) == ["2501.00002"]
    assert ids(engine.search('diffusion -"video generation"', mode="keyword")) == ["2501.00002"]
    assert ids(engine.search("author:Lovelace", mode="keyword")) == ["2501.00009", "2501.00000"]  # newest first
    assert ids(engine.search('author:"grace hopper"', mode="keyword")) == ["2501.00001"]
    assert ids(engine.search("cat:cs.cv", mode="keyword")) == ["2501.00003", "2501.00002"]
    in_cs = {"2501.00001", "2501.00002", "2501.00003", "2501.00005", "2501.00007"}  # cs.* papers saying "model"
    assert set(ids(engine.search("cat:cs models", mode="keyword"))) == in_cs
    assert ids(engine.search("title:grasping", mode="keyword")) == ["2501.00004"]
    assert ids(engine.search("since:2025-01-09", mode="keyword")) == ["2501.00009", "2501.00008"]
    assert ids(engine.search("date:2025-01-02..2025-01-03", mode="keyword")) == ["2501.00002", "2501.00001"]
    assert ids(engine.search("until:2025-01-01 year:2025", mode="keyword")) == ["2501.00000"]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_a_phrase_no_paper_has_is_loosened_to_its_words_with_a_notice(engine: SearchEngine, mode: SearchMode) -> None:
    exact = engine.search('"video generation"', mode=mode)
    assert ids(exact) == ["2501.00003"]  # a phrase that some paper has still filters
    assert not exact.notices
    loose = engine.search('"generation video" cat:cs.cv', mode=mode)  # both words, never in this order
    assert ids(loose)[0] == "2501.00003"
    assert set(ids(loose)) <= {"2501.00002", "2501.00003"}  # the other filters still hold
    assert loose.notices[0] == 'No paper has the exact phrase "generation video": showing papers with its words'
    nothing = engine.search('"generation video" cat:hep-th', mode=mode)  # loosening finds nothing either
    assert ids(nothing) == []
    assert not nothing.notices


def test_filters_apply_in_every_mode(engine: SearchEngine) -> None:
    window = Window(since=None, until=None, category="cs.CL")
    for mode in ("keyword", "semantic", "hybrid"):
        found = ids(engine.search("neural networks learning", mode=mode, window=window))
        assert set(found) <= {"2501.00005", "2501.00008"}, mode
        assert found, mode
    excluded = ids(engine.search("generating images and videos -video", mode="semantic"))
    assert "2501.00003" not in excluded
    assert "2501.00002" in excluded


def test_sorting(engine: SearchEngine, store: Store) -> None:
    store.upsert_papers([paper(2, upvotes=7, version=2), paper(3, upvotes=3, version=2)])
    assert ids(engine.search("diffusion", mode="keyword", sort="newest")) == ["2501.00003", "2501.00002"]
    assert ids(engine.search("diffusion", mode="keyword", sort="oldest")) == ["2501.00002", "2501.00003"]
    assert ids(engine.search("video diffusion", mode="keyword", sort="upvotes")) == ["2501.00002", "2501.00003"]


def test_paging(engine: SearchEngine) -> None:
    first = engine.search("models learning networks", mode="hybrid", limit=3)
    second = engine.search("models learning networks", mode="hybrid", limit=3, offset=3)
    assert first.has_more
    assert not set(ids(first)) & set(ids(second))


ODD = [
    "x" * 10_000,
    " ".join(f"term{i}" for i in range(2000))[:10_000],  # thousands of distinct words
    ("protein folding " * 700)[:10_000],
    '"unbalanced quote',
    'phrase" with "three quotes"',
    "*",
    "NEAR(a b)",
    "title:",
    ":::",
    "-",
    "--",
    '-""',
    "🤖🧬 proteins",
    "'; DROP TABLE papers; --",
    "a AND OR NOT b",
    "field:value cat:",
    "\x00\x01 control",
    "author:* title:?",
    "((((",
    "\\",
    "%_%",
]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
@pytest.mark.parametrize("q", ODD)
def test_any_input_gives_results_or_a_clear_bad_request(engine: SearchEngine, q: str, mode: SearchMode) -> None:
    failure: BadRequest | None = None
    try:
        results = engine.search(q, mode=mode)
    except BadRequest as exc:  # allowed, if it names the parameter
        failure = exc
    if failure is not None:
        assert failure.message.startswith("q ")
    else:
        assert isinstance(results.hits, list)


@pytest.mark.parametrize(
    ("q", "kwargs", "message"),
    [
        ("x" * 10_001, {}, "q must be at most 10,000 characters"),
        ("", {}, "q is empty"),
        ("   ", {}, "q is empty"),
        ("since:2025-13", {}, "since: must be a date"),
        ("since:2025-03 until:2025-01", {}, "the date range is empty"),
        ("proteins", {"limit": 0}, "limit must be between 1 and 100"),
        ("proteins", {"limit": 101}, "limit must be between 1 and 100"),
        ("proteins", {"offset": 5000}, "offset must be between"),
    ],
)
def test_bad_requests_name_the_parameter(engine: SearchEngine, q: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        engine.search(q, **kwargs)


def test_modes_and_sorts_are_parsed_at_the_edge_naming_the_parameter() -> None:
    with pytest.raises(BadRequest, match="mode must be one of"):
        search_engine.parse_mode("fuzzy")
    with pytest.raises(BadRequest, match="sort must be one of"):
        search_engine.parse_sort("random")
    assert search_engine.parse_mode("semantic") == "semantic" and search_engine.parse_sort("newest") == "newest"


def test_feed_validates_filters(engine: SearchEngine) -> None:
    with pytest.raises(BadRequest, match="since must be a date"):
        feed.search(engine, "proteins", since="yesterday")
    with pytest.raises(BadRequest, match="category must look like"):
        feed.search(engine, "proteins", category="cs.LG) OR 1=1")
    with pytest.raises(BadRequest, match="page must be 1 or more"):
        feed.search(engine, "proteins", page=0)
    assert ids(feed.search(engine, "diffusion", since="2025-01-04", mode="keyword")) == ["2501.00003"]


def test_index_follows_imports_and_updates(engine: SearchEngine, store: Store, embedder: Embedder) -> None:
    assert ids(engine.search("proteins", mode="keyword")) == ["2501.00000"]
    store.upsert_papers([paper(10, title="Protein Design with Language Models", abstract="Designing proteins.")])
    assert ids(engine.search("protein design", mode="keyword"))[0] == "2501.00010"  # no explicit refresh
    store.upsert_papers([paper(0, title="Attention for Molecule Docking", abstract="Docking ligands.", version=2)])
    assert "2501.00000" not in ids(engine.search("proteins folding", mode="keyword"))
    assert ids(engine.search("molecule docking", mode="keyword")) == ["2501.00000"]
    report = embed_papers(store, embedder)
    assert (report.embedded, report.unchanged) == (2, 0)
    assert ids(engine.search("binding small molecules to targets", mode="semantic"))[0] == "2501.00000"


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_without_vectors_both_modes_answer_by_keyword_and_say_why(bare_engine: SearchEngine, mode: SearchMode) -> None:
    results = bare_engine.search("proteins", mode=mode)
    assert results.used == "keyword"
    assert ids(results) == ["2501.00000"]
    assert any("no paper has a vector yet" in notice for notice in results.notices)
    assert not any("run `paperfeed embed`" in notice for notice in results.notices)  # the worker is on it
    with pytest.raises(Conflict, match="no paper has a vector yet"):
        bare_engine.similar("2501.00000")


def test_partly_embedded_says_how_many_are_missing(bare_engine: SearchEngine, store: Store, embedder: Embedder) -> None:
    embed_papers(store, embedder, limit=4)
    results = bare_engine.search("proteins", mode="hybrid")
    assert results.used == "hybrid"
    assert any(notice.startswith("6 papers have no vector yet") for notice in results.notices)


def test_similar_papers(engine: SearchEngine) -> None:
    results = engine.similar("2501.00002")
    assert "2501.00002" not in ids(results)
    assert ids(results)[0] == "2501.00003"  # the other diffusion paper
    windowed = ids(engine.similar("2501.00002", window=Window(since=None, until=None, category="cs.RO")))
    assert windowed == ["2501.00004"]
    with pytest.raises(NotFound, match=r"2501\.99999"):
        engine.similar("2501.99999")
    text = "Noise is removed step by step to create pictures; we make the pictures larger."
    assert ids(engine.similar_text(text))[0] == "2501.00002"
    with pytest.raises(BadRequest, match="text is empty"):
        engine.similar_text("  ")
    assert ids(feed.similar(engine, "arXiv:2501.00002v1"))[0] == "2501.00003"


def test_parse_query_takes_every_string_apart() -> None:
    q = parse_query('graph -"neural nets" author:"Ada L" cat:CS.LG since:2024 until:2025-02 "open quote')
    assert q.words == ["graph"]
    assert q.excluded == ["neural nets"]
    assert q.authors == ["Ada L"]
    assert q.categories == ["cs.lg"]
    assert str(q.since) == "2024-01-01"
    assert str(q.until) == "2025-02-28"
    assert q.phrases == ["open quote"]
    assert q.text == "graph open quote"  # in the order typed
    unknown = parse_query("foo:bar")
    assert unknown.words == ["foo bar"]


@pytest.mark.parametrize(
    "q", ["graph neural networks for traffic", "diffusion", "diffusion models -video", "cat:cs.CV diffusion"]
)
def test_an_uncounted_search_finds_what_a_counted_one_does(bare_engine: SearchEngine, q: str) -> None:
    # hybrid search and "for you" do not count, so a ranking alone runs unwrapped (block-max WAND may skip)
    bare_engine.refresh()
    parsed = parse_query(q)
    counted, total = bare_engine.keyword.search(parsed, 10)
    uncounted, none = bare_engine.keyword.search(parsed, 10, count=False)
    assert counted and total >= len(counted) and none == 0
    assert [key for key, _ in uncounted] == [key for key, _ in counted]
    assert [round(s, 4) for _, s in uncounted] == [round(s, 4) for _, s in counted]
