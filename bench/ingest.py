"""Ingestion benchmark: import the 120k-paper arXiv file into a fresh database, then again (a no-op pass),
and compare with a reference: plain executemany into a bare SQLite table plus an FTS5 index built after.

    .venv/bin/python bench/ingest.py [--file ../shared/data/arxiv/arxiv_daily.jsonl.gz] [--small 20000]

paperfeed's imports run as child processes (``paperfeed import``) so their peak RSS is measured alone; the
``--small`` import of the file's first N lines shows whether peak memory grows with the input.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "../shared/data/arxiv/arxiv_daily.jsonl.gz"


def run_import(db: Path, file: Path) -> tuple[float, int, dict[str, object]]:
    """(seconds, peak RSS in KiB, report) of one `paperfeed import` in a child process."""
    command = [sys.executable, "-m", "paperfeed", "--db", f"sqlite:///{db}", "import", str(file), "--json"]
    started = time.perf_counter()
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"import failed with exit code {child.returncode}")
    output = child.stdout
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak, orjson.loads(output)


def db_size(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def reference(file: Path, db: Path) -> tuple[float, float, int]:
    """(seconds end to end, seconds for insert + FTS build only, rows) of the plain reference."""
    started = time.perf_counter()
    with gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb") as f:
        rows = []
        for line in f:
            r = orjson.loads(line)
            rows.append((r["id"], r["title"], r["abstract"], ", ".join(r["authors"])))
    parsed = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE papers (id INTEGER PRIMARY KEY, arxiv_id TEXT, title TEXT, abstract TEXT, authors TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO papers (arxiv_id, title, abstract, authors) VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(title, abstract, authors, content='papers', content_rowid='id')")
    conn.execute("INSERT INTO fts (fts) VALUES ('rebuild')")
    conn.close()
    done = time.perf_counter()
    return done - started, done - parsed, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--small", type=int, default=20000, help="lines for the memory-growth check (0: skip)")
    args = parser.parse_args()
    if not args.file.is_file():
        raise SystemExit(f"{args.file} not found (see ../shared/data/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.small:
            small = folder / "small.jsonl"
            with gzip.open(args.file, "rb") as src, small.open("wb") as dst:
                for _, line in zip(range(args.small), src, strict=False):
                    dst.write(line)
            _, small_peak, _ = run_import(folder / "small.db", small)
            print(f"small import ({args.small:,} papers): peak RSS {small_peak / 1024:.0f} MiB")
        db = folder / "paperfeed.db"
        seconds, peak, report = run_import(db, args.file)
        papers = int(report["inserted"])  # type: ignore[call-overload]
        rate = papers / seconds
        print(
            f"import: {papers:,} papers in {seconds:.1f} s = {rate:,.0f} papers/s "
            "(whole command, keyword index included)"
        )
        print(f"database size: {db_size(db) / 2**20:.0f} MiB; peak RSS {peak / 1024:.0f} MiB")
        again, _, report2 = run_import(db, args.file)
        print(
            f"second import (no-op): {again:.1f} s, {report2['inserted']} new, {report2['updated']} updated, "
            f"{report2['unchanged']:,} unchanged"
        )
        total, insert_only, rows = reference(args.file, folder / "reference.db")
        print(f"reference, read + executemany + FTS5 build: {rows / total:,.0f} papers/s ({total:.1f} s)")
        print(f"reference, executemany + FTS5 build only:  {rows / insert_only:,.0f} papers/s ({insert_only:.1f} s)")
        print(
            f"ratio to reference: {rate / (rows / total):.2f} (end to end), "
            f"{rate / (rows / insert_only):.2f} (insert only)"
        )


if __name__ == "__main__":
    main()
