"""The search box's syntax, parsed into a :class:`ParsedQuery`. Every string parses: there is no syntax error.

=====================  ==========================================================
``word``               ranks papers containing it (BM25; title above authors above abstract)
``"exact phrase"``     only papers with these words in this order (an unclosed quote runs to the end)
``-word``, ``-"a b"``  leaves out papers with the word or phrase
``author:Name``        only papers with this author (``author:"Yann LeCun"`` for a full name)
``title:word``         only papers with the word in the title
``cat:cs.LG``          only papers in this category; ``cat:cs`` for the whole archive
``since:2025-03``      on or after this day (YYYY, YYYY-MM or YYYY-MM-DD); ``until:`` likewise
``date:A..B``          between two such dates (either side may be left empty); ``year:2025``
=====================  ==========================================================

An unknown ``name:value`` is searched as the two words, and so is a date operator whose value is not shaped
like a date (``year:1970s``); a date-shaped value that is no date (``since:2025-13``) is a BadRequest. Terms
reach the engine only as analysed tokens, never as engine syntax, so ``*``, ``NEAR(``, SQL or stray quotes
are just text.

A query of more than :data:`PROSE_WORDS` words is prose (a request in natural language, a pasted abstract):
its quotes and leading dashes are punctuation, not phrase filters or exclusions, so ``"matches"`` quoted
inside a sentence ranks like any other word and ``-based`` stays a word (docs/decisions.md, "Search that
holds on a collection it was not tuned on"). Field operators (``author:``, ``cat:``, dates) apply at any length.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import date

from paperfeed import daterange
from paperfeed.errors import BadRequest

MAX_QUERY_CHARS = 10_000
PROSE_WORDS = 12  # longer queries are prose: quotes and dashes are text (searchbox syntax fits well within)
# "-" excludes only before a letter, a quote or a field: "-2" or "-3%" is text (E2f-1, -2, -3), not a negation
_TOKEN = re.compile(r'(-(?=[^\W\d]|")|)(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
_FIELDS = {"author": "author", "au": "author", "title": "title", "ti": "title", "cat": "cat", "category": "cat"}
_DATE_FIELDS = {"since", "until", "date", "year"}
_DATE_SHAPED = re.compile(r"[\d\-]*(?:\.\.[\d\-]*)?")  # digits and dashes (and a ..): meant as a date


@dataclass
class ParsedQuery:
    """A query taken apart: what ranks, what must match, what must not, and the date window."""

    words: list[str] = field(default_factory=list)  # free text, ranked by BM25
    phrases: list[str] = field(default_factory=list)  # must occur, in order
    excluded: list[str] = field(default_factory=list)  # words or phrases that must not occur
    authors: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    parts: list[str] = field(default_factory=list)  # words, phrases and title words in the order typed
    prose: bool = False  # more than PROSE_WORDS words: its quotes and dashes were read as punctuation
    unquoted: bool = False  # prose that had quotes or dashes (which were read so)

    @property
    def text(self) -> str:
        """The query's meaning as plain text, in the order typed: what semantic search embeds."""
        return " ".join(self.parts).strip()

    @property
    def has_constraints(self) -> bool:
        """Whether anything beyond ranking words narrows the result set."""
        return bool(
            self.phrases or self.excluded or self.authors or self.title or self.categories or self.since or self.until
        )

    @property
    def is_empty(self) -> bool:
        return not (self.words or self.has_constraints)

    def phrases_as_words(self) -> ParsedQuery:
        """The same query with its quoted phrases loosened to plain words (what to try when none matches)."""
        return replace(self, words=[*self.words, *self.phrases], phrases=[])


PROSE_NOTICE = (
    f"Read as plain text: in a query of more than {PROSE_WORDS} words, quotes and dashes are "
    "punctuation (use a shorter query for an exact phrase or to leave a word out)"
)


def parse_query(q: str) -> ParsedQuery:
    """Parse the search box's text. Raises BadRequest only for an over-long query or an unreadable date."""
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"q must be at most {MAX_QUERY_CHARS:,} characters (got {len(q):,})")
    parsed = ParsedQuery(prose=len(q.split()) > PROSE_WORDS)
    for match in _TOKEN.finditer(q):
        negate, name, quoted, bare = match.group(1), match.group(2), match.group(3), match.group(4)
        value = (quoted if quoted is not None else bare or "").strip()
        key = name.lower() if name else None
        if parsed.prose and (negate or quoted is not None):  # punctuation in a sentence, not syntax
            negate, quoted, parsed.unquoted = "", None, True
        if key in _DATE_FIELDS and not _DATE_SHAPED.fullmatch(value):
            key = None  # year:1970s, since:yesterday in a sentence: words
        if key in _DATE_FIELDS and not negate:
            _apply_date(parsed, key, value)
        elif key in _FIELDS and value:
            target = {"author": parsed.authors, "title": parsed.title, "cat": parsed.categories}[_FIELDS[key]]
            (parsed.excluded if negate else target).append(value.lower() if _FIELDS[key] == "cat" else value)
            if _FIELDS[key] == "title" and not negate:
                parsed.parts.append(value)
        else:
            text = f"{name} {value}" if name else value
            if not text.strip():
                continue
            if negate:
                parsed.excluded.append(text)
            else:
                (parsed.phrases if quoted is not None else parsed.words).append(text)
                parsed.parts.append(text)
    if parsed.since and parsed.until and parsed.since > parsed.until:
        raise BadRequest(f"the date range is empty: since {parsed.since} is after until {parsed.until}")
    return parsed


def _apply_date(parsed: ParsedQuery, key: str, value: str) -> None:
    """Narrow the date window (several date filters intersect)."""
    low, high = (value.split("..", 1) if ".." in value else (value, value)) if key in ("date", "year") else ("", "")
    if key == "since":
        low = value
    elif key == "until":
        high = value
    if low:
        day = parse_date_bound(low, f"{key}:", end=False)
        parsed.since = max(parsed.since, day) if parsed.since else day
    if high:
        day = parse_date_bound(high, f"{key}:", end=True)
        parsed.until = min(parsed.until, day) if parsed.until else day


def parse_date_bound(value: str, name: str, *, end: bool) -> date:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as a day: the first day of the span, or its last when ``end``."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", value.strip())
    try:
        if match is None:
            raise ValueError
        year = int(match.group(1))
        month = int(match.group(2)) if match.group(2) else (12 if end else 1)
        last = calendar.monthrange(year, month)[1]
        day = int(match.group(3)) if match.group(3) else (last if end else 1)
        found = date(year, month, day)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2025, 2025-03 or 2025-03-14 (got {value!r})") from None
    # a year or a month counts by its first day, so that until:2026 is fine all through 2026
    daterange.check_day(found if match.group(3) else date(year, month if match.group(2) else 1, 1), name)
    return found
