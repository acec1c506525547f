"""The parallel backfill: the MiniLM backlog cut into chunks that several workers claim, each chunk once,
none lost when a worker is killed; chunks yield to every other job; progress for /api/status."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from paperfeed.errors import BadRequest
from paperfeed.search.embed import MODEL_ID, paper_text, to_blob
from paperfeed.search.embed_job import CHUNK_KIND, plan_chunks, run_chunk
from paperfeed.status import EMBED_STATE, record_rate
from paperfeed.store import Store
from paperfeed.store.base import EmbeddingRow
from search_corpus import paper

T0 = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)

SLOW_WORKER = textwrap.dedent(
    """
    import hashlib, os, sys, time
    from datetime import timedelta
    import numpy as np
    from paperfeed.search.embed import MODEL_ID
    from paperfeed.search.embed_job import CHUNK_KIND, run_chunk
    from paperfeed.store import open_store
    from paperfeed.worker import Worker
    store, log, lease = open_store(sys.argv[1]), sys.argv[2], float(sys.argv[3])

    class Slow:  # MiniLM's place: deterministic vectors, slowly, and a line per text it was asked for
        model_id, dim, precision = MODEL_ID, 384, "fp32"
        def encode(self, texts):
            with open(log + ".encoded", "a") as f:
                f.writelines(hashlib.sha1(t.encode()).hexdigest() + "\\n" for t in texts)
            time.sleep(0.5)
            rows = [np.random.default_rng(int(hashlib.sha1(t.encode()).hexdigest()[:8], 16)).standard_normal(384)
                    for t in texts]
            return np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)
        def encode_query(self, text, *, alone=False):
            return self.encode([text])[0]

    def chunk(job):
        run_chunk(store, Slow(), job.payload, job.key + ":rest")
        with open(log, "a") as f:
            f.write(job.key + " " + str(os.getpid()) + "\\n")
        return "ok"

    open(log + f".ready.{os.getpid()}", "w").close()
    while not os.path.exists(log + ".go"):
        time.sleep(0.01)
    worker = Worker(store, {CHUNK_KIND: chunk}, lease=timedelta(seconds=lease))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until no chunk is left: a dead worker's claim goes stale meanwhile
        worker.drain()
        left = store.count_jobs(CHUNK_KIND)
        if not left.get("queued") and not left.get("running"):
            break
        time.sleep(0.1)
    """
)


def fill(store: Store, n: int) -> list[str]:
    papers = [paper(i, arxiv_id=f"2503.{i:05d}", abstract=f"Backfill paper number {i} about topic {i % 7}.")
              for i in range(n)]  # fmt: skip
    store.upsert_papers(papers)
    return [hashlib.sha1(paper_text(p.title, p.abstract).encode()).hexdigest() for p in papers]


def test_the_backlog_is_cut_into_chunks_and_planned_once_while_they_are_pending(store: Store) -> None:
    fill(store, 25)
    keys = sorted(store.paper_keys([f"2503.{i:05d}" for i in range(25)]).values())
    chunks = store.embedding_chunks(MODEL_ID, 10)
    assert chunks == [(0, keys[9]), (keys[9], keys[19]), (keys[19], keys[24])]
    assert plan_chunks(store, "embed:a", 10) == 3
    assert plan_chunks(store, "embed:b", 10) == 0  # chunks are pending: no paper goes into two
    assert store.count_jobs(CHUNK_KIND) == {"queued": 3}
    assert store.embedding_chunks(MODEL_ID, 100) == [(0, keys[24])]
    assert store.embedding_chunks("no-such-model", 10)[0] == (0, keys[9])
    vector = to_blob(np.ones(384, np.float32) / np.sqrt(384))
    rows = [EmbeddingRow(j.key, "h", j.paper_seq, vector) for j in store.embedding_jobs(MODEL_ID, 0, 100)]
    store.save_embeddings(MODEL_ID, rows)  # every paper embedded: nothing to plan
    assert store.embedding_chunks(MODEL_ID, 10) == []


@pytest.mark.parametrize(
    "payload",
    [{}, {"after": "0", "upto": 5}, {"after": 5, "upto": 5}, {"after": -1, "upto": 3}, {"after": 0, "upto": 1e9},
     {"after": [1], "upto": {"x": 1}}, {"after": 0, "upto": "9" * 5000}],
)  # fmt: skip
def test_a_garbage_chunk_is_refused_with_a_message_and_writes_nothing(store: Store, payload: dict[str, object]) -> None:
    fill(store, 3)
    with pytest.raises(BadRequest, match="after < upto"):
        run_chunk(store, object(), payload, "resume")  # type: ignore[arg-type]
    assert store.count_embeddings(MODEL_ID) == 0 and store.count_jobs(CHUNK_KIND) == {}


def test_chunks_yield_to_every_other_kind_of_job(store: Store) -> None:
    fill(store, 30)
    plan_chunks(store, "embed:a", 10)
    store.enqueue_job("send", "send:now", {}, T0 + timedelta(minutes=5))  # queued after the chunks were due
    now = datetime.now(UTC) + timedelta(minutes=10)
    first = store.claim_job("w", now, now - timedelta(minutes=10), ["send", CHUNK_KIND])
    assert first is not None and first.kind == "send"
    second = store.claim_job("w", now, now - timedelta(minutes=10), ["send", CHUNK_KIND])
    assert second is not None and second.kind == CHUNK_KIND


def test_three_workers_share_a_backfill_each_chunk_once_and_none_lost_when_one_is_killed(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    texts = fill(store, 48)
    assert plan_chunks(store, "embed:big", 4) == 12
    log = tmp_path / "chunks.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", SLOW_WORKER, store_url, str(log), "1.5"], stderr=subprocess.DEVNULL)
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("chunks.log.ready.*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    Path(f"{log}.go").touch()
    victim = procs[0]
    while time.monotonic() < deadline and not any(
        j.status == "running" and f":{victim.pid}:" in (j.locked_by or "") for j in store.list_jobs(100)
    ):
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)  # in the middle of a chunk
    for proc in procs[1:]:
        assert proc.wait(timeout=120) == 0
    victim.wait()

    assert store.embedding_backlog(MODEL_ID) == 0 and store.count_embeddings(MODEL_ID) == 48  # none lost
    finished = [line.split() for line in log.read_text().splitlines()]
    chunks = Counter(key.split(":rest")[0] for key, _ in finished)
    assert set(chunks.values()) == {1} and len(chunks) == 12  # each chunk finished once
    assert victim.pid not in {int(pid) for _, pid in finished}
    assert len({pid for _, pid in finished}) == 2  # the two survivors shared the rest
    encoded = Counter((tmp_path / "chunks.log.encoded").read_text().split())
    assert set(encoded) == set(texts)
    assert sum(n - 1 for n in encoded.values()) <= 4  # only the killed chunk's papers were encoded twice
    assert {j.status for j in store.list_jobs(100)} == {"done"}


def test_status_adds_up_the_rates_of_the_workers_embedding_now(store: Store) -> None:
    from paperfeed.status import _fresh_rates

    record_rate(store, 40.0, "int8", worker="a")
    record_rate(store, 30.0, "int8", worker="b")
    known = store.get_state(EMBED_STATE) or {}
    assert _fresh_rates(known, datetime.now(UTC)) == {"a": 40.0, "b": 30.0}
    assert _fresh_rates(known, datetime.now(UTC) + timedelta(minutes=11)) == {}  # stopped workers drop out
    store.set_state(EMBED_STATE, {"workers": {"x": {"rate": "fast", "at": "yesterday"}, "y": 3}})
    assert _fresh_rates(store.get_state(EMBED_STATE) or {}, datetime.now(UTC)) == {}  # garbage is ignored


def test_worker_processes_start_together_share_the_jobs_and_exit_together(store: Store, store_url: str,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    env = {**os.environ, "PAPERFEED_DATABASE_URL": store_url, "PAPERFEED_DATA_DIR": str(tmp_path)}
    env.pop("OMP_NUM_THREADS", None)
    command = [sys.executable, "-m", "paperfeed", "worker", "--once", "--kind", "refit", "--processes", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Starting 2 worker processes ({max(1, (os.cpu_count() or 1) // 2)} threads each)" in done.stderr
    refits = [j for j in store.list_jobs(50) if j.kind == "refit"]
    assert len(refits) == 1 and refits[0].status == "done"  # planned by both, run by one
    bad = subprocess.run([*command[:-1], "0"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--processes" in bad.stderr


def test_the_index_command_builds_the_files_the_web_processes_map(store: Store, store_url: str,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    from click.testing import CliRunner

    from paperfeed.cli import cli

    fill(store, 12)
    result = CliRunner().invoke(cli, ["--db", store_url, "index"], env={"PAPERFEED_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "Keyword index: 12 papers taken in; vectors: 0 taken in" in result.output
