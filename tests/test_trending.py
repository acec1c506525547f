"""Trending: votes with time decay, through the formula, the feed, and the HF-compatible API sort."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from paperfeed import feed
from paperfeed.recommend.trending import GRAVITY, OFFSET_HOURS, rank, trending_score
from paperfeed.store import Store
from paperfeed.store.base import VoteStats
from search_corpus import paper

NOW = datetime(2025, 1, 8, 12, tzinfo=UTC)


def test_score_rises_with_votes_and_decays_with_age() -> None:
    fresh = NOW - timedelta(hours=1)
    assert trending_score(10, 0, fresh, NOW) > trending_score(5, 0, fresh, NOW)
    assert trending_score(5, 4, fresh, NOW) > trending_score(5, 0, fresh, NOW)  # comments count, less than votes
    assert trending_score(5, 0, fresh, NOW) < trending_score(6, 0, fresh, NOW)
    day_old, week_old = NOW - timedelta(days=1), NOW - timedelta(days=7)
    assert trending_score(10, 0, day_old, NOW) > trending_score(10, 0, week_old, NOW)
    expected = 10 / (24 + OFFSET_HOURS) ** GRAVITY
    assert abs(trending_score(10, 0, day_old, NOW) - expected) < 1e-12


def test_a_fresh_paper_with_few_votes_passes_an_old_one_with_many() -> None:
    old = VoteStats(1, 40, 0, NOW - timedelta(days=6), None)
    fresh = VoteStats(2, 8, 0, NOW - timedelta(hours=3), None)
    middle = VoteStats(3, 0, 0, None, date(2025, 1, 8))
    assert rank([old, fresh, middle], NOW) == [2, 1, 3]
    assert rank([old, fresh], NOW + timedelta(days=60)) == [1, 2]  # long after: only the votes tell them apart


def test_feed_sorted_by_trending(store: Store) -> None:
    week = [paper(n, feed_date=date(2025, 1, 6 + n)) for n in range(3)]  # Mon, Tue, Wed of 2025-W02
    week[0] = paper(0, feed_date=date(2025, 1, 6), upvotes=30)
    week[2] = paper(2, feed_date=date(2025, 1, 8), upvotes=6)
    store.upsert_papers(week)
    result = feed.feed(store, feed.period_of(week="2025-W02"), sort="trending", now=NOW)
    assert [p.arxiv_id for p in result.papers] == ["2501.00002", "2501.00000", "2501.00001"]
    later = feed.feed(store, feed.period_of(week="2025-W02"), sort="trending", now=NOW + timedelta(days=30))
    assert [p.arxiv_id for p in later.papers] == ["2501.00000", "2501.00002", "2501.00001"]
    assert result.total == 3
    paged = feed.feed(store, feed.period_of(week="2025-W02"), sort="trending", now=NOW, limit=1, page=2)
    assert [p.arxiv_id for p in paged.papers] == ["2501.00000"]
