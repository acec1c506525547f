"""Hugging Face Daily Papers JSON: a list of items ``{paper: {...}, publishedAt, submittedBy, numComments}``.

An item's feed date is the day it was submitted to Daily Papers (``paper.submittedOnDailyAt``, else the
item's ``publishedAt``); ``paper.publishedAt`` is the arXiv publication time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson

from paperfeed.errors import IngestError
from paperfeed.ingest.normalize import (
    InvalidRecord,
    clean_text,
    optional_text,
    parse_arxiv_id,
    parse_datetime,
)
from paperfeed.ingest.records import Item, convert
from paperfeed.models import Author, Paper

SOURCE = "hf_daily"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _submitter(item: dict[str, Any], paper: dict[str, Any]) -> str | None:
    for who in (item.get("submittedBy"), paper.get("submittedOnDailyBy")):
        if isinstance(who, dict):
            name = optional_text(who.get("name") or who.get("user") or who.get("fullname"))
            if name:
                return name
    return None


def parse_hf_item(item: dict[str, Any]) -> Paper:
    paper = item.get("paper")
    if not isinstance(paper, dict):
        raise InvalidRecord("missing paper object")
    ident = parse_arxiv_id(paper.get("id"))
    title = clean_text(paper.get("title")) or clean_text(item.get("title"))
    abstract = clean_text(paper.get("summary")) or clean_text(item.get("summary"))
    if not title:
        raise InvalidRecord("missing title")
    if not abstract:
        raise InvalidRecord("missing summary")
    authors = paper.get("authors") or []
    if not isinstance(authors, list):
        raise InvalidRecord("authors must be a list")
    submitted = parse_datetime(paper.get("submittedOnDailyAt") or item.get("publishedAt"))
    links = {
        key: value
        for key, value in (("github", paper.get("githubRepo")), ("project", paper.get("projectPage")))
        if isinstance(value, str) and value.startswith(("https://", "http://"))
    }
    return Paper(
        arxiv_id=ident.id,
        version=ident.version,
        title=title,
        abstract=abstract,
        authors=tuple(Author(name) for a in authors if isinstance(a, dict) and (name := clean_text(a.get("name")))),
        first_version_at=parse_datetime(paper.get("publishedAt")),
        feed_date=submitted.date() if submitted else None,
        source=SOURCE,
        upvotes=_count(paper.get("upvotes")),
        num_comments=_count(item.get("numComments")),
        submitted_by=_submitter(item, paper),
        submitted_at=submitted,
        extra_links=links,
    )


def iter_hf_array(stream: IO[bytes], *, skip_until: int = 0) -> Iterator[Item]:
    """Items of a JSON array, streamed (constant memory); positions are 1-based item numbers."""
    position = 0
    try:
        for position, raw in enumerate(ijson.items(stream, "item", use_float=True), 1):
            if position > skip_until:
                yield convert(position, raw, parse_hf_item)
    except ijson.JSONError as exc:
        raise IngestError(f"Daily Papers JSON is malformed after item {position}: {exc}") from exc
