"""What a parser yields for each record: a paper, or the reason it was skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from paperfeed.ingest.bounds import check_depth, check_paper
from paperfeed.ingest.normalize import InvalidRecord
from paperfeed.models import Paper


@dataclass(frozen=True, slots=True)
class Parsed:
    position: int  # line number in a file (1-based), or record number within a page/array
    paper: Paper


@dataclass(frozen=True, slots=True)
class Skipped:
    position: int
    reason: str


Item = Parsed | Skipped


# What a hostile record can make a parser raise: wrong types, overflowing numbers and dates, bad text.
RECORD_DEFECTS = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError, UnicodeError)


def convert(position: int, raw: Any, parse: Callable[[dict[str, Any]], Paper]) -> Item:
    """Run one record through its parser and the bounds (paperfeed.ingest.bounds), turning any defect in it
    into a Skipped with the reason."""
    if not isinstance(raw, dict):
        return Skipped(position, f"expected a JSON object, got {type(raw).__name__}")
    try:
        check_depth(raw)
        return Parsed(position, check_paper(parse(raw)))
    except InvalidRecord as exc:
        return Skipped(position, str(exc))
    except RECORD_DEFECTS as exc:
        return Skipped(position, f"malformed record: {type(exc).__name__}: {str(exc)[:120]}")


def convert_node(position: int, parse: Callable[[], Paper]) -> Item:
    """The same for a record that is not JSON (an XML entry): ``parse`` makes its paper."""
    try:
        return Parsed(position, check_paper(parse()))
    except InvalidRecord as exc:
        return Skipped(position, str(exc))
    except RECORD_DEFECTS as exc:
        return Skipped(position, f"malformed record: {type(exc).__name__}: {str(exc)[:120]}")


def papers_only(items: Iterator[Item]) -> Iterator[Paper]:
    """The papers of a stream, dropping skipped records (for callers that only need the good ones)."""
    for item in items:
        if isinstance(item, Parsed):
            yield item.paper
