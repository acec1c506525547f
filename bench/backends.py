"""SQLite and PostgreSQL side by side, in one run: import speed, search latency, keyword engine choice, and
/api/daily_papers throughput with one and two web processes.

    .venv/bin/python bench/backends.py [--file ../shared/data/arxiv/arxiv_daily.jsonl.gz]
                                       [--cache ~/.cache/paperfeed-bench] [--seconds 15] [--connections 16]

PostgreSQL 16 (with pgvector) is started on 127.0.0.1 from the pgserver wheel, as the tests do (durability off:
fsync, synchronous_commit and full_page_writes, so both backends write without waiting for the disk; SQLite runs
as in production, WAL with synchronous=NORMAL). Needs the embedded store that bench/search_latency.py builds
under --cache, and wrk (apt-get install wrk).

1. Import: the 120,045 papers into an empty database of each backend (`paperfeed import`'s pipeline): papers/s.
2. Moving: the embedded store copied into PostgreSQL by `paperfeed migrate-db`'s copy (rows/s, verified).
3. Search: 200 queries per mode over the 120k papers (SearchEngine.rank, top 20): p50 / p99 ms. SQLite: tantivy
   BM25 + in-process HNSW (usearch); PostgreSQL: tantivy fed from PostgreSQL + pgvector HNSW in the database.
4. Keyword engine on PostgreSQL: its own full-text search (weighted tsvector, GIN index, websearch_to_tsquery,
   ts_rank_cd) against tantivy: latency on the 120k papers and nDCG@10 on SciFact (train) — the measurement
   behind the choice in docs/decisions.md.
5. /api/daily_papers req/s with 1 and 2 `paperfeed serve` processes per backend, with the anonymous page cache
   off (every request reads the database; with the cache on, the backend does not matter).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from ir_collections import scifact as scifact_collection  # noqa: E402
from paperfeed.ingest.pipeline import import_file  # noqa: E402
from paperfeed.search.embed import Embedder  # noqa: E402
from paperfeed.search.engine import SearchEngine  # noqa: E402
from paperfeed.store import Store, open_store  # noqa: E402
from paperfeed.store.copy import copy_store  # noqa: E402
from paperfeed.store.sql import SqlStore  # noqa: E402
from pgcluster import start_cluster  # noqa: E402
from search_latency import percentiles, queries, timed  # noqa: E402
from search_quality import evaluate  # noqa: E402
from web_load import run_wrk, wait_until_up  # noqa: E402

BIN = Path(sys.executable).parent
TSVECTOR = (
    "setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', authors_text), 'B') || "
    "setweight(to_tsvector('english', abstract), 'C')"
)
TSQUERIES = {  # websearch_to_tsquery ANDs the words; the OR form is what BM25 engines do
    "pg fts (AND)": "websearch_to_tsquery('english', :q)",
    "pg fts (OR)": "CAST(replace(CAST(plainto_tsquery('english', :q) AS text), '&', '|') AS tsquery)",
}


def fts_index(store: SqlStore) -> None:
    """A stored, weighted tsvector column under a GIN index (stored: ranking reads it instead of re-parsing)."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"ALTER TABLE papers ADD COLUMN IF NOT EXISTS fts tsvector GENERATED ALWAYS AS ({TSVECTOR}) STORED"
        )
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_bench_fts ON papers USING gin (fts)")
        conn.exec_driver_sql("ANALYZE papers")


def fts_search(store: SqlStore, tsquery: str, q: str, k: int = 20) -> list[str]:
    sql = sa.text(
        f"SELECT arxiv_id FROM papers, {tsquery} AS query WHERE fts @@ query "
        f"ORDER BY ts_rank_cd(fts, query) DESC LIMIT :k"
    )
    with store.engine.connect() as conn:
        return [row[0] for row in conn.execute(sql, {"q": q, "k": k})]


def imports(file: Path, pg_url: str, folder: Path) -> None:
    print("\n1. import of the 120,045 papers into an empty database (batches of 2,000)")
    for name, url in (("sqlite", f"sqlite:///{folder / 'import.db'}"), ("postgresql", pg_url)):
        store = open_store(url)
        store.migrate()
        started = time.perf_counter()
        report = import_file(store, file, batch_size=2000)
        seconds = time.perf_counter() - started
        print(
            f"   {name:<11} {report.inserted:,} papers in {seconds:6.1f} s: {report.inserted / seconds:8,.0f} papers/s"
        )
        store.close()


def search(stores: dict[str, Store], folders: dict[str, Path]) -> dict[str, SearchEngine]:
    print("\n3. search over 120k papers, SearchEngine.rank top 20, 200 queries; ms")
    embedder = Embedder()
    engines = {name: SearchEngine(store, folders[name], embedder) for name, store in stores.items()}
    for name, engine in engines.items():
        started = time.perf_counter()
        engine.refresh()
        kind = stores[name].ann_backend() or ("usearch HNSW" if engine.vectors.approximate else "exact")
        print(f"   {name}: indexes built in {time.perf_counter() - started:.1f} s; vectors: {kind}")
    qs = queries(next(iter(stores.values())))
    for name, engine in engines.items():
        vectors = [engine.embedder.encode_query(q) for q in qs[:100]]
        found = [
            len({k for k, _ in engine.vectors.search(v, 20)} & {k for k, _ in engine.vectors.search(v, 20, exact=True)})
            for v in vectors
        ]
        print(f"   {name}: vector recall@20 against exact search: {sum(found) / (20 * len(found)):.4f}")
    print(f"   {'mode':<9}" + "".join(f"{name + ' p50':>17}{name + ' p99':>17}" for name in engines))
    for mode in ("keyword", "semantic", "hybrid"):
        row = f"   {mode:<9}"
        for engine in engines.values():
            for q in qs[:10]:
                engine.rank(q, mode=mode, depth=20)  # warm-up
            p50, _, p99 = percentiles(timed(lambda q, e=engine, m=mode: e.rank(q, mode=m, depth=20), qs))
            row += f"{p50:>17.2f}{p99:>17.2f}"
        print(row, flush=True)
    return engines


def keyword_choice(pg: SqlStore, engine: SearchEngine, scifact: Path, cluster_db: str) -> None:
    print("\n4. keyword search on PostgreSQL: its full-text search vs tantivy fed from PostgreSQL")
    fts_index(pg)
    qs = queries(pg)
    p50, _, p99 = percentiles(timed(lambda q: engine.rank(q, mode="keyword", depth=20), qs))
    print("   120k papers, 200 queries, ms      p50      p99")
    print(f"   tantivy (BM25)             {p50:>9.2f}{p99:>9.2f}")
    for label, tsquery in TSQUERIES.items():
        p50, _, p99 = percentiles(timed(lambda q, t=tsquery: fts_search(pg, t, q), qs))
        print(f"   {label:<26} {p50:>9.2f}{p99:>9.2f}", flush=True)
    if not (scifact / "corpus.jsonl.gz").exists():
        print("   (SciFact absent: quality not measured)")
        return
    store = open_store(cluster_db)
    assert isinstance(store, SqlStore)
    store.migrate()
    collection = scifact_collection(scifact)
    store.upsert_papers(collection.papers)
    fts_index(store)
    texts, qrels = collection.queries, collection.qrels
    with tempfile.TemporaryDirectory() as index:
        tantivy = SearchEngine(store, Path(index), Embedder())
        tantivy.refresh()
        runs = {qid: {h.paper.arxiv_id: h.score for h in tantivy.search(q, mode="keyword", limit=100).hits}
                for qid, q in texts.items()}  # fmt: skip
    print(f"   SciFact train ({len(texts)} claims)   nDCG@10  Recall@100")
    print(f"   tantivy (BM25)             {evaluate(qrels, runs)[0]:>9.4f}{evaluate(qrels, runs)[1]:>11.4f}")
    for label, tsquery in TSQUERIES.items():
        runs = {qid: {doc: 100.0 - i for i, doc in enumerate(fts_search(store, tsquery, q, 100))}
                for qid, q in texts.items()}  # fmt: skip
        ndcg, rec = evaluate(qrels, runs)
        print(f"   {label:<26} {ndcg:>9.4f}{rec:>11.4f}", flush=True)


def throughput(urls: dict[str, str], index_dirs: dict[str, Path], seconds: int, connections: int) -> None:
    print(f"\n5. /api/daily_papers, page cache off, wrk -t2 -c{connections} -d{seconds}s on 127.0.0.1; req/s (p99 ms)")
    print(f"   {'backend':<11}{'1 process':>20}{'2 processes':>20}")
    for name, url in urls.items():
        row = f"   {name:<11}"
        for processes in (1, 2):
            port = 8790 + processes
            env = {**os.environ, "PAPERFEED_DATABASE_URL": url, "PAPERFEED_INDEX_DIR": str(index_dirs[name]),
                   "PAPERFEED_SECRET_KEY": secrets.token_urlsafe(48), "PAPERFEED_PAGE_CACHE_SECONDS": "0",
                   "PAPERFEED_JOBS_IN_PROCESS": "false"}  # fmt: skip
            command = [str(BIN / "paperfeed"), "serve", "--port", str(port), "--workers", str(processes)]
            server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
            try:
                wait_until_up(f"http://127.0.0.1:{port}/healthz")
                run_wrk(f"http://127.0.0.1:{port}/api/daily_papers", 3, connections, None)  # warm-up
                figures = run_wrk(f"http://127.0.0.1:{port}/api/daily_papers", seconds, connections, None)
                errors = f", {figures['errors']:.0f} errors" if figures["errors"] else ""
                row += f"{figures['rate']:>11,.0f} ({figures['p99']:5.1f}){errors}"
            finally:
                server.terminate()
                server.wait(timeout=30)
        print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=ROOT / "../shared/data/arxiv/arxiv_daily.jsonl.gz")
    parser.add_argument("--scifact", type=Path, default=ROOT / "../shared/data/scifact")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    embedded = args.cache / "arxiv.db"
    if not embedded.exists():
        raise SystemExit(f"{embedded} is missing: run bench/search_latency.py first (it imports and embeds)")
    cluster = start_cluster()
    if cluster is None:
        raise SystemExit("no PostgreSQL binaries: pip install pgserver")
    print(f"PostgreSQL on 127.0.0.1:{cluster.port} (binaries: {cluster.binaries}); SQLite in WAL mode")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if not args.skip_import:
                imports(args.file, cluster.new_database("import"), folder)
            sqlite = open_store(f"sqlite:///{embedded}")
            sqlite.migrate()
            pg_url = cluster.new_database("search")
            pg = open_store(pg_url)
            assert isinstance(sqlite, SqlStore)
            assert isinstance(pg, SqlStore)
            print("\n2. moving the embedded store to PostgreSQL (migrate-db's copy, then verified)")
            started = time.perf_counter()
            checks = copy_store(sqlite, pg)
            rows = sum(c.source_rows for c in checks)
            seconds = time.perf_counter() - started
            verdict = "all tables verified" if all(c.ok for c in checks) else "DIFFERENCES"
            print(f"   {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s, incl. checksums); {verdict}")
            index_dirs = {"sqlite": args.cache / "arxiv-index", "postgresql": folder / "index-postgresql"}
            engines = search({"sqlite": sqlite, "postgresql": pg}, index_dirs)
            keyword_choice(pg, engines["postgresql"], args.scifact, cluster.new_database("scifact"))
            urls = {"sqlite": f"sqlite:///{embedded}", "postgresql": pg_url}
            throughput(urls, index_dirs, args.seconds, args.connections)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
