"""A paper page with 25 worst-case comments: how long it takes to serve, with comments rendered once when written
(stored sanitised HTML, what paperfeed does) against rendering them on every view (what it did before).

    .venv/bin/python bench/comments.py [--comments 25] [--runs 60]

Each comment is 20,000 characters (the most a comment may have) of the Markdown that costs markdown-it and nh3
the most that we found (nested brackets, links, emphasis and HTML-looking text mixed; see WORST). The page is
fetched in process (FastAPI's TestClient over a temporary SQLite store) by a signed-in reader, so the page cache
plays no part. Prints p50 and p99 of the page, and what rendering the comments on each view would add. Goal
(issue "Hardening"): p50 under 50 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from paperfeed import reader_actions
from paperfeed.config import load_settings
from paperfeed.http_edge import site
from paperfeed.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from search_corpus import corpus

WORST = {
    "brackets": "[" * 20_000,
    "links": "[a](https://example.org/x) " * 740,
    "mixed": "*_[`<" * 4_000,
    "angle brackets": "<" * 20_000,
    "emphasis": "*a **b " * 2_800,
}


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=25)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="paperfeed-comments-"))
    settings = load_settings(
        base_url="http://testserver", database_url=f"sqlite:///{folder}/c.db", data_dir=folder,
        secret_key="bench-" + "c" * 40, digest_schedule=False, jobs_in_process=False,
    )  # fmt: skip
    app = create_app(settings)
    store = site(app).services.store
    store.migrate()
    store.upsert_papers(corpus())
    client = TestClient(app)
    page = client.get("/signup").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    token = found.group(1)
    client.post("/signup", data={"csrf_token": token, "name": "bench", "password": "bench password"})
    user = store.get_user("bench")
    bodies = [list(WORST.values())[n % len(WORST)][: reader_actions.MAX_COMMENT] for n in range(args.comments)]
    started = time.perf_counter()
    for body in bodies:
        reader_actions.comment(store, user, "2501.00001", body)
    written = time.perf_counter() - started
    html = sum(len(c.html) for c in store.list_comments("2501.00001"))
    print(
        f"{args.comments} comments of {reader_actions.MAX_COMMENT:,} characters: {html / 1e6:.2f} MB of stored HTML; "
        f"writing them took {written * 1000:.0f} ms ({written / args.comments * 1000:.1f} ms each, rendered)"
    )
    client.get("/papers/2501.00001")  # warm up
    served = []
    for _ in range(args.runs):
        started = time.perf_counter()
        response = client.get("/papers/2501.00001")
        served.append(time.perf_counter() - started)
        assert response.status_code == 200
    print(f"paper page, comments stored as HTML:   {_ms(served)}")
    rendering = []
    for _ in range(max(5, args.runs // 6)):
        started = time.perf_counter()
        for body in bodies:
            reader_actions.render_markdown(body)
        rendering.append(time.perf_counter() - started)
    print(f"rendering them on every view would add: {_ms(rendering)}")


if __name__ == "__main__":
    main()
