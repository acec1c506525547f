from datetime import UTC, date, datetime
from typing import Any

from paperfeed.models import Author, Paper, PaperVersion, merge_papers, version_is_older


def paper(**fields: Any) -> Paper:
    base: dict[str, Any] = {"arxiv_id": "2401.00001", "title": "T", "abstract": "A", "source": "s"}
    base.update(fields)
    return Paper(**base)


def test_merge_takes_new_metadata_but_never_blanks_fields() -> None:
    stored = paper(doi="10.1/x", categories=("cs.LG",), feed_date=date(2024, 1, 3), version=1, upvotes=5)
    incoming = paper(title="T v2", version=2, categories=(), doi=None, feed_date=date(2024, 1, 9), upvotes=2)
    merged = merge_papers(stored, incoming)
    assert merged.title == "T v2"
    assert merged.version == 2
    assert merged.doi == "10.1/x"
    assert merged.categories == ("cs.LG",)
    assert merged.feed_date == date(2024, 1, 3)  # the day it first entered the feed
    assert merged.upvotes == 5
    assert merged.source == "s"


def test_merge_unions_version_history() -> None:
    t1 = datetime(2024, 1, 1, tzinfo=UTC)
    t2 = datetime(2024, 2, 1, tzinfo=UTC)
    stored = paper(versions=(PaperVersion(1, None),), version=1)
    incoming = paper(versions=(PaperVersion(1, t1), PaperVersion(2, t2)), version=2)
    merged = merge_papers(stored, incoming)
    assert merged.versions == (PaperVersion(1, t1), PaperVersion(2, t2))


def test_is_older() -> None:
    assert version_is_older(1, 2)
    assert not version_is_older(2, 2)
    assert not version_is_older(None, 2)
    assert not version_is_older(1, None)


def test_links_and_dict() -> None:
    p = paper(version=2, doi="10.1/x", authors=(Author("Ada", "Engines"),))
    assert p.links["abs"] == "https://arxiv.org/abs/2401.00001v2"
    assert p.links["pdf"] == "https://arxiv.org/pdf/2401.00001v2"
    assert p.links["doi"] == "https://doi.org/10.1/x"
    d = p.as_dict()
    assert d["authors"] == [{"name": "Ada", "affiliation": "Engines"}]
    assert d["id"] == "2401.00001"
