from datetime import UTC, date, datetime

import pytest

from paperfeed.ingest.normalize import (
    InvalidRecord,
    announcement_date,
    clean_categories,
    clean_text,
    parse_arxiv_id,
    parse_datetime,
)


@pytest.mark.parametrize(
    ("raw", "ident", "version"),
    [
        ("2401.00001", "2401.00001", None),
        ("2401.00001v3", "2401.00001", 3),
        ("0704.0001", "0704.0001", None),
        ("http://arxiv.org/abs/2401.12345v2", "2401.12345", 2),
        ("https://arxiv.org/pdf/2401.12345v1.pdf", "2401.12345", 1),
        ("arXiv:2401.12345", "2401.12345", None),
        ("oai:arXiv.org:hep-th/9901001", "hep-th/9901001", None),
        ("math.AP/0406594v2", "math.AP/0406594", 2),
    ],
)
def test_arxiv_ids(raw: str, ident: str, version: int | None) -> None:
    parsed = parse_arxiv_id(raw)
    assert (parsed.id, parsed.version) == (ident, version)


@pytest.mark.parametrize("raw", ["", "  ", "hello", "2401.1", "2401.00001v", "../etc/passwd", None, 42])
def test_bad_arxiv_ids(raw: object) -> None:
    with pytest.raises(InvalidRecord):
        parse_arxiv_id(raw)


def test_categories_drop_msc_and_acm_classes_and_duplicates() -> None:
    raw = ["cs.LG", "cs.AI", "68T45, 62H30", "I.5.3; I.2.10", "cs.LG", "hep-th", "astro-ph.CO"]
    assert clean_categories(raw) == ("cs.LG", "cs.AI", "hep-th", "astro-ph.CO")
    assert clean_categories("cs.DL cs.IR") == ("cs.DL", "cs.IR")
    assert clean_categories(None) == ()


def test_clean_text_collapses_whitespace() -> None:
    assert clean_text("  A\n  wrapped\ttitle ") == "A wrapped title"
    assert clean_text(None) == ""


@pytest.mark.parametrize("tail", ["", "\u00e9"])  # the ASCII path and the general one
def test_clean_text_treats_every_control_character_the_same_on_both_paths(tail: str) -> None:
    for code in [*range(33), 127]:
        char = chr(code)
        expected = "a b" if char.isspace() or code == 32 else "ab"  # whitespace separates, other controls go
        assert clean_text(f"a{char}b{tail}") == expected + tail, code
    assert clean_text("x\x00\x1b[31my\x7f") == "x[31my"


def test_dates() -> None:
    assert parse_datetime("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_datetime("Mon, 2 Apr 2007 19:18:42 GMT") == datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert parse_datetime("2024-01-02") == datetime(2024, 1, 2, tzinfo=UTC)
    assert parse_datetime("") is None
    with pytest.raises(InvalidRecord):
        parse_datetime("yesterday")


@pytest.mark.parametrize(
    ("submitted", "announced"),
    [
        ("2024-03-04T18:00:00Z", date(2024, 3, 4)),  # Monday 13:00 ET: before the deadline, Monday evening
        ("2024-03-04T19:30:00Z", date(2024, 3, 5)),  # Monday 14:30 ET: Tuesday's mailing
        ("2024-03-07T20:00:00Z", date(2024, 3, 10)),  # Thursday after the deadline: Sunday's mailing
        ("2024-03-08T18:00:00Z", date(2024, 3, 10)),  # Friday before the deadline: Sunday
        ("2024-03-08T19:30:00Z", date(2024, 3, 11)),  # Friday after the deadline: Monday
        ("2024-03-09T12:00:00Z", date(2024, 3, 11)),  # Saturday: Monday
    ],
)
def test_announcement_dates(submitted: str, announced: date) -> None:
    moment = parse_datetime(submitted)
    assert moment is not None
    assert announcement_date(moment) == announced


def test_announcement_of_a_bare_date() -> None:
    assert announcement_date(date(2024, 3, 6)) == date(2024, 3, 6)  # Wednesday
    assert announcement_date(date(2024, 3, 9)) == date(2024, 3, 11)  # Saturday -> Monday
