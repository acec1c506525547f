from datetime import date

import pytest

from paperfeed import feed
from paperfeed.errors import BadRequest, NotFound
from paperfeed.store import Store
from test_store import make


def test_periods() -> None:
    week = feed.week_period("2025-W01")
    assert (week.start, week.end) == (date(2024, 12, 30), date(2025, 1, 5))
    month = feed.month_period("2024-02")
    assert (month.start, month.end) == (date(2024, 2, 1), date(2024, 2, 29))
    december = feed.month_period("2024-12")
    assert december.end == date(2024, 12, 31)


@pytest.mark.parametrize("bad", ["2025-W00", "2025-W54", "2025W01", "", "2025-W1"])
def test_bad_weeks(bad: str) -> None:
    with pytest.raises(BadRequest, match="week must be"):
        feed.week_period(bad)


@pytest.mark.parametrize("bad", ["2025-00", "2025-13", "0000-01", "25-01", "2025-1"])
def test_bad_months(bad: str) -> None:
    with pytest.raises(BadRequest, match="month must be"):
        feed.month_period(bad)


def test_feed_navigation(store: Store) -> None:
    store.upsert_papers([make(n) for n in range(6)])
    week = feed.feed(store, feed.period_of(week="2024-W01"))
    assert (week.previous, week.next, week.total) == ("2023-W52", "2024-W02", 6)
    month = feed.feed(store, feed.period_of(month="2024-01"))
    assert (month.previous, month.next) == ("2023-12", "2024-02")
    latest = feed.feed(store)
    assert (latest.period.label, latest.previous, latest.next) == ("2024-01-03", "2024-01-02", None)


def test_feed_checks_inputs(store: Store) -> None:
    with pytest.raises(BadRequest, match="sort must be one of"):
        feed.parse_sort("random")
    with pytest.raises(BadRequest, match="page must be"):
        feed.feed(store, feed.period_of(day="2024-01-01"), page=0)
    with pytest.raises(NotFound, match="no papers yet"):
        feed.feed(store)
    with pytest.raises(NotFound):
        feed.paper(store, "2401.00001")
