"""Hugging Face Daily Papers JSON: a list of items ``{paper: {...}, publishedAt, submittedBy, numComments}``.

An item's feed date is the day it was submitted to Daily Papers (``paper.submittedOnDailyAt``, else the
item's ``publishedAt``); ``paper.publishedAt`` is the arXiv publication time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson

from paperfeed.errors import IngestError
from paperfeed.ingest.bounds import MAX_DEPTH
from paperfeed.ingest.normalize import (
    InvalidRecord,
    clean_text,
    optional_text,
    parse_arxiv_id,
    parse_datetime,
)
from paperfeed.ingest.records import Item, Skipped, convert
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


class _TooDeep:
    """Stands in for an array item that nests deeper than MAX_DEPTH (it is never built)."""


TOO_DEEP = _TooDeep()


def array_items(stream: IO[bytes], max_depth: int = MAX_DEPTH) -> Iterator[object]:
    """The items of a top-level JSON array, built one at a time from the parser's events; an item nesting
    deeper than ``max_depth`` is read past without being built and yields TOO_DEEP. (ijson.items keeps every
    level's path as a string, quadratic in the depth: 100 KB of brackets took 6 GB.)"""
    events = ijson.basic_parse(stream, use_float=True)
    if next(events, ("", None))[0] != "start_array":
        raise IngestError("Daily Papers JSON is not an array")
    stack: list[list[Any]] = []  # [container, key waiting for its value] per open level of the current item
    depth = 0  # open levels of the current item, counted also while skipping one that is too deep
    for event, value in events:
        if event in ("start_map", "start_array"):
            depth += 1
            if depth <= max_depth and len(stack) == depth - 1:
                stack.append([{} if event == "start_map" else [], None])
            else:
                stack.clear()  # too deep: drop what was built, read on to the item's end
            continue
        if event == "map_key":
            if stack:
                stack[-1][1] = value
            continue
        if event in ("end_map", "end_array"):
            depth -= 1
            if depth < 0:
                return  # the end of the top-level array
            if not stack:
                if depth == 0:
                    yield TOO_DEEP
                continue
            value = stack.pop()[0]
        elif depth and not stack:
            continue  # a scalar inside an item being skipped
        if not stack:
            yield value
        elif isinstance(stack[-1][0], dict):
            stack[-1][0][stack[-1][1]] = value
        else:
            stack[-1][0].append(value)


def iter_hf_array(stream: IO[bytes], *, skip_until: int = 0) -> Iterator[Item]:
    """Items of a JSON array, streamed (memory bounded by one item); positions are 1-based item numbers."""
    position = 0
    try:
        for position, raw in enumerate(array_items(stream), 1):
            if position <= skip_until:
                continue
            if raw is TOO_DEEP:
                yield Skipped(position, f"record nests deeper than {MAX_DEPTH} levels")
            else:
                yield convert(position, raw, parse_hf_item)
    except ijson.JSONError as exc:
        raise IngestError(f"Daily Papers JSON is malformed after item {position}: {exc}") from exc
