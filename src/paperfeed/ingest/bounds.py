"""The limits every imported record is held to, whatever the source: nesting depth, field sizes, integers and
dates. A record over any of them is skipped with a reason that names the field; the import goes on.

The sizes are several times the largest real values (the 120,045 papers of the shared arXiv set peak at a
226-character title, a 4,031-character abstract, a 437-character comment, 3,303 authors, a 512-character author
"name" that is a whole collaboration, a 56 KB line; the biggest collider papers list about 5,500 authors), so no
real paper is lost, while a hostile file cannot make one record cost more than a few megabytes to hold, index
or show.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from paperfeed import daterange
from paperfeed.ingest.normalize import InvalidRecord
from paperfeed.models import Paper

MAX_DEPTH = 16  # the deepest real record (Kaggle's authors_parsed, a list of lists in an object) needs 3
MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_COMMENT = 5_000
MAX_AUTHORS = 10_000
MAX_NAME = 2_000  # an author's name or affiliation, a submitter, a journal reference, a DOI, a licence, a link
MAX_INT = 2**31 - 1  # PostgreSQL's integer


def check_depth(value: object, limit: int = MAX_DEPTH) -> None:
    """InvalidRecord when ``value`` (parsed JSON) nests lists and objects deeper than ``limit``."""
    level: list[tuple[object, int]] = [(value, 1)]
    while level:
        node, depth = level.pop()
        children: Iterable[object]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise InvalidRecord(f"record nests deeper than {limit} levels")
        level.extend((child, depth + 1) for child in children)


def _length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InvalidRecord(f"{name} is longer than {limit:,} characters ({len(value):,})")


def _day(name: str, value: date | datetime | None, latest: date) -> None:
    if value is None:
        return
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    if not daterange.EARLIEST <= day <= latest:
        raise InvalidRecord(f"{name} {day.isoformat()} is outside {daterange.EARLIEST} .. {latest.isoformat()}")


def check_paper(paper: Paper, today: date | None = None) -> Paper:
    """``paper`` itself when every field is within bounds, else InvalidRecord naming the first that is not."""
    latest = daterange.latest(today)
    _length("title", paper.title, MAX_TITLE)
    _length("abstract", paper.abstract, MAX_ABSTRACT)
    _length("comment", paper.comment, MAX_COMMENT)
    if len(paper.authors) > MAX_AUTHORS:
        raise InvalidRecord(f"authors: {len(paper.authors):,} names, more than {MAX_AUTHORS:,}")
    for author in paper.authors:
        _length("author name", author.name, MAX_NAME)
        _length("affiliation", author.affiliation, MAX_NAME)
    for name in ("journal_ref", "doi", "license", "submitted_by"):
        _length(name, getattr(paper, name), MAX_NAME)
    for key, link in paper.extra_links.items():
        _length(f"{key} link", link, MAX_NAME)
    if len(paper.categories) > 50:
        raise InvalidRecord(f"categories: {len(paper.categories)}, more than 50")
    for name in ("version", "upvotes", "num_comments"):
        number = getattr(paper, name)
        if number is not None and not 0 <= number <= MAX_INT:
            raise InvalidRecord(f"{name} {number} is out of range (0 .. {MAX_INT})")
    for version in paper.versions:
        if not 0 <= version.version <= MAX_INT:
            raise InvalidRecord(f"version {version.version} is out of range (0 .. {MAX_INT})")
        _day(f"version {version.version} date", version.created_at, latest)
    for name in ("feed_date", "first_version_at", "latest_version_at", "submitted_at"):
        _day(name, getattr(paper, name), latest)
    return paper
