"""The polite HTTP client against a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import Reply, Seen, Server
from paperfeed.errors import IngestError, SourceUnreachable
from paperfeed.ingest.fetch import PoliteClient, parse_retry_after


class Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(waits: Waits, **options: Any) -> PoliteClient:
    settings: dict[str, Any] = {
        "user_agent": "paperfeed-test/1.0 (mailto:admin@example.org)",
        "min_interval": 0.0,
    }
    settings.update(options)
    return PoliteClient(sleep=waits, **settings)


def script(server: Server, replies: list[Reply]) -> None:
    queue = list(replies)
    server.respond = lambda seen: queue.pop(0) if queue else Reply(500, b"script ran out")


def test_sends_user_agent_and_parameters(server: Server) -> None:
    script(server, [Reply(200, b"ok")])
    with client(Waits()) as c:
        assert c.get(server.url + "/api/query", {"search_query": "cat:cs.LG", "start": 0}) == b"ok"
    assert server.seen[0].headers["User-Agent"] == "paperfeed-test/1.0 (mailto:admin@example.org)"
    assert server.seen[0].query == {"search_query": "cat:cs.LG", "start": "0"}


def test_keeps_the_interval_between_requests(server: Server) -> None:
    script(server, [Reply(200, b"1"), Reply(200, b"2")])
    waits = Waits()
    now = [100.0]
    with client(waits, min_interval=3.0, clock=lambda: now[0]) as c:
        c.get(server.url)
        now[0] += 1.0
        c.get(server.url)
    assert waits.waits == [pytest.approx(2.0)]


def test_503_with_retry_after_is_waited_out(server: Server) -> None:
    script(server, [Reply(503, b"busy", {"Retry-After": "7"}), Reply(200, b"done")])
    waits = Waits()
    with client(waits) as c:
        assert c.get(server.url) == b"done"
    assert waits.waits == [7.0]
    assert len(server.seen) == 2


def test_429_and_5xx_back_off_exponentially(server: Server) -> None:
    script(server, [Reply(429), Reply(500), Reply(502), Reply(200, b"ok")])
    waits = Waits()
    with client(waits, backoff=1.5) as c:
        assert c.get(server.url) == b"ok"
    assert waits.waits == [1.5, 3.0, 6.0]


def test_gives_up_after_max_retries(server: Server) -> None:
    script(server, [Reply(503)] * 10)
    with client(Waits(), max_retries=2) as c, pytest.raises(IngestError, match="HTTP 503 after 3 tries"):
        c.get(server.url)
    assert len(server.seen) == 3


def test_retry_after_longer_than_allowed_is_a_clear_error(server: Server) -> None:
    script(server, [Reply(503, b"", {"Retry-After": "86400"})])
    with client(Waits(), max_retry_wait=600) as c, pytest.raises(IngestError, match="retry after 86400 s"):
        c.get(server.url)


def test_client_errors_are_not_retried(server: Server) -> None:
    script(server, [Reply(400, b"bad query")])
    with client(Waits()) as c, pytest.raises(IngestError, match="HTTP 400"):
        c.get(server.url)
    assert len(server.seen) == 1


def test_timeouts_are_retried(server: Server) -> None:
    replies = [Reply(200, b"slow", delay=1.0), Reply(200, b"fast")]
    server.respond = lambda seen: replies.pop(0)
    waits = Waits()
    with client(waits, timeout=0.2) as c:
        assert c.get(server.url) == b"fast"
    assert len(waits.waits) == 1


def test_a_refused_connection_fails_at_once_without_retrying(closed_port_url: str) -> None:
    """No network (refused, no route, no DNS): waiting inside the job would only hold up the worker's other
    jobs; the job fails now and the worker retries it later with backoff."""
    waits = Waits()
    with client(waits, max_retries=5) as c, pytest.raises(SourceUnreachable, match="cannot connect"):
        c.get(closed_port_url)
    assert waits.waits == []


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None


def test_seen_records_requests(server: Server) -> None:
    script(server, [Reply(200)])
    with client(Waits()) as c:
        c.get(server.url + "/x")
    assert isinstance(server.seen[0], Seen)
    assert server.seen[0].path == "/x"
