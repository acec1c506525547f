"""JSON-lines paper dumps: the Kaggle arXiv metadata snapshot and paperfeed's daily-crawl format.

Both are read a line at a time (constant memory on a multi-GB file); a bad line becomes a Skipped item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import orjson

from paperfeed.ingest.normalize import (
    InvalidRecord,
    announcement_date,
    clean_categories,
    clean_text,
    optional_text,
    parse_arxiv_id,
    parse_date,
    parse_datetime,
    required_text,
)
from paperfeed.ingest.records import Item, Skipped, convert
from paperfeed.models import Author, Paper, PaperVersion

SOURCE_DAILY = "arxiv_jsonl"
SOURCE_KAGGLE = "arxiv_snapshot"


MAX_LINE = 2 * 1024 * 1024  # far over the longest real record (a 5,000-author paper is about 300 KB)
OVERSIZED = b"\x00 oversized record \x00"  # a unique object standing in for a line over MAX_LINE


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of at most MAX_LINE bytes, so one runaway record cannot exhaust memory: a longer line is read
    past in MAX_LINE pieces and yields OVERSIZED instead."""
    while line := stream.readline(MAX_LINE):
        if len(line) == MAX_LINE and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass
            yield OVERSIZED
        else:
            yield line


def iter_jsonl(
    lines: Iterable[bytes], parse: Callable[[dict[str, Any]], Paper], *, skip_until: int = 0
) -> Iterator[Item]:
    """Items from JSON lines; line numbers start at 1; lines up to ``skip_until`` are passed over unread."""
    for number, line in enumerate(lines, 1):
        if number <= skip_until or not line.strip():
            continue
        if line is OVERSIZED:
            yield Skipped(number, f"line longer than {MAX_LINE:,} bytes")
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Skipped(number, f"invalid JSON: {exc}")
            continue
        yield convert(number, record, parse)


def _names(values: object) -> tuple[Author, ...]:
    if not isinstance(values, list):
        raise InvalidRecord("authors must be a list")
    return tuple(Author(name) for value in values if (name := clean_text(value)))


def parse_daily_record(record: dict[str, Any]) -> Paper:
    """One record of ``shared/data/arxiv/arxiv_daily.jsonl.gz`` (id, title, abstract, authors, categories,
    comment, first_seen_date, ...)."""
    ident = parse_arxiv_id(record.get("id"))
    feed_date = parse_date(record.get("first_seen_date"))
    return Paper(
        arxiv_id=ident.id,
        version=ident.version,
        title=required_text(record, "title"),
        abstract=required_text(record, "abstract"),
        authors=_names(record.get("authors", [])),
        categories=clean_categories(record.get("categories")),
        comment=optional_text(record.get("comment")),
        feed_date=feed_date,
        source=SOURCE_DAILY,
    )


def _kaggle_authors(record: dict[str, Any]) -> tuple[Author, ...]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        out = []
        for entry in parsed:
            if not isinstance(entry, list) or not entry:
                continue
            last, first, suffix = ([*list(entry), "", "", ""])[:3]
            name = clean_text(" ".join(str(x) for x in (first, last, suffix) if x))
            affiliation = clean_text(entry[3]) if len(entry) > 3 and isinstance(entry[3], str) else ""
            if name:
                out.append(Author(name, affiliation or None))
        return tuple(out)
    text = clean_text(record.get("authors"))
    return tuple(Author(n) for n in (p.strip() for p in text.replace(" and ", ", ").split(",")) if n)


def _kaggle_versions(record: dict[str, Any]) -> tuple[PaperVersion, ...]:
    versions = []
    for entry in record.get("versions") or []:
        if not isinstance(entry, dict):
            continue
        label = str(entry.get("version", "")).lstrip("v")
        if not label.isdigit():
            raise InvalidRecord(f"bad version label {entry.get('version')!r}")
        versions.append(PaperVersion(int(label), parse_datetime(entry.get("created"))))
    return tuple(sorted(versions, key=lambda v: v.version))


def parse_kaggle_record(record: dict[str, Any]) -> Paper:
    """One record of Kaggle's ``arxiv-metadata-oai-snapshot.json``."""
    ident = parse_arxiv_id(record.get("id"))
    versions = _kaggle_versions(record)
    first = versions[0].created_at if versions else None
    last = versions[-1].created_at if versions else None
    return Paper(
        arxiv_id=ident.id,
        version=versions[-1].version if versions else ident.version,
        title=required_text(record, "title"),
        abstract=required_text(record, "abstract"),
        authors=_kaggle_authors(record),
        categories=clean_categories(record.get("categories")),
        first_version_at=first,
        latest_version_at=last or parse_datetime(record.get("update_date")),
        comment=optional_text(record.get("comments")),
        journal_ref=optional_text(record.get("journal-ref")),
        doi=optional_text(record.get("doi")),
        license=optional_text(record.get("license")),
        feed_date=announcement_date(first) if first else None,
        source=SOURCE_KAGGLE,
        versions=versions,
    )
