"""Queries as researchers paste them: long requests in plain language, where quotes and dashes are punctuation,
and keyword ranking that counts what a query repeats and ignores what cannot name anything (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperfeed.errors import BadRequest
from paperfeed.models import Author, Paper
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SearchEngine
from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.query import PROSE_NOTICE, PROSE_WORDS, parse_query
from paperfeed.store import Store

REQUEST = (
    'I am interested in articles on how one can check that a module "matches" the contexts in which it is used, '
    "for example type checking of -modular programs"
)


def test_a_long_request_reads_quotes_and_dashes_as_punctuation() -> None:
    q = parse_query(REQUEST)
    assert len(REQUEST.split()) > PROSE_WORDS and q.prose
    assert not q.phrases and not q.excluded and not q.has_constraints
    assert "matches" in q.words and "modular" in q.words


def test_a_short_query_keeps_its_syntax() -> None:
    q = parse_query('"type checking" -modular module')
    assert not q.prose
    assert q.phrases == ["type checking"] and q.excluded == ["modular"] and q.words == ["module"]


def test_field_operators_apply_in_prose_too() -> None:
    q = parse_query(REQUEST + " cat:cs.PL since:2020")
    assert q.prose and q.categories == ["cs.pl"] and str(q.since) == "2020-01-01"


@pytest.mark.parametrize("text", ["year:1970s", "papers since:yesterday on sorting", "until:soon", "date:later"])
def test_a_date_operator_with_no_date_shape_is_text(text: str) -> None:
    q = parse_query(text)
    assert q.since is None and q.until is None
    assert q.words and q.text


@pytest.mark.parametrize("text", ["since:2025-13", "year:19700", "until:2025-02-30"])
def test_a_date_shaped_value_that_is_no_date_is_still_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match=r"(since|year|until): must be a date"):
        parse_query(text)


def paper(arxiv_id: str, title: str, abstract: str, authors: tuple[str, ...] = ("Jane Roe",)) -> Paper:
    return Paper(arxiv_id=arxiv_id, title=title, abstract=abstract, authors=tuple(Author(a) for a in authors))


@pytest.fixture
def index(store: Store, tmp_path: Path) -> tuple[Store, KeywordIndex]:
    store.upsert_papers([
        paper("2501.00001", "Module matching in programming languages",
              "Checking that each module fits the contexts in which it is used, with interface types."),
        paper("2501.00002", "Type checking of modular programs", "Static checks across separately compiled units."),
        paper("2501.00003", "Sorting networks", "Comparator networks that sort in parallel.",
              authors=("A. Of", "B. The")),
        paper("2501.00004", "Graph colouring", "We colour graphs with few colours."),
        paper("2501.00005", "Protein folding", "We fold proteins."),
    ])  # fmt: skip
    keyword = KeywordIndex(tmp_path / "keyword")
    keyword.sync(store)
    return store, keyword


def found(index: tuple[Store, KeywordIndex], text: str) -> list[str]:
    store, keyword = index
    hits, _ = keyword.search(parse_query(text), 10)
    papers = store.papers_by_key([key for key, _ in hits])
    return [papers[key].arxiv_id for key, _ in hits]


def test_the_search_says_when_it_read_quotes_as_punctuation(store: Store, tmp_path: Path) -> None:
    store.upsert_papers([paper("2501.00001", "Module matching", "Checking that a module matches its contexts.")])
    engine = SearchEngine(store, tmp_path / "index", Embedder())
    assert engine.search(REQUEST, mode="keyword").notices[0] == PROSE_NOTICE
    plain = REQUEST.replace('"', "").replace("-", "")
    assert PROSE_NOTICE not in engine.search(plain, mode="keyword").notices
    assert PROSE_NOTICE not in engine.search('"module matching"', mode="keyword").notices


def test_a_quoted_word_in_a_request_does_not_filter(index: tuple[Store, KeywordIndex]) -> None:
    hits = found(index, REQUEST)
    assert "2501.00002" in hits  # has no "matches": a phrase filter would have dropped it
    assert set(hits[:2]) == {"2501.00001", "2501.00002"}


def test_stop_words_and_initials_match_no_author(index: tuple[Store, KeywordIndex]) -> None:
    assert found(index, "the of and a") == []  # "A. Of" and "B. The" are not found by the words of a sentence
    assert found(index, "sorting the of") == ["2501.00003"]  # found by its title, as any paper


def test_a_word_the_query_repeats_counts_more(index: tuple[Store, KeywordIndex]) -> None:
    assert found(index, "graph graph graph protein")[0] == "2501.00004"
    assert found(index, "graph protein protein protein")[0] == "2501.00005"


def test_single_letters_rank_only_when_the_query_has_nothing_else(index: tuple[Store, KeywordIndex]) -> None:
    assert found(index, "a") == []  # a stop word
    assert found(index, "graph b c d")[0] == "2501.00004"  # "b c d" add nothing to rank by


def test_document_frequencies_are_remembered_until_the_index_changes(index: tuple[Store, KeywordIndex]) -> None:
    store, keyword = index
    before = keyword.document_frequency(["diffusion", "zebra"])
    assert before["zebra"] == 0 and keyword.document_frequency(["zebra"]) == {"zebra": 0}
    store.upsert_papers([paper("2501.09999", "Zebra stripes", "Zebra stripes and zebra herds.")])
    keyword.sync(store)
    assert keyword.document_frequency(["zebra", "diffusion"]) == {"zebra": 1, "diffusion": before["diffusion"]}
