"""Recommendation speed over the 120,045 arXiv papers: the community refit for 10,000 readers, and one reader's
"for you" list.

    .venv/bin/python bench/recommend_speed.py [--cache ~/.cache/paperfeed-bench] [--readers 10000] [--queries 200]

Copies the embedded store that bench/search_latency.py built under --cache, adds --readers readers with 5-40
upvotes each (papers drawn from topical neighbourhoods, so that readers overlap as real ones do), then times
the graph filter's refit (over every upvote, as every web process does when upvotes change), the nightly
``refit`` job (the collective model over every reader and paper, saved to the store, and the blend weights fitted
on held-out upvotes) and --queries "for you" requests with all four models (random readers, windows "week" and
"all", 20 papers each), printing p50 / p95.
Goals (issue 6): one reader in at most 50 ms p50; a refit for 10,000 readers in at most 10 minutes.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from paperfeed.models import User
from paperfeed.recommend.refit import refit
from paperfeed.recommend.serve import ForYou
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store


def add_readers(url: str, readers: int, papers: int, seed: int = 7) -> int:
    """Readers and their upvotes written straight into the tables (bulk, not timed)."""
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    votes = 0
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM votes")
        conn.exec_driver_sql("DELETE FROM users")
        conn.exec_driver_sql(
            "INSERT INTO users (id, name, password_hash, is_admin, created_at, interests) VALUES (?, ?, 'x', 0, ?, '')",
            [(u, f"reader{u}", now) for u in range(1, readers + 1)],
        )
        rows = []
        for u in range(1, readers + 1):
            centre = rng.randrange(1, papers - 2000)  # papers near each other in id share a day and often a topic
            liked = {centre + int(abs(rng.gauss(0, 300))) for _ in range(rng.randint(5, 40))}
            rows += [(u, p, now) for p in liked if p <= papers]
        conn.exec_driver_sql("INSERT OR IGNORE INTO votes (user_id, paper_id, created_at) VALUES (?, ?, ?)", rows)
        conn.exec_driver_sql(
            "UPDATE papers SET local_upvotes = (SELECT COUNT(*) FROM votes WHERE votes.paper_id = papers.id)"
        )
        votes = len(rows)
    engine.dispose()
    return votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "paperfeed-bench")
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    source = args.cache / "arxiv.db"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/search_latency.py first (it imports and embeds)")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "speed.db"
        shutil.copy(source, database)
        url = f"sqlite:///{database}"
        store = open_store(url)
        store.migrate()
        papers = store.stats().papers
        votes = add_readers(url, args.readers, papers)
        index = Path(folder) / "index"
        shutil.copytree(args.cache / "arxiv-index", index)
        engine = SearchEngine(store, index, Embedder("auto"))
        engine.refresh()
        foryou = ForYou(store, engine)
        started = time.perf_counter()
        community = foryou.reload()
        refitted = time.perf_counter() - started
        print(f"{papers:,} papers; {args.readers:,} readers with {votes:,} upvotes")
        print(f"graph filter refit (k=64): {refitted:.1f} s over {community.matrix.shape[0]:,} readers x "
              f"{community.matrix.shape[1]:,} papers (goal: 10,000 readers in at most 600 s)")  # fmt: skip
        started = time.perf_counter()
        said = refit(store, engine)  # the nightly `refit` job
        print(f"refit job: {time.perf_counter() - started:.1f} s (goal: 10,000 readers in at most 600 s): {said}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB
        print(f"peak memory of this process so far (store, indexes, embedder and the refit): {peak:.1f} GiB")
        started = time.perf_counter()
        foryou = ForYou(store, engine)  # a web process: it loads the saved collective model on its first request
        foryou.recommend(User(1, ""), window="week")  # warm: the embedder and the HNSW graph load once
        assert foryou.collective is not None, "the refit saved a collective model"
        print(f"first request of a new process (loads the saved models): {time.perf_counter() - started:.1f} s")
        rng = random.Random(3)
        for window in ("week", "all"):
            times = []
            for _ in range(args.queries):
                user = User(rng.randint(1, args.readers), "")
                started = time.perf_counter()
                picks = foryou.recommend(user, window=window, limit=20)
                times.append((time.perf_counter() - started) * 1000)
                assert picks, "every reader gets recommendations"
            cuts = statistics.quantiles(times, n=100)
            print(f"for you, window {window:<4}: p50 {statistics.median(times):6.1f} ms  p95 {cuts[94]:6.1f} ms  "
                  f"(goal: p50 at most 50 ms)")  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
