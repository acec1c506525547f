"""Trending: community votes with time decay (the formula and its parameters: docs/trending.md).

    score = (upvotes + COMMENT_WEIGHT * comments) / (age_hours + OFFSET_HOURS) ** GRAVITY

``age_hours`` runs from when the paper entered the daily feed (submitted on the daily list, else its feed
date at 00:00 UTC) to ``now``. A paper's score falls as it ages, so a fresh paper with a few votes can pass an
older one with more; ties (all zero) fall back to the most upvoted, then the newest day, then the latest
submitted within the day (a period nobody has voted on yet reads newest first, as arXiv's own listing does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time

from paperfeed.store.base import VoteStats

GRAVITY = 1.5  # how fast scores decay: doubling the age divides the score by about 2.8
OFFSET_HOURS = 2.0  # keeps a brand-new paper's score finite and damps the first hours
COMMENT_WEIGHT = 0.5  # a comment counts half a vote: discussion is a signal, but cheaper than agreement


def posted_at(stats: VoteStats) -> datetime | None:
    if stats.submitted_at is not None:
        return stats.submitted_at if stats.submitted_at.tzinfo else stats.submitted_at.replace(tzinfo=UTC)
    if stats.feed_date is not None:
        return datetime.combine(stats.feed_date, time(), UTC)
    return None


def trending_score(upvotes: int, comments: int, posted: datetime | None, now: datetime) -> float:
    """The score above; a paper with no date counts as a day old."""
    age = 24.0 if posted is None else max(0.0, (now - posted).total_seconds() / 3600)
    return float((upvotes + COMMENT_WEIGHT * comments) / (age + OFFSET_HOURS) ** GRAVITY)


def unvoted(papers: Iterable[VoteStats]) -> bool:
    """Whether nobody has voted on or discussed any of ``papers`` (here or at an imported source)."""
    return all(s.upvotes == 0 and s.comments == 0 for s in papers)


def rank(papers: Iterable[VoteStats], now: datetime) -> list[int]:
    """Paper keys, trending first."""

    def order(s: VoteStats) -> tuple[float, int, int, float, int]:
        day = s.feed_date.toordinal() if s.feed_date else 0
        posted = posted_at(s)
        within = posted.timestamp() if posted is not None else 0.0
        return (-trending_score(s.upvotes, s.comments, posted, now), -s.upvotes, -day, -within, -s.key)

    return [s.key for s in sorted(papers, key=order)]
