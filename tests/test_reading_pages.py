"""The reading interface in process: category chips and counts on the feed pages (and their API twin), the
paper page's onward links (also upvoted, collections, share, linkified abstracts) and their API twin, the
search page's counts, paging and suggestions, the help page, and what every page loads."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of
from paperfeed import accounts, reader_actions
from search_corpus import paper

BASE = "https://papers.example.org"
DAY = date(2025, 2, 3)
STATIC = Path(__file__).resolve().parents[1] / "src" / "paperfeed" / "web" / "static"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, backend: str) -> TestClient:
    app = corpus_app(tmp_path_factory.mktemp("reading"), backend, base_url=BASE, jobs_in_process=False,
                     page_cache_seconds=0)  # fmt: skip
    store = app_store(app)
    day = [paper(n, arxiv_id=f"2502.{n:05d}", feed_date=DAY, title=f"Surface study {n}") for n in range(26)]
    linked = paper(99, arxiv_id="2502.00099", feed_date=DAY, abstract=(
        "Code at https://github.com/acme/decoder. Not a link: javascript:alert(1). Also "
        'https://example.org/a"><script>alert(1)</script> and www.project.org/page.'))  # fmt: skip
    store.upsert_papers([*day, linked])
    for n in range(3):
        reader = accounts.sign_up(store, f"voter{n}", "a long enough password")
        for arxiv_id in ("2502.00000", "2502.00001", "2502.00002")[: n + 1]:
            reader_actions.vote(store, reader, arxiv_id, True)
        if n == 0:
            made = reader_actions.create_collection(store, reader, "Surface reading", True)
            reader_actions.set_in_collection(store, reader, "voter0", made.slug, "2502.00000", True)
            hidden = reader_actions.create_collection(store, reader, "Private pile", False)
            reader_actions.set_in_collection(store, reader, "voter0", hidden.slug, "2502.00000", True)
    return TestClient(app, base_url=BASE)


def test_category_chips_filter_the_day_and_agree_with_the_api(client: TestClient) -> None:
    page = client.get("/papers/date/2025-02-03")
    assert page.status_code == 200 and "1–27 of 27 papers" in page.text
    chips = dict(re.findall(r'category=([\w.-]+)">\1 <span class="n">(\d+)</span>', page.text))
    api = client.get("/api/feed", params={"date": "2025-02-03"}).json()
    assert chips == {c["name"]: str(c["count"]) for c in api["categories"]} and chips["cs.CV"] == "6"
    filtered = client.get("/papers/date/2025-02-03", params={"category": "cs.CV"}).text
    twin = client.get("/api/feed", params={"date": "2025-02-03", "category": "cs.CV"}).json()
    assert re.findall(r'<li class="paper" data-id="([^"]+)"', filtered) == [p["id"] for p in twin["papers"]]
    assert "1–6 of 6 papers in cs.CV" in filtered and twin["category"] == "cs.CV" and twin["total"] == 6
    assert 'aria-current="true">cs.CV' in filtered


@pytest.mark.parametrize("bad", ["cs.LG'><script>", "x" * 5000, "../etc/passwd", "cs LG", "CS.lg.extra"])
def test_a_bad_category_is_refused_by_name(client: TestClient, bad: str) -> None:
    page = client.get("/papers/date/2025-02-03", params={"category": bad})
    api = client.get("/api/feed", params={"category": bad})
    assert page.status_code == api.status_code == 400
    assert "category must be an arXiv category" in page.text and "<script>" not in page.text
    assert api.json()["error"]["message"].startswith("category must be")


def test_the_paper_page_leads_onward_and_agrees_with_its_api_twin(client: TestClient) -> None:
    assert client.get("/papers/2502.00000", headers={"host": "evil.example"}).status_code == 400
    page = client.get("/papers/2502.00000", headers={"x-forwarded-host": "evil.example"}).text
    also = re.search(r"Readers who upvoted this also upvoted</h2>(.*?)</section>", page, re.S)
    assert also is not None
    shown = re.findall(r'href="/papers/([^"]+)"', also[1])
    twin = client.get("/api/papers/2502.00000/related").json()
    assert shown == [item["paper"]["id"] for item in twin["alsoUpvoted"]] == ["2502.00001", "2502.00002"]
    assert [item["readers"] for item in twin["alsoUpvoted"]] == [2, 1]
    assert [c["name"] for c in twin["collections"]] == ["Surface reading"]  # the private one is not listed
    assert "Surface reading" in page and "Private pile" not in page
    assert f'value="{BASE}/papers/2502.00000"' in page and "evil.example" not in page  # never the Host header
    assert client.get("/api/papers/2502.99999/related").status_code == 404
    assert client.get("/api/papers/not-an-id/related").status_code == 400


def test_urls_in_an_abstract_become_safe_links(client: TestClient) -> None:
    page = client.get("/papers/2502.00099").text
    abstract = page[page.index('<p class="abstract math">') :].split("</p>", 1)[0]
    assert '<a href="https://github.com/acme/decoder" rel="nofollow noopener">' in abstract
    assert '<a href="https://www.project.org/page" rel="nofollow noopener">www.project.org/page</a>' in abstract
    assert "<script>" not in abstract and 'href="javascript' not in abstract
    assert '<a href="https://example.org/a' in abstract and '"><script>' not in abstract


def test_search_counts_pages_and_suggests(client: TestClient) -> None:
    first = client.get("/search", params={"q": "surface study", "mode": "keyword"}).text
    assert re.search(r"1–20 of \d+ results for “surface study”", first)
    assert first.count('type="search"') == 1  # one search box on the search page
    assert 'rel="next" href="/search?q=surface%20study&amp;mode=keyword' in first
    second = client.get("/search", params={"q": "surface study", "mode": "keyword", "page": "2"}).text
    assert re.search(r"21–\d+ of \d+ results", second) and 'rel="prev"' in second
    none = client.get("/search", params={"q": "zzqqxx", "mode": "keyword", "category": "cs.LG"}).text
    assert "No results for “zzqqxx”" in none and "drop the date and category filters" in none
    assert "search by words and meaning together" in none


def test_help_page_documents_the_shortcuts(client: TestClient) -> None:
    page = client.get("/help")
    assert page.status_code == 200 and "<kbd>j</kbd>" in page.text and "<kbd>/</kbd>" in page.text
    assert 'href="/help"' in client.get("/").text


@pytest.mark.parametrize("path", ["/", "/papers/2502.00000", "/search?q=surface", "/help", "/signup"])
def test_a_page_loads_under_100_kb_of_css_and_js(client: TestClient, path: str) -> None:
    html = client.get(path).text
    assets = re.findall(r'(?:href|src)="/static/([^"]+\.(?:css|js))"', html)
    assert assets and not any("katex" in a for a in assets)  # KaTeX is fetched only by pages with math
    assert sum((STATIC / a).stat().st_size for a in assets) < 100_000


@pytest.mark.parametrize(
    ("given", "lands"),
    [
        ("/papers/date/2025-02-03?category=cs.CV", "/papers/date/2025-02-03?category=cs.CV"),
        ("//evil.example/phish", "/papers/2502.00003#votes"),
        ("https://evil.example/", "/papers/2502.00003#votes"),
        ("/\\evil.example", "/papers/2502.00003#votes"),
        ("/" + "x" * 5000, "/papers/2502.00003#votes"),
    ],
)
def test_upvoting_from_a_card_goes_back_only_to_a_page_of_this_site(client: TestClient, given: str,
                                                                      lands: str) -> None:  # fmt: skip
    reader = TestClient(client.app, base_url=BASE)
    token = csrf_of(reader.get("/signup").text)
    name = f"carder{abs(hash(given)) % 10_000}"
    reader.post("/signup", data={"csrf_token": token, "name": name, "password": "a long enough password"})
    day = reader.get("/papers/date/2025-02-03", params={"category": "cs.CV"}).text
    assert 'action="/papers/2502.00003/upvote"' in day  # a signed-in reader's card has the button
    answer = reader.post("/papers/2502.00003/upvote", data={"csrf_token": csrf_of(day), "up": "1", "next": given},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == lands
