"""Follows at scale: 10,000 readers with 5 follows each over the 120,045 arXiv papers.

    .venv/bin/python bench/follow.py [--cache ~/.cache/paperfeed-bench] [--readers 10000] [--deliveries 50000]

The store and search index that bench/search_latency.py builds under --cache are copied to a temporary folder.
Readers get 5 follows each, drawn with a fixed seed from the data: 2 authors (as the papers spell them), 1
category or archive, and 2 saved searches (two words of a random title, one with an ``-excluded`` word). Then it
prints three figures:

1. **Matching a day.** The latest feed day's papers are written again, as an update would, and the ``alerts``
   job (paperfeed.alerts.run.run_alerts) matches them against all 50,000 follows. The figure covers loading the
   follows, matching, recording each (reader, paper) pair once and queueing one webhook batch per reader. The
   goal is under 30 s.
2. **A personal feed request.** p50 / p95 of ``GET /feeds/me/<token>.atom`` for 200 random readers, through
   the app in process (routing, matching the follows over the last 30 days, "for you", rendering Atom). The goal
   is a p50 under 20 ms.
3. **Webhook deliveries.** --deliveries batches are queued to a local HTTP sink on 127.0.0.1 and delivered by
   paperfeed.alerts.webhooks.deliver. The figure is the time taken and how many the sink saw, with each
   X-Paperfeed-Delivery id counted once. The goal is under 120 s, each delivered exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from paperfeed import follows
from paperfeed.alerts.run import POSITION, run_alerts
from paperfeed.alerts.webhooks import deliver
from paperfeed.config import load_settings
from paperfeed.errors import BadRequest
from paperfeed.http_edge import site
from paperfeed.models import Paper
from paperfeed.store import Store
from paperfeed.store.digests import OutgoingMail
from paperfeed.web.app import create_app

SECRET = "bench-follow-secret-" + "f" * 40


def _follows_for(store: Store, readers: int, rng: random.Random) -> list[int]:
    keys = rng.sample(range(1, store.stats().papers + 1), 4_000)
    sample = [p for p in store.papers_by_key(keys).values() if p.authors and p.categories]
    categories = [*sorted({c for p in sample for c in p.categories}), "cs", "math", "physics", "stat"]
    user_ids = []
    started = time.perf_counter()
    for n in range(readers):
        user = store.create_user(f"reader{n}", None, "not-a-login")
        user_ids.append(user.id)
        a, b, c = rng.sample(sample, 3)
        wanted = [("author", rng.choice(a.authors).name), ("author", rng.choice(b.authors).name),
                  ("category", rng.choice(categories)), ("query", _words(c, rng, 2)),
                  ("query", f"{_words(rng.choice(sample), rng, 1)} -{_words(rng.choice(sample), rng, 1)}")]  # fmt: skip
        for kind, value in wanted:  # straight into the store: a follow made on the site also backfills its feed
            with contextlib.suppress(BadRequest):  # a drawn word the query syntax reads otherwise: skipped
                shown, key = follows.check_value(follows.parse_kind(kind), value)
                store.add_follow(user.id, kind, shown, key, datetime.now(UTC), limit=follows.MAX_FOLLOWS)
        if (n + 1) % 2_000 == 0:
            print(f"  {n + 1:,} readers ({time.perf_counter() - started:.0f} s)", flush=True)
    return user_ids


def _words(p: Paper, rng: random.Random, count: int) -> str:
    plain = [w.lower() for w in p.title.split() if w.isalpha() and len(w) > 4]
    return " ".join(rng.sample(plain, min(count, len(plain)))) or "learning"


def match_a_day(store: Store) -> None:
    latest = store.latest_feed_date()
    assert latest is not None
    day = store.list_papers(latest, latest, sort="newest", limit=5_000)
    store.set_state(POSITION, {"seq": store.change_seq(), "key": 2**62})
    store.upsert_papers([replace(p, version=(p.version or 1) + 1, comment=(p.comment or "") + " ") for p in day])
    started = time.perf_counter()
    report = run_alerts(store, "https://papers.example.org")
    took = time.perf_counter() - started
    follows_n = len(store.all_follows())
    print(f"\n1. matching a day: {report.papers} papers of {latest} against {follows_n:,} follows in {took:.2f} s: "
          f"{report.matches:,} new matches, {report.batches:,} webhook batches (goal < 30 s)")  # fmt: skip


def feed_requests(app: object, store: Store, user_ids: list[int], rng: random.Random) -> None:
    client = TestClient(app, base_url="https://papers.example.org")  # type: ignore[arg-type]
    chosen = rng.sample(user_ids, 220)
    paths = [f"/feeds/me/{follows.feed_token(SECRET, u, 0)}.atom" for u in chosen]
    for path in paths[:20]:  # warm-up: indexes open, models load
        assert client.get(path).status_code == 200
    for label, rounds in (("first request per reader", paths[20:]), ("the same feeds polled again", paths[20:])):
        times = []
        for path in rounds:
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
        cuts = statistics.quantiles(times, n=20)
        print(f"\n2. personal feed, {label}: p50 {statistics.median(times):.1f} ms, p95 {cuts[18]:.1f} ms over "
              f"{len(times)} readers' Atom feeds (goal p50 < 20 ms)")  # fmt: skip


class Sink:
    """A webhook receiver on 127.0.0.1 (keep-alive, as a real one) counting each delivery id."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        lock, seen = threading.Lock(), self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    key = self.headers["X-Paperfeed-Delivery"]
                    seen[key] = seen.get(key, 0) + 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def deliveries(store: Store, sink: Sink, user_ids: list[int], count: int) -> None:
    """Top the day's webhook batches up to ``count`` with more of the same size, then deliver them all."""
    hooks = {h.user_id: h for h in (store.get_webhook(u) for u in user_ids) if h is not None}
    waiting = store.outbox_counts().get("pending", 0)
    now = datetime.now(UTC)
    body = b'{"event": "papers.matched", "papers": [], "text": "bench"}'
    ids = sorted(hooks)
    for start in range(waiting, count, 5_000):
        store.enqueue([OutgoingMail(0, f"webhook:bench:{n}", sink.url, uuid.uuid4().hex, body, channel="webhook",
                                    webhook_id=hooks[ids[n % len(ids)]].id)
                       for n in range(start, min(start + 5_000, count))], now)  # fmt: skip
    started = time.perf_counter()
    with httpx.Client(timeout=10, follow_redirects=False, trust_env=False) as http:
        report = deliver(store, http, allow_private=True, user_agent="paperfeed-bench")
    took = time.perf_counter() - started
    sink.server.shutdown()
    seen = sink.seen
    once = sum(1 for n in seen.values() if n == 1)
    print(
        f"\n3. webhooks: {report.delivered:,} delivered in {took:.1f} s ({report.delivered / took:.0f}/s); "
        f"the sink saw {len(seen):,}, {once:,} exactly once; {report.failed} failed (goal < 120 s, once each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=50_000)
    args = parser.parse_args()
    if not (args.cache / "arxiv.db").exists():
        raise SystemExit(f"{args.cache / 'arxiv.db'} is missing: run bench/search_latency.py once first")
    with tempfile.TemporaryDirectory(prefix="paperfeed-follow-") as tmp:
        folder = Path(tmp)
        print("copying the store and index ...", flush=True)
        shutil.copy(args.cache / "arxiv.db", folder / "paperfeed.db")
        shutil.copytree(args.cache / "arxiv-index", folder / "index")
        settings = load_settings(
            database_url=f"sqlite:///{folder / 'paperfeed.db'}", data_dir=folder, index_dir=folder / "index",
            model_dir=args.cache / "models", secret_key=SECRET, jobs_in_process=False, digest_schedule=False,
            base_url="https://papers.example.org", page_cache_seconds=0,
        )  # fmt: skip
        app = create_app(settings)
        store = site(app).services.store
        store.migrate()
        rng = random.Random(20)
        print(f"making {args.readers:,} readers with 5 follows each ...", flush=True)
        user_ids = _follows_for(store, args.readers, rng)
        sink = Sink()
        for user_id in user_ids:  # every reader has a webhook, to the local sink
            store.set_webhook(user_id, sink.url, "bench-secret", datetime.now(UTC))
        match_a_day(store)
        feed_requests(app, store, user_ids, rng)
        deliveries(store, sink, user_ids, args.deliveries)
        site(app).services.close()


if __name__ == "__main__":
    main()
