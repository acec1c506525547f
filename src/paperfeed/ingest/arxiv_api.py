"""The arXiv Atom API: building queries, parsing result pages, and the paged, windowed fetch plan.

Parsing is pure (bytes in, items out); fetching goes through :class:`paperfeed.ingest.fetch.PoliteClient`.
The API serves at most ``MAX_PAGE`` results a page and ``MAX_PER_QUERY`` a query, so a long date window is
split in halves until each part is small enough.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from paperfeed.errors import BadRequest, IngestError
from paperfeed.ingest.normalize import (
    InvalidRecord,
    announcement_date,
    clean_categories,
    clean_text,
    parse_arxiv_id,
    parse_datetime,
)
from paperfeed.ingest.records import Item, convert_node
from paperfeed.ingest.xmlsafe import child_text as _text
from paperfeed.ingest.xmlsafe import parse_xml
from paperfeed.models import Author, Paper, PaperVersion

SOURCE = "arxiv_api"
MAX_PAGE = 2000
MAX_PER_QUERY = 30000
ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ARXIV = "{http://arxiv.org/schemas/atom}"


@dataclass(frozen=True, slots=True)
class AtomPage:
    total: int
    start: int
    items: list[Item]


@dataclass(frozen=True, slots=True)
class Window:
    """A submitted-date window, both ends inclusive, to the minute (arXiv's resolution)."""

    start: datetime
    end: datetime

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + (self.end - self.start) / 2
        middle = middle.replace(second=0, microsecond=0)
        return Window(self.start, middle), Window(middle + timedelta(minutes=1), self.end)

    @property
    def splittable(self) -> bool:
        return self.end - self.start >= timedelta(minutes=2)

    @classmethod
    def days(cls, since: date, until: date) -> Window:
        if until < since:
            raise BadRequest(f"--until {until} is before --since {since}")
        return cls(datetime.combine(since, time(0, 0), UTC), datetime.combine(until, time(23, 59), UTC))


EVERY = "*"  # as the categories: every category of arXiv


def every_category(categories: Sequence[str]) -> bool:
    """Whether ``categories`` asks for all of arXiv: empty, or ``*``."""
    return not categories or list(categories) == [EVERY]


def search_query(categories: Sequence[str], window: Window) -> str:
    """``(cat:a OR cat:b) AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]``; for every category (no category,
    or ``*``) the date range alone, which the API accepts as a query."""
    span = f"submittedDate:[{window.start:%Y%m%d%H%M} TO {window.end:%Y%m%d%H%M}]"
    if every_category(categories):
        return span
    bad = [c for c in categories if clean_categories([c]) != (c,)]
    if bad:
        raise BadRequest(f"not an arXiv category: {', '.join(bad)}")
    cats = " OR ".join(f"cat:{c}" for c in categories)
    return f"({cats}) AND {span}"


def query_params(query: str, start: int, page_size: int) -> dict[str, str | int]:
    return {
        "search_query": query,
        "start": start,
        "max_results": min(page_size, MAX_PAGE),
        "sortBy": "submittedDate",
        "sortOrder": "ascending",
    }


def _int(root: ET.Element, tag: str, default: int) -> int:
    value = _text(root, tag)
    try:
        return int(value) if value is not None else default
    except ValueError as exc:
        raise IngestError(f"arXiv API: {tag} is not a number: {value!r}") from exc


def parse_entry(entry: ET.Element) -> Paper:
    ident = parse_arxiv_id(_text(entry, ATOM + "id"))
    published = parse_datetime(_text(entry, ATOM + "published"))
    updated = parse_datetime(_text(entry, ATOM + "updated"))
    title = clean_text(_text(entry, ATOM + "title"))
    abstract = clean_text(_text(entry, ATOM + "summary"))
    if not title or not abstract:
        raise InvalidRecord("missing title" if not title else "missing summary")
    authors = []
    for node in entry.findall(ATOM + "author"):
        name = _text(node, ATOM + "name")
        affiliations = [clean_text(a.text) for a in node.findall(ARXIV + "affiliation") if a.text]
        if name:
            authors.append(Author(name, "; ".join(affiliations) or None))
    primary = entry.find(ARXIV + "primary_category")
    terms = [primary.get("term")] if primary is not None else []
    terms += [c.get("term") for c in entry.findall(ATOM + "category")]
    versions = [PaperVersion(1, published)]
    if ident.version and ident.version > 1:
        versions.append(PaperVersion(ident.version, updated))
    return Paper(
        arxiv_id=ident.id,
        version=ident.version,
        title=title,
        abstract=abstract,
        authors=tuple(authors),
        categories=clean_categories([t for t in terms if t]),
        first_version_at=published,
        latest_version_at=updated or published,
        comment=_text(entry, ARXIV + "comment"),
        journal_ref=_text(entry, ARXIV + "journal_ref"),
        doi=_text(entry, ARXIV + "doi"),
        feed_date=announcement_date(published) if published else None,
        source=SOURCE,
        versions=tuple(versions),
    )


def parse_atom(data: bytes, *, first_position: int = 1) -> AtomPage:
    """One page of API results. An arXiv error entry (a bad query) raises IngestError with its message."""
    root = parse_xml(data, "arXiv API response")
    if root.tag != ATOM + "feed":
        raise IngestError(f"arXiv API response is not an Atom feed (root element {root.tag!r})")
    items: list[Item] = []
    for offset, entry in enumerate(root.findall(ATOM + "entry")):
        entry_id = _text(entry, ATOM + "id") or ""
        if "api/errors" in entry_id:
            raise IngestError(f"arXiv API error: {_text(entry, ATOM + 'summary')}")
        position = first_position + offset
        items.append(convert_node(position, functools.partial(parse_entry, entry)))
    total = _int(root, OPENSEARCH + "totalResults", len(items))
    start = _int(root, OPENSEARCH + "startIndex", 0)
    return AtomPage(total=total, start=start, items=items)
