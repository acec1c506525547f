"""The first hour of a new instance: how soon the site answers and semantic search covers the papers.

    .venv/bin/python bench/first_hour.py [--seed ../shared/data/arxiv/arxiv_daily.jsonl.gz] [--port 8123]
                                         [--wait-full] [--cache ~/.cache/paperfeed-bench]

Does what `make run` does after its install step, in a new temporary data folder, with arXiv unreachable (so
`paperfeed update` imports the seed file, as on a machine without network): `paperfeed init`, `paperfeed
update`, one `paperfeed worker` in the background, `paperfeed serve`. The clock starts before `init`. It then
watches `/healthz` and `/api/status` (and, for the latest week, the database) and prints the time until

(a) the site answers; (b) semantic search covers the latest feed week (every paper of its last 7 feed days has
a vector of some tier); (c) it covers every paper; (d) every paper has its MiniLM vector.

(d) takes most of an hour or more on two cores; without --wait-full the run stops two minutes after (c) and
prints (d) as an estimate from the worker's measured MiniLM rate (labelled as such). With --load N, once the
MiniLM backlog runs (the self-check has chosen its path and the first MiniLM vectors are stored), wrk drives
the uncached paper page and hybrid search for N seconds each at 32 connections (bench/web_load.py's wrk
runner; apt-get install wrk) and prints req/s, p50, p99 and errors, and how many papers a second the worker
embedded with MiniLM meanwhile (it gives way to busy readers: paperfeed.search.give_way); then again once 15% of
the papers have MiniLM (the chunks' steady state, away from the start's one-off work).
Then it prints SciFact train and CACM nDCG@10 for each mode with MiniLM vectors, half-way through the
MiniLM job, and with first-tier vectors only, from bench/search_quality.py's code in the same process.
Goals (issue "The first hour"): (a) 60 s, (b) 3 min, (c) 10 min, (d) 45 min; hybrid with first-tier vectors
only at least 0.72.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def week_covered(db: Path) -> bool:
    """Whether every paper of the latest 7 feed days has a stored vector (any tier)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        latest = conn.execute("SELECT max(feed_date) FROM papers").fetchone()[0]
        if latest is None:
            return False
        missing = conn.execute(
            "SELECT count(*) FROM papers p LEFT JOIN paper_embeddings e ON e.paper_id = p.id "
            "WHERE p.feed_date > date(?, '-7 days') AND e.paper_id IS NULL",
            (latest,),
        ).fetchone()[0]
    return int(missing) == 0


def load(port: int, db: Path, seconds: int, worker: subprocess.Popen[bytes] | None = None) -> None:
    """The pages a reader waits for, under load, while the worker embeds beside the server; then the same with
    the worker paused (SIGSTOP), to show what the backlog costs."""
    from web_load import QUERIES, run_wrk

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ids = [row[0] for row in conn.execute("SELECT arxiv_id FROM papers ORDER BY random() LIMIT 300")]
    base = f"http://127.0.0.1:{port}"
    targets = [("/papers/{id} (uncached)", [f"/papers/{i}" for i in ids]),
               ("/search?q= (hybrid)", [f"/search?q={q.replace(' ', '+')}" for q in QUERIES])]  # fmt: skip
    for paused in (False, True) if worker is not None else (False,):
        if paused and worker is not None:
            os.killpg(worker.pid, signal.SIGSTOP)  # the worker and its helpers
        for name, paths in targets:
            before, began = full_quality(db), time.monotonic()
            got = run_wrk(base + "/", seconds, 32, paths)
            rate = (full_quality(db) - before) / (time.monotonic() - began)
            state = "worker paused" if paused else "backlog running"
            print(f"  {state}: {name:<26} {got['rate']:>7.1f} req/s  p50 {got['p50']:>7.1f} ms  "
                  f"p99 {got['p99']:>7.1f} ms  errors {got['errors']:.0f}; worker {rate:.1f} MiniLM papers/s",
                  flush=True)  # fmt: skip
    if worker is not None:
        os.killpg(worker.pid, signal.SIGCONT)


STEADY = 0.15  # share of papers with MiniLM at which --load runs a second time


def full_quality(db: Path) -> int:
    """Papers with their MiniLM vector, from the database (/api/status is cached for seconds)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        query = "SELECT count(*) FROM paper_embeddings WHERE model = 'all-MiniLM-L6-v2'"
        return int(conn.execute(query).fetchone()[0])


def watch(
    port: int, db: Path, started: float, wait_full: bool, load_seconds: int = 0,
    worker: subprocess.Popen[bytes] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Poll until (d), or until two minutes after (c) without --wait-full; the times reached, in seconds."""
    reached: dict[str, float] = {}
    base = f"http://127.0.0.1:{port}"
    while True:
        now = time.monotonic() - started
        if "a" not in reached and get(base + "/healthz")[0] == 200:
            reached["a"] = now
            print(f"(a) the site answers after {now:.0f} s", flush=True)
        code, body = get(base + "/api/status") if "a" in reached else (0, b"")
        if code == 200:
            status = json.loads(body)
            vectors = status["vectors"]
            if "b" not in reached and db.is_file() and week_covered(db):
                reached["b"] = now
                print(f"(b) semantic search covers the latest feed week after {now:.0f} s", flush=True)
            if "c" not in reached and vectors["none"] == 0 and status["papers"]:
                reached["c"] = now
                print(f"(c) every paper has a vector (some tier) after {now:.0f} s; {status['summary']}", flush=True)
            if load_seconds and "load" not in reached and vectors["fullQuality"] and status["embedPath"]:
                reached["load"] = now  # the self-check has chosen, and the MiniLM backlog is running
                print(f"  load from {now:.0f} s, {vectors['fullQuality']:,} papers with MiniLM so far", flush=True)
                load(port, db, load_seconds, worker)
            steady = vectors["fullQuality"] >= STEADY * status["papers"]
            if load_seconds and "load" in reached and "steady load" not in reached and steady:
                reached["steady load"] = now  # the chunks have run for a while: what most of the hour looks like
                print(f"  again from {now:.0f} s, {vectors['fullQuality']:,} papers with MiniLM so far", flush=True)
                load(port, db, load_seconds, worker)
            if vectors["provisional"] == 0 and vectors["none"] == 0 and status["papers"]:
                reached["d"] = now
                print(f"(d) every paper has its MiniLM vector after {now / 60:.1f} min", flush=True)
                return reached
            waited = "c" in reached and now - reached["c"] > 120 and (not load_seconds or "steady load" in reached)
            if waited and not wait_full and status.get("minutesLeft"):
                estimate = now + 60 * status["minutesLeft"]
                print(f"(d) estimated (not measured): {estimate / 60:.0f} min from the start, at the worker's "
                      f"{status['embedRate']:.1f} MiniLM papers/s; {status['summary']}", flush=True)  # fmt: skip
                return reached
        time.sleep(2)


def quality(cache: Path) -> None:
    from ir_collections import load
    from search_quality import engine_for, evaluate, run, tier_engines, tier_scores

    for col in load(ROOT / "../shared/data"):
        minilm, tiers = engine_for(col, cache), tier_engines(col, cache)
        print(f"\n{col.name}, {len(col.queries)} queries: nDCG@10 (unrefined: the best results not re-ranked "
              "with MiniLM embedded for the query)")  # fmt: skip
        print(f"{'mode':<10} {'MiniLM':>8} {'half-way':>9} {'unrefined':>9} {'first tier only':>16} {'unrefined':>9}")
        for mode in ("keyword", "semantic", "hybrid"):
            full = evaluate(col.qrels, run(minilm, mode, col.queries))[0]
            a, b, c, d = [full] * 4 if mode == "keyword" else tier_scores(col, tiers, mode)
            print(f"{mode:<10} {full:>8.4f} {a:>9.4f} {b:>9.4f} {c:>16.4f} {d:>9.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=Path, default=ROOT / "../shared/data/arxiv/arxiv_daily.jsonl.gz")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--wait-full", action="store_true", help="wait for (d) instead of estimating it")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--load", type=int, default=0, metavar="SECONDS", help="wrk each page this long after (c)")
    parser.add_argument("--worker-nice", type=int, default=None, metavar="N",
                        help="the worker's --nice (default: paperfeed worker's own)")  # fmt: skip
    args = parser.parse_args()
    if not args.seed.is_file():
        sys.exit(f"{args.seed} not found (see ../shared/data/README.md)")
    folder = Path(tempfile.mkdtemp(prefix="paperfeed-first-hour-"))
    env = {**os.environ, "PAPERFEED_DATA_DIR": str(folder), "PAPERFEED_SECRET_KEY": secrets.token_urlsafe(48),
           "PAPERFEED_SEED_FILE": str(args.seed.resolve()), "PAPERFEED_ARXIV_API_URL": "http://127.0.0.1:9/api/query",
           "PAPERFEED_DIGEST_SCHEDULE": "false"}  # fmt: skip
    paperfeed = str(BIN / "paperfeed")
    started = time.monotonic()
    subprocess.run([paperfeed, "init"], env=env, check=True, capture_output=True)
    update = subprocess.run([paperfeed, "update"], env=env, capture_output=True, text=True)
    print(f"paperfeed update (offline: the seed file): exit {update.returncode} after "
          f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
    log = (folder / "worker.log").open("w")
    nice = [] if args.worker_nice is None else [f"--nice={args.worker_nice}"]
    worker = subprocess.Popen(
        [paperfeed, "worker", *nice], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )  # its own process group: paused with its helpers
    serve = subprocess.Popen([paperfeed, "serve", "--port", str(args.port)],
                             env={**env, "PAPERFEED_JOBS_IN_PROCESS": "false"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        watch(args.port, folder / "paperfeed.db", started, args.wait_full, args.load, worker)
    finally:
        stopping = time.monotonic()
        worker.terminate()
        serve.terminate()
        stopped = {}
        while len(stopped) < 2 and time.monotonic() - stopping < 60:
            for name, process in (("worker", worker), ("serve", serve)):
                if name not in stopped and process.poll() is not None:
                    stopped[name] = f"{time.monotonic() - stopping:.1f} s"
            time.sleep(0.05)
        for process in (worker, serve):
            if process.poll() is None:
                process.kill()
        print(f"SIGTERM to both: worker stopped after {stopped.get('worker', 'over 60 s')}, serve after "
              f"{stopped.get('serve', 'over 60 s')} (worker log: {folder}/worker.log)")  # fmt: skip
    if not args.skip_quality:
        quality(args.cache)


if __name__ == "__main__":
    main()
