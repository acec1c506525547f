"""End to end in real headless Chromium (Debian's package, driven by Playwright with executablePath; no browser
download): sign up, search, open a paper, upvote it, comment, see it move in trending, find the subscribe form.
The server is uvicorn on 127.0.0.1 over a real SQLite store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conftest import served
from paperfeed.config import load_settings
from paperfeed.http_edge import site as site_of_app
from paperfeed.web.app import create_app
from search_corpus import corpus, paper

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)")

LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LATEST = date(2025, 3, 3)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    settings = load_settings(
        database_url=f"sqlite:///{folder / 'site.db'}", data_dir=folder, secret_key="browser-test-" + "z" * 40
    )
    app = create_app(settings)
    site_of_app(app).services.store.migrate()
    today = [
        paper(60, arxiv_id="2503.00001", title="Sparse $\\alpha$-Entmax Attention", feed_date=LATEST, upvotes=3),
        paper(61, arxiv_id="2503.00002", title="Robust Graph Matching", feed_date=LATEST, upvotes=1),
        paper(62, arxiv_id="2503.00003", title="Quiet Paper About Surface Codes", feed_date=LATEST),
    ]
    site_of_app(app).services.store.upsert_papers([*corpus(), *today])
    with served(app) as url:
        yield url


def test_reader_journey_in_chromium(site: str, tmp_path: Path) -> None:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(site + "/")
        before = page.locator("li.paper").evaluate_all("els => els.map(e => e.dataset.id)")
        assert before[-1] == "2503.00003"
        assert page.locator("footer input[name=email]").is_visible()  # the digest subscribe form

        page.click("text=Sign up")
        page.fill("input[name=name]", "curie")
        page.fill("input[name=password]", "polonium and radium")
        page.click("button:has-text('Create account')")
        page.wait_for_url(site + "/")
        assert page.locator("a.me").inner_text() == "curie"

        page.fill("header input[name=q]", "surface codes")
        page.press("header input[name=q]", "Enter")
        page.wait_for_url("**/search?q=surface+codes*")
        assert page.locator("mark").first.inner_text().lower() in ("surface", "codes")
        page.click("a[href='/papers/2503.00003']")
        page.wait_for_url("**/papers/2503.00003")

        page.click("button.upvote")
        page.wait_for_selector("button.upvote[aria-pressed=true]")
        assert page.locator("button.upvote .count").inner_text() == "1"

        page.fill("textarea[name=body]", "Great **result**; see <script>alert(1)</script>")
        page.click("button:has-text('Comment')")
        comment = page.locator(".comment .body").last
        comment.wait_for()
        assert comment.locator("strong").inner_text() == "result"
        assert comment.locator("script").count() == 0
        shot = tmp_path / "paper-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")

        page.goto(site + "/")
        after = page.locator("li.paper").evaluate_all("els => els.map(e => e.dataset.id)")
        assert after.index("2503.00003") < before.index("2503.00003")  # it moved up in trending

        page.goto(site + "/papers/2503.00001")
        page.wait_for_selector("h1 math msub, h1 math mi")  # the title's math, as MathML from the server
        assert "Entmax" in page.locator("h1").inner_text()
        browser.close()


def test_pages_and_api_docs_run_under_the_content_security_policy(site: str, tmp_path: Path) -> None:
    """No script or style is blocked by the CSP (math shows as MathML, Swagger UI starts from its vendored files), at
    desktop and at phone width; screenshots of each are left in tmp_path to look at."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        for width, height in ((1280, 900), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            blocked: list[str] = []

            def watch(message: Any, seen: list[str] = blocked) -> None:
                if "Content Security" in message.text:
                    seen.append(message.text)

            page.on("console", watch)
            page.goto(site + "/papers/2503.00001")
            page.wait_for_selector("h1 math mi")
            page.screenshot(path=str(tmp_path / f"paper-{width}.png"), full_page=True)
            page.goto(site + "/api/docs")
            page.wait_for_selector(".opblock")  # Swagger UI drew the operations
            assert page.locator(".opblock").count() > 20
            page.screenshot(path=str(tmp_path / f"api-docs-{width}.png"))
            assert blocked == [], blocked
            print(f"screenshots: {tmp_path}")
            page.close()
        browser.close()
