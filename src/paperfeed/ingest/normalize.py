"""Turning what sources say into clean Paper fields: ids, categories, text, dates, announcement days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")
_ID_PREFIXES = (
    "https://arxiv.org/abs/",
    "http://arxiv.org/abs/",
    "https://arxiv.org/pdf/",
    "http://arxiv.org/pdf/",
    "oai:arXiv.org:",
    "arXiv:",
    "arxiv:",
)
# arXiv category names: "cs.LG", "math.AP", "hep-th", "astro-ph.CO". MSC ("68T45") and ACM ("I.2.10")
# classes that some feeds mix into the category list are not categories and are dropped.
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?$")
_EASTERN = ZoneInfo("America/New_York")
_CUTOFF = time(14, 0)  # arXiv's daily submission deadline, US Eastern time


class InvalidRecord(ValueError):
    """One record cannot be used; the message says why. The import skips it and goes on."""


@dataclass(frozen=True, slots=True)
class ArxivId:
    id: str
    version: int | None


def parse_arxiv_id(raw: object) -> ArxivId:
    """Split an arXiv identifier (bare, URL, ``oai:`` or ``arXiv:`` prefixed, ``.pdf``) into id and version."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRecord("missing arXiv id")
    text = raw.strip()
    for prefix in _ID_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.removesuffix(".pdf")
    match = _NEW_ID.match(text) or _OLD_ID.match(text)
    if not match:
        raise InvalidRecord(f"not an arXiv id: {raw[:80]!r}")
    return ArxivId(match.group(1), int(match.group(2)) if match.group(2) else None)


# C0 control characters (and DEL): tab, line ends and the separators become spaces, the rest go. None of them
# belongs in a title or an abstract, NUL is refused by PostgreSQL, and some would garble a terminal or a mail.
_CONTROLS = {code: (" " if chr(code) in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" else None) for code in [*range(32), 127]}


# The controls _CONTROLS deletes (the rest are whitespace to str.split). An ASCII text, nearly every record,
# drops them as bytes: 13.8 us instead of 20.3 for a real abstract, translate, split and join together.
_DROPPED = bytes(code for code, to in _CONTROLS.items() if to is None)


def clean_text(value: object) -> str:
    """Drop control characters and collapse runs of whitespace (sources wrap titles and abstracts at fixed
    widths)."""
    if not isinstance(value, str):
        return ""
    if value.isascii():
        return " ".join(value.encode("ascii").translate(None, _DROPPED).decode("ascii").split())
    return " ".join(value.translate(_CONTROLS).split())


def optional_text(value: object) -> str | None:
    text = clean_text(value)
    return text or None


def required_text(record: dict[str, object], key: str) -> str:
    text = clean_text(record.get(key))
    if not text:
        raise InvalidRecord(f"missing {key}")
    return text


def clean_categories(values: object) -> tuple[str, ...]:
    """Valid arXiv categories in their given order (primary first), without duplicates."""
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, list | tuple):
        return ()
    out = [v.strip() for v in values if isinstance(v, str) and _CATEGORY.match(v.strip())]
    return tuple(dict.fromkeys(out))


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 (``2024-01-02T03:04:05Z``), RFC 2822 (``Mon, 2 Apr 2007 19:18:42 GMT``) or a bare date,
    as an aware UTC datetime; None for empty input. Raises InvalidRecord for text that is no date."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"not a date: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidRecord(f"not a date: {text[:40]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: object) -> date | None:
    moment = parse_datetime(value)
    return moment.date() if moment else None


def announcement_date(submitted: datetime | date) -> date:
    """The (US Eastern) day arXiv announces a paper submitted at ``submitted``.

    arXiv mails new submissions at 20:00 Eastern, Sunday to Thursday. Each mailing takes what arrived before a
    weekday's 14:00 deadline: Monday's to Thursday's deadlines are announced the same evening, Friday's on
    Sunday. A bare date (no time known) counts as before that day's deadline. Holidays are not modelled.
    """
    if isinstance(submitted, datetime):
        local = submitted.astimezone(_EASTERN)
        day = local.date() + timedelta(days=1 if local.time() >= _CUTOFF else 0)
    else:
        day = submitted
    while day.weekday() >= 5:  # no deadline on Saturday or Sunday: the next one is Monday's
        day += timedelta(days=1)
    return day + timedelta(days=2) if day.weekday() == 4 else day
