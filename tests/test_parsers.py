"""Pure parsers: each source's records into Papers; bad records into Skipped with a reason."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from feeds import (
    ATOM_ERROR,
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    atom_entry,
    atom_page,
    oai_error,
    oai_page,
    oai_record,
)
from paperfeed.errors import IngestError
from paperfeed.ingest import arxiv_api, hf_daily, oai_pmh, snapshot
from paperfeed.ingest.records import Parsed, Skipped
from paperfeed.models import Author, PaperVersion

KAGGLE: dict[str, Any] = {
    "id": "0704.0001",
    "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
    "comments": "37 pages, 15 figures",
    "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009",
    "report-no": "ANL-HEP-PR-07-12",
    "categories": "hep-ph",
    "license": None,
    "abstract": "  A fully differential calculation in perturbative quantum chromodynamics is\npresented.",
    "versions": [
        {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
        {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
    ],
    "update_date": "2008-11-13",
    "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""], ["Nadolsky", "P. M.", ""]],
}

HF_ITEM: dict[str, Any] = {
    "paper": {
        "id": "2502.10248",
        "authors": [
            {"_id": "a1", "name": "Guoqing Ma", "hidden": False},
            {"_id": "a2", "name": "Haoyang Huang"},
        ],
        "publishedAt": "2025-02-14T15:58:10.000Z",
        "submittedOnDailyAt": "2025-02-17T00:31:50.539Z",
        "title": "Step-Video-T2V Technical Report",
        "summary": "We present Step-Video-T2V,\n a text-to-video model.",
        "upvotes": 42,
        "githubRepo": "https://github.com/stepfun-ai/Step-Video-T2V",
    },
    "publishedAt": "2025-02-17T00:31:50.539Z",
    "title": "Step-Video-T2V Technical Report",
    "summary": "We present Step-Video-T2V.",
    "numComments": 3,
    "submittedBy": {"_id": "u1", "name": "akhaliq", "fullname": "AK"},
}


def test_daily_record() -> None:
    line = {
        "id": "2503.11731",
        "title": "A $\\alpha$ <title> & more",
        "abstract": "Text.",
        "authors": ["A. One", "B. Two"],
        "categories": ["cs.CV", "68T45, 62H30"],
        "comment": None,
        "first_seen_date": "2025-03-18",
    }
    p = snapshot.parse_daily_record(line)
    assert p.arxiv_id == "2503.11731"
    assert p.title == "A $\\alpha$ <title> & more"
    assert p.authors == (Author("A. One"), Author("B. Two"))
    assert p.categories == ("cs.CV",)
    assert p.feed_date == date(2025, 3, 18)
    assert p.source == "arxiv_jsonl"


def test_kaggle_record() -> None:
    p = snapshot.parse_kaggle_record(KAGGLE)
    assert p.arxiv_id == "0704.0001"
    assert p.version == 2
    assert p.title.startswith("Calculation of prompt diphoton production cross sections at Tevatron and LHC")
    assert p.authors[0] == Author("C. Balázs")
    assert p.versions == (
        PaperVersion(1, datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),
        PaperVersion(2, datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)),
    )
    assert p.first_version_at == datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert p.feed_date == date(2007, 4, 3)  # Monday 15:18 ET, after the deadline: Tuesday
    assert (p.journal_ref, p.doi, p.comment) == (
        "Phys.Rev.D76:013009,2007",
        "10.1103/PhysRevD.76.013009",
        "37 pages, 15 figures",
    )


def test_kaggle_authors_without_authors_parsed() -> None:
    record = dict(KAGGLE, authors_parsed=None, authors="A. One, B. Two and C. Three")
    assert [a.name for a in snapshot.parse_kaggle_record(record).authors] == ["A. One", "B. Two", "C. Three"]


def test_hf_item() -> None:
    p = hf_daily.parse_hf_item(HF_ITEM)
    assert p.arxiv_id == "2502.10248"
    assert p.feed_date == date(2025, 2, 17)
    assert p.submitted_by == "akhaliq"
    assert (p.upvotes, p.num_comments) == (42, 3)
    assert p.abstract == "We present Step-Video-T2V, a text-to-video model."
    assert p.extra_links == {"github": "https://github.com/stepfun-ai/Step-Video-T2V"}


def test_hf_item_rejects_script_links() -> None:
    item = orjson.loads(orjson.dumps(HF_ITEM))
    item["paper"]["githubRepo"] = "javascript:alert(1)"
    assert hf_daily.parse_hf_item(item).extra_links == {}


def test_jsonl_reports_bad_lines_with_numbers() -> None:
    good = orjson.dumps({"id": "2401.00001", "title": "T", "abstract": "A", "authors": []})
    lines = [
        good,
        b"{not json",
        b"\n",
        orjson.dumps({"id": "nope", "title": "T", "abstract": "A"}),
        orjson.dumps({"id": "2401.00002", "abstract": "A"}),
        orjson.dumps([1, 2]),
        orjson.dumps({"id": "2401.00003", "title": "T", "abstract": "A", "authors": "not a list"}),
    ]
    items = list(snapshot.iter_jsonl(lines, snapshot.parse_daily_record))
    assert isinstance(items[0], Parsed)
    skipped = {i.position: i.reason for i in items if isinstance(i, Skipped)}
    assert set(skipped) == {2, 4, 5, 6, 7}
    assert skipped[2].startswith("invalid JSON")
    assert "not an arXiv id" in skipped[4]
    assert skipped[5] == "missing title"
    assert "JSON object" in skipped[6]


def test_read_lines_bounds_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "MAX_LINE", 64)
    data = b'{"a": 1}\n' + b"x" * 500 + b"\n" + b'{"b": 2}\n'
    lines = list(snapshot.read_lines(io.BytesIO(data)))
    assert lines[0] == b'{"a": 1}\n'
    assert lines[1] is snapshot.OVERSIZED
    assert lines[2] == b'{"b": 2}\n'


def test_atom_page() -> None:
    page = arxiv_api.parse_atom(atom_page([atom_entry(1, version=2), atom_entry(2)], total=10, start=0))
    assert (page.total, page.start, len(page.items)) == (10, 0, 2)
    first = page.items[0]
    assert isinstance(first, Parsed)
    p = first.paper
    assert (p.arxiv_id, p.version) == ("2403.00001", 2)
    assert p.title == "Paper number 1: attention & more"
    assert p.abstract == "We study problem 1. It is wrapped over lines."
    assert p.authors == (Author("Ada Lovelace", "Analytical Engines Ltd"), Author("Alan Turing"))
    assert p.categories == ("cs.LG", "stat.ML")
    assert (p.comment, p.journal_ref, p.doi) == ("12 pages", "J. Test 1 (2024)", "10.1000/test.1")
    assert p.feed_date == date(2024, 3, 4)
    assert [v.version for v in p.versions] == [1, 2]


def test_atom_bad_entry_is_skipped_not_fatal() -> None:
    broken = atom_entry(3).replace("<id>http://arxiv.org/abs/2403.00003v1</id>", "<id>garbage</id>")
    page = arxiv_api.parse_atom(atom_page([atom_entry(1), broken], total=2, start=0))
    assert isinstance(page.items[0], Parsed)
    assert isinstance(page.items[1], Skipped)
    assert "not an arXiv id" in page.items[1].reason


def test_atom_error_entry_raises() -> None:
    with pytest.raises(IngestError, match="incorrect id format"):
        arxiv_api.parse_atom(ATOM_ERROR)


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_hostile_xml_is_refused(hostile: bytes) -> None:
    with pytest.raises(IngestError, match="hostile XML"):
        arxiv_api.parse_atom(hostile)
    with pytest.raises(IngestError, match="hostile XML"):
        oai_pmh.parse_oai(hostile)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "malformed XML at line 1"),
        (b"<html><body>Service unavailable</body></html>", "not an Atom feed"),
        (b"", "malformed XML"),
    ],
)
def test_malformed_or_foreign_xml(data: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        arxiv_api.parse_atom(data)


def test_oai_page() -> None:
    page = oai_pmh.parse_oai(oai_page([oai_record(1), oai_record(2, deleted=True), oai_record(3)], token="tok", size=9))
    assert (page.resumption_token, page.complete_list_size, page.deleted) == ("tok", 9, 1)
    assert page.response_date == "2024-03-07T10:00:00Z"
    assert len(page.items) == 2
    first = page.items[0]
    assert isinstance(first, Parsed)
    p = first.paper
    assert p.arxiv_id == "2403.00001"
    assert p.authors == (Author("Grace Hopper", "Navy"), Author("Donald E. Knuth Jr"))
    assert p.categories == ("cs.DL", "cs.IR")
    assert p.license == "http://creativecommons.org/licenses/by/4.0/"
    assert p.feed_date == date(2024, 3, 4)
    assert p.abstract == "Abstract of record 1."


def test_oai_last_page_and_no_records() -> None:
    assert oai_pmh.parse_oai(oai_page([oai_record(1)], token="", size=1)).resumption_token is None
    empty = oai_pmh.parse_oai(oai_error("noRecordsMatch", "nothing"))
    assert (empty.items, empty.resumption_token) == ([], None)


def test_oai_errors_raise() -> None:
    with pytest.raises(IngestError, match="badArgument"):
        oai_pmh.parse_oai(oai_error("badArgument", "bad from"))
    with pytest.raises(IngestError, match="not OAI-PMH"):
        oai_pmh.parse_oai(atom_page([], total=0, start=0))
