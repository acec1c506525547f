"""kill -9 in the middle of an import, then the same import again: nothing lost, nothing duplicated.

The import runs in a child process that sends itself SIGKILL inside the transaction of a chosen batch (after
that batch's papers were written, before its commit), so where it dies does not depend on the machine's speed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from paperfeed.ingest.files import inspect_file
from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.query import parse_query
from paperfeed.store import open_store
from test_import import daily, write_jsonl

BATCH = 200
DIES_IN_BATCH = 11  # ten batches committed, the eleventh half written

# `paperfeed import ...`, killed by itself (a real SIGKILL: no cleanup, no atexit) when the given batch writes
# its categories, the statement after its papers and before its checkpoint and commit.
KILLED_IMPORT = textwrap.dedent(
    """
    import os, signal, sys
    import sqlalchemy as sa
    from paperfeed.cli import main
    batches = [0]
    def die_mid_batch(conn, cursor, statement, *rest):
        if statement.lstrip().startswith("INSERT INTO paper_categories"):
            batches[0] += 1
            if batches[0] == int(os.environ["DIES_IN_BATCH"]):
                os.kill(os.getpid(), signal.SIGKILL)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", die_mid_batch)
    main()
    """
)


def test_kill_minus_nine_then_rerun(tmp_path: Path) -> None:
    papers = 5_000
    path = write_jsonl(tmp_path / "big.jsonl", [daily(n, abstract="word " * 80) for n in range(papers)])
    db = tmp_path / "crash.db"
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": f"sqlite:///{db}",
        "PAPERFEED_BATCH_SIZE": str(BATCH),
        "PAPERFEED_INDEX_DIR": str(tmp_path / "index"),
        "DIES_IN_BATCH": str(DIES_IN_BATCH),
    }
    killed = subprocess.run([sys.executable, "-c", KILLED_IMPORT, "import", str(path)], env=env, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]

    store = open_store(f"sqlite:///{db}")
    checkpoint = store.get_state(f"import:{inspect_file(path).fingerprint}")
    assert checkpoint is not None and checkpoint["position"] == (DIES_IN_BATCH - 1) * BATCH
    assert store.stats().papers == (DIES_IN_BATCH - 1) * BATCH  # exactly the committed batches
    rerun = subprocess.run([sys.executable, "-m", "paperfeed", "import", str(path), "--json"], env=env,
                           capture_output=True, check=True)  # fmt: skip
    assert b'"resumed_from": ' + str((DIES_IN_BATCH - 1) * BATCH).encode() in rerun.stdout
    assert store.stats().papers == papers
    ids = [f"2503.{n:05d}" for n in range(papers)]
    assert len(store.paper_keys(ids)) == papers  # every paper once: none lost, none twice
    keyword = KeywordIndex(tmp_path / "index" / "keyword")
    assert not keyword.pending(store)  # the rerun indexed every paper, the killed run's too
    assert keyword.search(parse_query("word"), 10)[1] == papers
    store.close()
