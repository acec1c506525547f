"""Pages and JSON API, in process (FastAPI's TestClient over a real SQLite store and real indexes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import new_database_url
from paperfeed.config import load_settings
from paperfeed.http_edge import site
from paperfeed.search.embed_job import embed_papers
from paperfeed.web.app import create_app
from search_corpus import corpus, paper

SECRET = "test-secret-key-" + "x" * 32


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, backend: str) -> TestClient:
    folder = tmp_path_factory.mktemp("web")
    settings = load_settings(
        base_url="http://testserver", database_url=new_database_url(backend, folder), data_dir=folder, secret_key=SECRET
    )
    app = create_app(settings)
    store = site(app).services.store
    store.migrate()
    hostile = paper(10, title="<script>alert('title')</script> & $\\alpha$", abstract="<img src=x onerror=alert(1)>")
    store.upsert_papers([*corpus(), hostile])
    embed_papers(store, site(app).services.engine.embedder)
    return TestClient(app)


def page_ids(html: str) -> list[str]:
    return re.findall(r'data-id="([^"]+)"', html)


@pytest.mark.parametrize(
    ("page", "api"),
    [
        ("/", "/api/feed"),
        ("/papers/date/2025-01-03", "/api/feed?date=2025-01-03"),
        ("/papers/week/2025-W01?sort=newest", "/api/feed?week=2025-W01&sort=newest"),
        ("/papers/month/2025-01?sort=oldest", "/api/feed?month=2025-01&sort=oldest&limit=30"),
    ],
)
def test_feed_pages_and_their_api_twins_agree(client: TestClient, page: str, api: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    data = client.get(api).json()
    assert page_ids(html.text) == [p["id"] for p in data["papers"]]
    assert data["papers"]


def test_week_page_navigation(client: TestClient) -> None:
    html = client.get("/papers/week/2025-W01").text
    assert 'href="/papers/week/2024-W52"' in html
    assert 'href="/papers/week/2025-W02"' in html
    assert len(page_ids(html)) == 5  # 2025-01-01 .. 2025-01-05


def test_date_picker_works_without_javascript(client: TestClient) -> None:
    response = client.get("/papers/date", params={"day": "2025-01-03"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/papers/date/2025-01-03"
    assert client.get("/papers/date", params={"day": "soon"}).status_code == 400


def test_search_page_and_api_twin(client: TestClient) -> None:
    html = client.get("/search", params={"q": "surface codes", "mode": "keyword"})
    assert html.status_code == 200
    assert "<mark>Surface</mark>" in html.text
    data = client.get("/api/search", params={"q": "surface codes", "mode": "keyword"}).json()
    assert page_ids(html.text) == [r["id"] for r in data["results"]]
    assert data["results"][0]["id"] == "2501.00006"
    assert client.get("/search").status_code == 200  # the empty form


def test_paper_page(client: TestClient) -> None:
    html = client.get("/papers/2501.00002v1").text
    assert "Diffusion Models for High-Resolution Image Synthesis" in html
    assert 'href="https://arxiv.org/abs/2501.00002v1"' in html
    assert 'href="https://arxiv.org/pdf/2501.00002v1"' in html
    assert "Similar papers" in html
    assert "/papers/2501.00003" in html  # the other diffusion paper


def test_user_text_renders_inert(client: TestClient) -> None:
    html = client.get("/papers/2501.00010").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    found = client.get("/search", params={"q": "alert", "mode": "keyword"}).text
    assert "<script>alert" not in found


def test_hugging_face_compatible_routes(client: TestClient) -> None:
    items = client.get("/api/daily_papers", params={"date": "2025-01-03"}).json()
    assert [item["paper"]["id"] for item in items] == ["2501.00002"]
    item = items[0]
    assert set(item) >= {"paper", "publishedAt", "title", "summary", "numComments", "submittedBy", "thumbnail"}
    assert item["paper"]["authors"][0] == {"_id": "2501.00002:0", "name": "Yann LeCun", "hidden": False}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["publishedAt"])
    one = client.get("/api/papers/2501.00002").json()
    assert (one["id"], one["upvotes"], one["numComments"]) == ("2501.00002", 0, 0)
    found = client.get("/api/papers/search", params={"q": "quantum error correction"}).json()
    assert found[0]["id"] == "2501.00006"
    similar = client.get("/api/papers/2501.00002/similar").json()
    assert similar["results"][0]["id"] == "2501.00003"


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/daily_papers?date=2026-13-45", 400, "date must be a date"),
        ("/api/daily_papers?limit=0", 400, "limit must be between 1 and 100"),
        ("/api/daily_papers?limit=10000", 400, "limit must be between 1 and 100"),
        ("/api/daily_papers?limit=ten", 400, "limit must be an integer"),
        ("/api/daily_papers?p=-1", 400, "p must be between"),
        ("/api/daily_papers?sort=random", 400, "sort must be publishedAt or trending"),
        ("/api/papers/search?q=" + "x" * 300, 400, "q must be at most 250 characters"),
        ("/api/papers/search?q=x&limit=121", 400, "limit must be between 1 and 120"),
        ("/api/papers/2501.99999", 404, "paper 2501.99999 is not in this instance"),
        ("/api/papers/not-an-id", 400, "id must be an arXiv id"),
        ("/api/search?q=", 400, "q is empty"),
        ("/api/search?q=x&mode=magic", 400, "mode must be one of"),
        ("/api/nothing-here", 404, "no such page"),
    ],
)
def test_api_errors_have_one_shape(client: TestClient, url: str, status: int, message: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert message in error["message"]


@pytest.mark.parametrize(
    ("url", "status"),
    [("/papers/date/2026-13-45", 400), ("/papers/week/2025-W99", 400), ("/papers/2501.99999", 404), ("/nope", 404)],
)
def test_page_errors_are_html(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the latest papers" in response.text


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/daily_papers" in spec["paths"]
    assert client.get("/static/paperfeed.css").status_code == 200


def test_settings_and_app_are_built_only_by_the_factory(tmp_path: Path) -> None:
    import paperfeed.web.app as module

    assert not hasattr(module, "app")  # nothing created at import time
    app = create_app(
        load_settings(
            base_url="http://testserver",
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            data_dir=tmp_path,
            secret_key=SECRET,
        )
    )
    site(app).services.store.migrate()
    response = TestClient(app).get("/")
    assert response.status_code == 404  # no papers yet: a clear page, not a 500
    assert "paperfeed update" in response.text


@pytest.mark.parametrize("url", ["/feeds/daily.rss", "/feeds/weekly.atom", "/feeds/weekly.rss?category=cs.CL",
                                 "/feeds/search.atom?q=diffusion&mode=keyword"])  # fmt: skip
def test_feeds_parse_back(client: TestClient, url: str) -> None:
    import feedparser

    response = client.get(url)
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version in ("rss20", "atom10")
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.link.startswith("http://testserver/papers/")
    if "category=cs.CL" in url:  # 2025-W02: papers 5 to 10; 5 and 8 are cs.CL
        assert {e.link.rsplit("/", 1)[1] for e in parsed.entries} == {"2501.00005", "2501.00008"}
    if "search" in url:
        assert [e.link.rsplit("/", 1)[1] for e in parsed.entries] == ["2501.00003", "2501.00002"]


def test_hostile_titles_stay_text_in_feeds(client: TestClient) -> None:
    import feedparser

    parsed = feedparser.parse(client.get("/feeds/weekly.rss").content)
    hostile = [e for e in parsed.entries if e.link.endswith("2501.00010")]
    assert hostile
    assert hostile[0].title.startswith("<script>alert('title')</script>")  # text, escaped in the XML


def test_bibtex(client: TestClient) -> None:
    response = client.get("/papers/2501.00002/bibtex")
    assert response.status_code == 200
    text = response.text
    assert text.startswith("@misc{lecun2025diffusion,")
    assert "  title = {{Diffusion Models for High-Resolution Image Synthesis}}," in text
    assert "  eprint = {2501.00002}," in text
    assert text.count("{") == text.count("}")
    assert client.get("/papers/2501.99999/bibtex").status_code == 404
