"""Every route, driven with hostile path and query values (hypothesis): never a 5xx. Dates of years 1 and 9999,
huge numbers, control characters, overlong text and the like must all be answered with a 4xx (or a 2xx)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import corpus_app
from paperfeed.config import load_settings
from paperfeed.http_edge import site
from paperfeed.web.app import create_app

EDGES = [
    "", "0", "-1", "1", "99999999999999999999999", "1e309", "NaN", "0001-01-01", "9999-12-31", "0001-W01",
    "9999-W52", "9999-W53", "2025-W00", "0000-01", "9999-12", "0001-01", "2025-02-30", "2025-13", "2501.00001",
    "2501.00001v99999999999", "hep-th/9901001", "cs.LG", "../../etc/passwd", "%00", "\x00", "\u202e", "a" * 5000,
    "since:0001 until:9999", '"unclosed', "cat:", "-", "*", "'; DROP TABLE papers; --", "<script>", "日本語",
    "true", "publishedAt", "trending", "semantic", "keyword", "rss", "atom", "daily", "weekly", "week", "all",
]  # fmt: skip
values = st.sampled_from(EDGES) | st.text(max_size=40) | st.integers().map(str)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[FastAPI]:
    made = corpus_app(
        tmp_path_factory.mktemp("fuzz"), backend, writes_per_minute=100_000, login_attempts_per_minute=100_000,
        signups_per_hour=100_000, page_cache_seconds=0,
    )  # fmt: skip
    yield made
    site(made).services.store.close()


def routes(app: FastAPI) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path template, path parameters, query parameters) of every route in the app's OpenAPI
    description (pages included), plus the few kept out of it."""
    found: list[tuple[str, str, list[str], list[str]]] = [("GET", "/healthz", [], []), ("GET", "/api/docs", [], [])]
    for template, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            path = [p["name"] for p in params if p["in"] == "path"]
            query = [p["name"] for p in params if p["in"] == "query"]
            found.append((method.upper(), template, path, query))
    return found


def _routes_of_a_new_app() -> list[tuple[str, str, list[str], list[str]]]:
    app = create_app(load_settings(secret_key="list-routes-" + "r" * 40, database_url="sqlite:///:memory:"))
    return routes(app)


ROUTES = _routes_of_a_new_app()
# where dates, weeks and months go: these get calendar edge cases most of the time
DATED = {"date", "day", "week", "month", "since", "until", "q"}
calendar_edges = (
    st.sampled_from([e for e in EDGES if e[:1].isdigit()])
    | st.builds("{:04d}-W{:02d}".format, st.integers(0, 9999), st.integers(0, 54))
    | st.builds("{:04d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13))
    | st.dates().map(str)
)


def test_every_route_is_fuzzed() -> None:
    assert len(ROUTES) >= 50  # the pages, the API, the feeds: nothing is left out by accident


@pytest.mark.parametrize(("method", "template", "path_names", "query_names"), ROUTES, ids=lambda v: str(v))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_route_answers_5xx_to_any_path_or_query(
    app: FastAPI, method: str, template: str, path_names: list[str], query_names: list[str], data: st.DataObject
) -> None:
    client = TestClient(app, raise_server_exceptions=False)

    def value(name: str) -> str:
        return data.draw(calendar_edges | calendar_edges | values if name in DATED else values, label=name)

    path = template
    for name in path_names:
        path = path.replace("{" + name + "}", quote(value(name), safe="") or "x")
    chosen = data.draw(st.lists(st.sampled_from(query_names), unique=True), label="query") if query_names else []
    response = client.request(method, path, params={name: value(name) for name in chosen})
    assert response.status_code < 500, (method, path, chosen, response.text[:300])
