"""Fetching from arXiv (Atom API, OAI-PMH) into the store, against generated responses over real HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from conftest import Reply, Seen, Server
from feeds import BILLION_LAUGHS, EXTERNAL_ENTITY, atom_entry, atom_page, oai_error, oai_page, oai_record
from paperfeed.errors import BadRequest, IngestError
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.ingest.pipeline import ArxivFetch, fetch_arxiv, harvest_oai
from paperfeed.store import Store

SPAN = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")


def polite() -> PoliteClient:
    return PoliteClient(user_agent="paperfeed-test", min_interval=0.0, max_retries=2, sleep=lambda s: None)


class FakeArxiv:
    """Answers API queries from a fixed corpus: filters by the submittedDate window, pages by start."""

    def __init__(self, count: int, start: datetime) -> None:
        self.papers = [(n, start + timedelta(hours=n)) for n in range(1, count + 1)]
        self.fail_after: int | None = None
        self.empty_once: set[int] = set()
        self.requests: list[Seen] = []

    def __call__(self, seen: Seen) -> Reply:
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            return Reply(400, b"gone")
        low, high = (
            datetime.strptime(x, "%Y%m%d%H%M").replace(tzinfo=UTC) for x in SPAN.findall(seen.query["search_query"])[0]
        )
        hits = [(n, t) for n, t in self.papers if low <= t <= high + timedelta(seconds=59)]
        start, size = int(seen.query["start"]), int(seen.query["max_results"])
        if start in self.empty_once:
            self.empty_once.discard(start)
            return Reply(200, atom_page([], total=len(hits), start=start))
        page = [atom_entry(n, published=t) for n, t in hits[start : start + size]]
        return Reply(200, atom_page(page, total=len(hits), start=start))


def fake(server: Server, count: int) -> FakeArxiv:
    arxiv = FakeArxiv(count, datetime(2024, 3, 1, tzinfo=UTC))
    arxiv.requests = server.seen
    server.respond = arxiv
    return arxiv


def plan(server: Server, **options: Any) -> ArxivFetch:
    settings: dict[str, Any] = {
        "api_url": server.url + "/api/query",
        "categories": ["cs.LG", "stat.ML"],
        "since": date(2024, 3, 1),
        "until": date(2024, 3, 10),
    }
    settings.update(options)
    return ArxivFetch(**settings)


def test_fetch_pages_through_results(server: Server, store: Store) -> None:
    fake(server, 95)
    report = fetch_arxiv(store, polite(), plan(server, page_size=20, chunk_days=30))
    assert (report.inserted, report.complete) == (95, True)
    assert store.stats().papers == 95
    query = server.seen[0].query
    assert query["search_query"] == "(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202403010000 TO 202403102359]"
    assert (query["sortBy"], query["sortOrder"], query["max_results"]) == ("submittedDate", "ascending", "20")
    assert [s.query["start"] for s in server.seen] == ["0", "20", "40", "60", "80"]


def test_long_windows_are_split_below_the_per_query_cap(server: Server, store: Store) -> None:
    fake(server, 200)
    report = fetch_arxiv(store, polite(), plan(server, page_size=25, max_per_query=60, chunk_days=30))
    assert report.inserted == 200
    windows = {SPAN.findall(s.query["search_query"])[0] for s in server.seen}
    assert len(windows) > 4
    served = [s for s in server.seen if int(s.query["start"]) > 0]
    assert all(int(s.query["start"]) < 60 for s in served)


def test_an_empty_page_is_asked_again(server: Server, store: Store) -> None:
    arxiv = fake(server, 30)
    arxiv.empty_once = {10}
    report = fetch_arxiv(store, polite(), plan(server, page_size=10, chunk_days=30))
    assert report.inserted == 30
    assert [s.query["start"] for s in server.seen] == ["0", "10", "10", "20"]


def test_fetch_resumes_after_a_failure(server: Server, store: Store) -> None:
    arxiv = fake(server, 50)
    arxiv.fail_after = 2
    with pytest.raises(IngestError, match="HTTP 400"):
        fetch_arxiv(store, polite(), plan(server, page_size=10, chunk_days=30))
    assert store.stats().papers == 20
    arxiv.fail_after = None
    server.seen.clear()
    report = fetch_arxiv(store, polite(), plan(server, page_size=10, chunk_days=30))
    assert report.resumed_from == 20
    assert server.seen[0].query["start"] == "20"
    assert (report.inserted, store.stats().papers) == (30, 50)


def test_bad_fetch_arguments(server: Server, store: Store) -> None:
    with pytest.raises(BadRequest, match="not an arXiv category"):
        fetch_arxiv(store, polite(), plan(server, categories=["cs.LG) OR (all:x"]))
    with pytest.raises(BadRequest, match="before --since"):
        fetch_arxiv(store, polite(), plan(server, since=date(2024, 3, 10), until=date(2024, 3, 1)))


class FakeOai:
    """Three pages joined by resumption tokens; 'expire' makes a token fail once."""

    def __init__(self) -> None:
        self.pages = {
            None: oai_page([oai_record(1), oai_record(2)], token="t1", size=5, response_date="2024-03-07T10:00:00Z"),
            "t1": oai_page([oai_record(3), oai_record(4, deleted=True)], token="t2", size=5),
            "t2": oai_page([oai_record(5)], token="", size=5),
        }
        self.break_at: str | None = None
        self.expired: set[str] = set()
        self.always_expire = False

    def __call__(self, seen: Seen) -> Reply:
        token = seen.query.get("resumptionToken")
        if token is not None and token == self.break_at:
            return Reply(400, b"outage")
        if token in self.expired:
            if not self.always_expire:
                self.expired.discard(token)
            return Reply(200, oai_error("badResumptionToken", "expired"))
        return Reply(200, self.pages[token])


def test_oai_harvest_follows_tokens_and_remembers_the_date(server: Server, store: Store) -> None:
    server.respond = FakeOai()
    report = harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert (report.inserted, report.deleted, report.complete) == (4, 1, True)
    first = server.seen[0].query
    assert first == {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2024-03-01"}
    assert server.seen[1].query == {"verb": "ListRecords", "resumptionToken": "t1"}
    assert store.get_state("oai:cs") == {"response_date": "2024-03-07T10:00:00Z"}
    server.seen.clear()
    again = harvest_oai(store, polite(), url=server.url, set_spec="cs")  # incremental: from the last date
    assert server.seen[0].query["from"] == "2024-03-07"
    assert again.unchanged == 4


def test_oai_first_harvest_needs_from(server: Server, store: Store) -> None:
    with pytest.raises(BadRequest, match="--from is required"):
        harvest_oai(store, polite(), url=server.url, set_spec="math")


def test_oai_no_records_match(server: Server, store: Store) -> None:
    server.respond = lambda seen: Reply(200, oai_error("noRecordsMatch"))
    report = harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert (report.records, report.complete) == (0, True)


def test_oai_resumes_with_the_saved_token(server: Server, store: Store) -> None:
    fake_oai = FakeOai()
    fake_oai.break_at = "t2"
    server.respond = fake_oai
    with pytest.raises(IngestError):
        harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert store.stats().papers == 3
    fake_oai.break_at = None
    server.seen.clear()
    report = harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert server.seen[0].query == {"verb": "ListRecords", "resumptionToken": "t2"}
    assert (report.inserted, store.stats().papers) == (1, 4)


def test_oai_expired_token_restarts_the_harvest(server: Server, store: Store) -> None:
    fake_oai = FakeOai()
    fake_oai.break_at = "t2"
    server.respond = fake_oai
    with pytest.raises(IngestError):
        harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    fake_oai.break_at = None
    fake_oai.expired = {"t2"}
    report = harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert "expired" in report.notes[0]
    assert store.stats().papers == 4


def test_oai_token_that_keeps_expiring_is_an_error_not_a_loop(server: Server, store: Store) -> None:
    fake_oai = FakeOai()
    fake_oai.expired, fake_oai.always_expire = {"t1"}, True
    server.respond = fake_oai
    store.set_state("oai-run:cs", {"from": "2024-03-01", "token": "t1", "response_date": None, "position": 2})
    with pytest.raises(IngestError, match="badResumptionToken"):
        harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>cut", "malformed XML"),
        (BILLION_LAUGHS, "hostile XML"),
        (EXTERNAL_ENTITY, "hostile XML"),
        (b"<html>Rate exceeded.</html>", "not an Atom feed"),
    ],
)
def test_bad_responses_stop_the_fetch_and_write_nothing(
    server: Server, store: Store, body: bytes, message: str
) -> None:
    server.respond = lambda seen: Reply(200, body)
    with pytest.raises(IngestError, match=message):
        fetch_arxiv(store, polite(), plan(server))
    assert store.stats().papers == 0


def test_bad_oai_response_stops_the_harvest(server: Server, store: Store) -> None:
    server.respond = lambda seen: Reply(200, BILLION_LAUGHS)
    with pytest.raises(IngestError, match="hostile XML"):
        harvest_oai(store, polite(), url=server.url, set_spec="cs", from_date=date(2024, 3, 1))
    assert store.stats().papers == 0


@pytest.mark.parametrize("categories", [["*"], []])
def test_every_category_is_one_date_range_query(server: Server, store: Store, categories: list[str]) -> None:
    fake(server, 30)
    report = fetch_arxiv(store, polite(), plan(server, categories=categories, page_size=10, chunk_days=30))
    assert report.inserted == 30
    queries = {s.query["search_query"] for s in server.seen}
    assert all(SPAN.fullmatch(q) for q in queries), queries  # the date range alone: no "cat:" clause


def test_the_categories_setting_says_every_category_with_a_star() -> None:
    from paperfeed.config import load_settings

    assert load_settings(categories="*").categories == ["*"]
    assert load_settings(categories="").categories == []
    assert load_settings(categories="cs.LG, math.AG").categories == ["cs.LG", "math.AG"]
