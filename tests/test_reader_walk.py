"""A new reader's path through the site in real headless Chromium, on a laptop and on a phone: land on the day,
scan it with the keyboard, filter by a category, search, open a paper, sign up, upvote, comment, collect, see
"for you", subscribe to the digest, log out. Screenshots of every step go to the folder the test prints (not
committed); the assertions are on what a reader sees."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from conftest import served
from paperfeed.config import load_settings
from paperfeed.http_edge import site as site_of_app
from paperfeed.web.app import create_app
from search_corpus import corpus, paper

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
DAY = date(2025, 2, 3)
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("walk")
    database = f"sqlite:///{folder / 'site.db'}"
    settings = load_settings(database_url=database, data_dir=folder, secret_key="walk-test-" + "w" * 40,
                             page_cache_seconds=0, jobs_in_process=False)  # fmt: skip
    app = create_app(settings)
    store = site_of_app(app).services.store
    store.migrate()
    day = [paper(n, arxiv_id=f"2501.{n + 100:05d}", feed_date=DAY, upvotes=n % 3) for n in range(45)]
    store.upsert_papers([*corpus(), *day])
    with served(app) as url:
        yield url


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_new_readers_first_visit(site: str, viewport: str, tmp_path: Path) -> None:
    width, height = VIEWPORTS[viewport]
    shots = tmp_path / f"walk-{viewport}"
    shots.mkdir()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(15_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=False)

        page.goto(site + "/")  # land: the latest day, 30 of its 45 papers as cards, with a count
        assert page.locator("h1").inner_text() == "Day 2025-02-03"
        assert page.locator(".toolbar .count").inner_text().startswith("1–30 of 45 papers")
        assert page.locator("li.paper").count() == 30
        teaser = page.locator("li.paper details.teaser").first
        assert not teaser.evaluate("d => d.open")
        teaser.locator("summary").click()  # the two-line teaser opens in place
        assert teaser.evaluate("d => d.open")
        shot("1-day")

        page.keyboard.press("j")
        page.keyboard.press("j")  # the second paper is the current one
        current = page.locator("li.paper.current")
        second = page.locator("li.paper").nth(1).get_attribute("data-id")
        assert current.count() == 1 and current.get_attribute("data-id") == second
        page.locator(".filters a.chip", has_text="cs.CV").click()  # filter the day by a category chip
        page.wait_for_url("**category=cs.CV*")
        assert page.locator(".toolbar .count").inner_text() == "1–10 of 10 papers in cs.CV"
        assert page.locator("li.paper").count() == 10  # 2 of every 10 papers are cs.CV
        shot("2-category")

        page.keyboard.press("/")  # to the search box
        page.keyboard.type("surface codes")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search?q=surface+codes*")
        assert page.locator("input[type=search]").count() == 1  # one search box on the search page
        assert "results for “surface codes”" in page.locator(".toolbar .count").inner_text()
        assert page.locator("mark").first.inner_text().lower() in ("surface", "codes")
        shot("3-search")

        page.locator("li.result a.title").first.click()
        page.wait_for_url("**/papers/*")
        paper_url = page.url
        assert "Quantum Error Correction" in page.locator("h1").inner_text()
        assert page.locator(".onward h2", has_text="Similar papers").is_visible()
        shot("4-paper")

        page.click("text=Sign up")
        page.fill("input[name=name]", f"newreader-{viewport}")
        page.fill("input[name=password]", "a long enough password")
        page.click("button:has-text('Create account')")
        page.wait_for_url(site + "/")
        page.goto(paper_url)
        page.click("button.upvote")
        page.wait_for_selector("button.upvote[aria-pressed=true]")
        page.fill("textarea[name=body]", "See https://github.com/example/surface-codes for the decoder.")
        page.click("button:has-text('Comment')")
        link = page.locator(".comment .body a").last
        link.wait_for()
        assert link.get_attribute("href") == "https://github.com/example/surface-codes"  # linkified
        page.locator("details.collect summary").click()
        page.fill("input[name=name]", "Error correction")
        page.click("button:has-text('Create and add')")
        page.wait_for_url("**/collections/error-correction*")
        assert "Quantum Error Correction" in page.locator("main").inner_text()
        shot("5-collected")

        page.goto(site + "/for-you")
        assert page.locator("h1").inner_text() == "For you"
        assert page.locator("li.paper").count() > 0  # personal from the first upvote
        shot("6-for-you")

        page.fill("footer input[name=email]", f"{viewport}@example.org")
        page.click("footer button:has-text('Subscribe')")
        page.wait_for_url("**/subscribe?email=*")
        page.click("main button:has-text('Subscribe')")
        assert page.locator("h1").inner_text() == "Check your inbox"
        shot("7-subscribed")

        page.click("header button:has-text('Log out')")
        page.wait_for_selector("header a:has-text('Log in')")
        shot("8-logged-out")
        browser.close()
    assert len(list(shots.glob("*.png"))) == 8
    print(f"screenshots: {shots}")
