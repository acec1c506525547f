"""Accessibility in real headless Chromium: axe-core (the npm package, node_modules/axe-core, installed by
`make axe`) finds no serious or critical violation on any page type, in the light and the dark theme, at
desktop and phone width. That includes colour contrast (WCAG AA), labels on every control and landmarks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import served
from paperfeed import accounts, reader_actions
from paperfeed.config import load_settings
from paperfeed.digest import links
from paperfeed.digest import subscribe as subs
from paperfeed.http_edge import site as site_of_app
from paperfeed.web.app import create_app
from search_corpus import corpus, paper

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (make axe)"),
]
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SECRET = "a11y-test-" + "k" * 40
DAY = date(2025, 1, 7)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The site's URL and a manage link's token, over a store with a full day, votes and a public collection."""
    folder = tmp_path_factory.mktemp("a11y")
    app = create_app(load_settings(database_url=f"sqlite:///{folder / 'site.db'}", data_dir=folder,
                                   secret_key=SECRET, page_cache_seconds=0))  # fmt: skip
    store = site_of_app(app).services.store
    store.migrate()
    day = [paper(n, arxiv_id=f"2501.{n + 100:05d}", feed_date=DAY, upvotes=n % 4, num_comments=n % 3)
           for n in range(25)]  # fmt: skip
    store.upsert_papers(
        [*day, *corpus(), paper(60, arxiv_id="2501.00200", title="Sparse $\\alpha$-Entmax", feed_date=DAY)]
    )
    voter = accounts.sign_up(store, "voter", "a long enough password")
    for arxiv_id in ("2501.00100", "2501.00101", "2501.00102"):
        reader_actions.vote(store, voter, arxiv_id, True)
    keys = [p.arxiv_id for p in day[:4]]
    collection = reader_actions.create_collection(store, voter, "Reading group", True)
    for arxiv_id in keys:
        reader_actions.set_in_collection(store, voter, "voter", collection.slug, arxiv_id, True)
    sub, _ = store.save_subscription("a11y@example.org", subs.preferences(content="for_you"), None, datetime.now(UTC))
    with served(app) as url:
        yield url, links.sign(SECRET, "manage", sub.id)


PAGES = [
    "/", "/papers/date/2025-01-07", "/papers/week/2025-W02", "/papers/month/2025-01", "/papers/2501.00100",
    "/papers/2501.00200", "/search?q=diffusion", "/search?q=zzzqqqxx", "/for-you", "/account",
    "/u/voter/collections/reading-group", "/subscribe", "/subscribe/manage?token={token}", "/help", "/follows",
    "/authors/Ada%20Lovelace",
]  # fmt: skip
LOGGED_OUT = ["/login", "/signup"]


def _violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(v => ({
            id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 160))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_no_serious_or_critical_violation_on_any_page_type(site: tuple[str, str], scheme: str, width: int,
                                                           tmp_path: Path) -> None:  # fmt: skip
    url, token = site
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        # bypass_csp: only so that the test can inject axe's script; the pages themselves are unchanged
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                      bypass_csp=True)  # fmt: skip
        page = context.new_page()
        page.set_default_timeout(15_000)
        report: dict[str, list[dict[str, Any]]] = {}
        for path in LOGGED_OUT:
            page.goto(url + path)
            report[path] = _violations(page)
        page.goto(url + "/signup")
        page.fill("input[name=name]", f"reader-{scheme}-{width}")
        page.fill("input[name=password]", "a long enough password")
        page.click("button:has-text('Create account')")
        page.wait_for_url(url + "/")
        for path in PAGES:
            answer = page.goto(url + path.format(token=token))
            assert answer is not None and answer.status == 200, path
            report[path] = _violations(page)
            page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '_').split('?')[0] or 'home'}.png"))
        browser.close()
    bad = {path: found for path, found in report.items() if found}
    assert bad == {}, bad
    print(f"axe-core: {len(report)} pages, no serious or critical violation ({scheme}, {width} px); {tmp_path}")
