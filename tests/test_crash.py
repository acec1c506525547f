"""kill -9 in the middle of an import, then the same import again: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.query import parse_query
from paperfeed.store import open_store
from test_import import daily, write_jsonl


def checkpoint_position(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT value FROM ingest_state WHERE key LIKE 'import:%'").fetchone()
    except sqlite3.OperationalError:
        return 0  # not created yet
    return int(row[0].split('"position":')[1].split(",")[0].rstrip("}")) if row else 0


def test_kill_minus_nine_then_rerun(tmp_path: Path) -> None:
    papers = 20_000
    path = write_jsonl(tmp_path / "big.jsonl", [daily(n, abstract="word " * 80) for n in range(papers)])
    db = tmp_path / "crash.db"
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": f"sqlite:///{db}",
        "PAPERFEED_BATCH_SIZE": "200",
        "PAPERFEED_INDEX_DIR": str(tmp_path / "index"),
    }
    command = [sys.executable, "-m", "paperfeed", "import", str(path)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while checkpoint_position(db) < 2000 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert child.poll() is None, "the import finished before it could be killed; make the file larger"
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = checkpoint_position(db)
    assert 0 < killed_at < papers

    store = open_store(f"sqlite:///{db}")
    assert store.stats().papers == killed_at  # exactly the committed batches
    rerun = subprocess.run([*command, "--json"], env=env, capture_output=True, check=True)
    assert b'"resumed_from": ' + str(killed_at).encode() in rerun.stdout
    stats = store.stats()
    assert stats.papers == papers
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT arxiv_id) FROM papers").fetchone()[0] == papers
    keyword = KeywordIndex(tmp_path / "index" / "keyword")
    assert not keyword.pending(store)  # the rerun indexed every paper, the killed run's too
    assert keyword.search(parse_query("word"), 10)[1] == papers
    store.close()
