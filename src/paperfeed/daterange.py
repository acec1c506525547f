"""The days paperfeed knows about: from arXiv's first year to two days past today (UTC). Dates outside are
refused where they come in: as a page's or a feed's day, week or month, a search's since / until, or an
imported record's dates. One range, so that a page never links to a day the API would refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from paperfeed.errors import BadRequest

EARLIEST = date(1991, 1, 1)  # arXiv began in August 1991
LEEWAY = timedelta(days=2)  # announcement days run up to two days ahead of UTC's today (weekends, time zones)


def latest(today: date | None = None) -> date:
    return (today or datetime.now(UTC).date()) + LEEWAY


def in_range(day: date, today: date | None = None) -> bool:
    return EARLIEST <= day <= latest(today)


def check_day(day: date, name: str, today: date | None = None) -> date:
    """``day`` itself, or BadRequest naming the parameter when it is outside the range."""
    if not in_range(day, today):
        raise BadRequest(f"{name} must be between {EARLIEST.isoformat()} and {latest(today).isoformat()}")
    return day
