"""The job queue and its workers, on each backend: a job planned by every worker is queued once, run by one
worker, retried after a failure, and taken over when its worker dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import present
from paperfeed.cli import cli
from paperfeed.config import load_settings
from paperfeed.errors import IngestError
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.search.embed import Vectors, paper_text
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store
from paperfeed.store.queue import Job
from paperfeed.tasks import jobs_in_process
from paperfeed.worker import Periodic, Worker

T0 = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)


def test_periodic_keys_name_the_period() -> None:
    hourly, tenth = Periodic("update"), Periodic("embed", every=timedelta(minutes=10))
    daily = Periodic("digest", daily_after_hour=7)
    assert hourly.key(T0) == hourly.key(T0 + timedelta(minutes=40)) == "update:2026-03-02T10:00"
    assert hourly.key(T0 + timedelta(minutes=43)) == "update:2026-03-02T11:00"
    assert tenth.key(T0) == "embed:2026-03-02T10:10"
    assert daily.key(T0.replace(hour=6)) is None
    assert daily.key(T0) == daily.key(T0.replace(hour=23)) == "digest:2026-03-02"


def test_a_key_is_queued_once_and_claimed_by_one_worker(store: Store) -> None:
    assert store.enqueue_job("probe", "probe:1", {"n": 1}, T0)
    assert not store.enqueue_job("probe", "probe:1", {"n": 2}, T0)  # planned again by another worker
    assert store.claim_job("w1", T0, T0 - timedelta(minutes=10), ["other"]) is None  # not a kind w1 runs
    job = present(store.claim_job("w1", T0, T0 - timedelta(minutes=10), ["probe"]))
    assert job == Job(job.id, "probe", "probe:1", {"n": 1}, 1)
    assert store.claim_job("w2", T0, T0 - timedelta(minutes=10), ["probe"]) is None
    assert store.renew_job(job.id, "w1", T0 + timedelta(minutes=5))
    later = T0 + timedelta(minutes=14)
    assert store.claim_job("w2", later, later - timedelta(minutes=10), ["probe"]) is None  # renewed: still w1's
    dead = T0 + timedelta(minutes=16)
    taken = store.claim_job("w2", dead, dead - timedelta(minutes=10), ["probe"])  # w1 stopped renewing: stale
    assert taken is not None and taken.attempts == 2
    assert not store.renew_job(job.id, "w1", dead)
    store.finish_job(job.id, "w1", dead)  # the old holder's word no longer counts
    assert store.list_jobs()[0].status == "running"
    store.finish_job(taken.id, "w2", dead)
    [record] = store.list_jobs()
    assert (record.status, record.attempts, record.locked_by) == ("done", 2, None)
    assert store.prune_jobs(dead + timedelta(seconds=1)) == 1
    assert store.list_jobs() == []


def test_a_failing_job_is_retried_with_backoff_then_marked_failed(store: Store) -> None:
    clock = [T0]
    runs: list[int] = []

    def flaky(job: Job) -> str:
        runs.append(job.attempts)
        raise IngestError("arXiv answered 503")

    worker = Worker(store, {"update": flaky}, (Periodic("update"),), clock=lambda: clock[0], max_attempts=3)
    assert worker.plan() == ["update:2026-03-02T10:00"]
    assert worker.plan() == []
    outcome = worker.run_one()
    assert outcome is not None and not outcome.ok and outcome.summary == "arXiv answered 503"
    assert worker.run_one() is None  # waits one minute
    clock[0] += timedelta(minutes=1)
    assert worker.run_one() is not None
    clock[0] += timedelta(minutes=1)
    assert worker.run_one() is None  # then two
    clock[0] += timedelta(minutes=1)
    assert worker.run_one() is not None
    clock[0] += timedelta(minutes=43)  # the third try failed for good; the next hour is a new job
    assert runs == [1, 2, 3]
    [record] = store.list_jobs(status="failed")
    assert record.last_error == "arXiv answered 503"
    assert worker.drain()[0].job.key == "update:2026-03-02T11:00"


def test_a_crashing_job_does_not_stop_the_worker(store: Store) -> None:
    worker = Worker(store, {"refit": lambda job: str(1 / 0)}, (Periodic("refit", daily_after_hour=0),),
                    max_attempts=1)  # fmt: skip
    [outcome] = worker.drain()
    assert outcome.summary == "ZeroDivisionError: division by zero"
    assert store.list_jobs()[0].status == "failed"


PROBE = textwrap.dedent(
    """
    import os, sys, time
    from paperfeed.store import open_store
    from paperfeed.worker import Worker
    store = open_store(sys.argv[1])
    log = sys.argv[2]
    open(log + f".ready.{os.getpid()}", "w").close()  # started: wait for the others before draining
    while not os.path.exists(log + ".go"):
        time.sleep(0.01)
    def probe(job):
        time.sleep(float(job.payload.get("sleep", 0.01)) if job.attempts == 1 else 0.01)  # a retry is quick
        with open(log, "a") as f:
            f.write(job.key + " " + str(os.getpid()) + "\\n")
        return "ok"
    Worker(store, {"probe": probe}, lease=__import__("datetime").timedelta(seconds=float(sys.argv[3]))).drain()
    """
)


def no_arxiv() -> PoliteClient:
    raise AssertionError("this test's jobs make no arXiv requests")


def _workers(url: str, log: Path, count: int, lease: float = 600) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes, released together once all have started (so that all of them compete)."""
    procs = [
        subprocess.Popen([sys.executable, "-c", PROBE, url, str(log), str(lease)], stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    deadline = time.monotonic() + 60
    while len(list(log.parent.glob(f"{log.name}.ready.*"))) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    Path(f"{log}.go").touch()
    return procs


def test_several_worker_processes_share_the_jobs_without_doing_one_twice(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    for n in range(60):
        store.enqueue_job("probe", f"probe:{n}", {}, T0)
    log = tmp_path / "done.log"
    procs = _workers(store_url, log, 3)
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    assert Counter(key for key, _ in lines) == {f"probe:{n}": 1 for n in range(60)}
    assert len({pid for _, pid in lines}) >= 2  # the work really was shared
    assert {r.status for r in store.list_jobs(100)} == {"done"}


def test_a_job_whose_worker_was_killed_is_taken_over(store: Store, store_url: str, tmp_path: Path) -> None:
    store.enqueue_job("probe", "probe:slow", {"sleep": 30}, T0)
    log = tmp_path / "done.log"
    [first] = _workers(store_url, log, 1, lease=1.5)
    deadline = time.monotonic() + 30
    while store.list_jobs()[0].status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert not log.exists()
    time.sleep(1.6)  # the dead worker's lease runs out
    [second] = _workers(store_url, log, 1, lease=1.5)
    assert second.wait(timeout=60) == 0
    [(key, pid)] = [line.split() for line in log.read_text().splitlines()]
    assert key == "probe:slow" and int(pid) == second.pid
    assert (store.list_jobs()[0].status, store.list_jobs()[0].attempts) == ("done", 2)


def test_the_worker_command_runs_due_jobs_and_the_jobs_command_lists_them(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_port_url: str
) -> None:
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", store_url)
    monkeypatch.setenv("PAPERFEED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", closed_port_url)  # arXiv unreachable: the update job fails
    monkeypatch.setenv("PAPERFEED_MAX_RETRIES", "0")
    result = CliRunner().invoke(cli, ["worker", "--once", "--kind", "update", "--kind", "embed", "--kind", "refit"])
    assert result.exit_code == 0, result.output
    assert "update:" in result.output and "FAILED" in result.output
    assert "embed:" in result.output and "0 chunks of up to 5,000 papers queued (0 papers to embed)" in result.output
    assert "refit:" in result.output and "too few to fit" in result.output
    listed = CliRunner().invoke(cli, ["jobs", "--status", "queued", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"kind":"update"' in listed.output.replace(" ", "")  # queued again for a retry
    assert "No failed jobs" in CliRunner().invoke(cli, ["jobs", "--status", "failed"]).output  # none for good
    assert "update:" in CliRunner().invoke(cli, ["jobs"]).output


def test_serve_runs_the_jobs_itself_on_sqlite_only(tmp_path: Path) -> None:
    on_sqlite = load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path)
    on_postgres = load_settings(database_url="postgresql://db.example/paperfeed", data_dir=tmp_path)
    assert jobs_in_process(on_sqlite) and not jobs_in_process(on_postgres)
    forced = load_settings(database_url="postgresql://db.example/paperfeed", data_dir=tmp_path, jobs_in_process=True)
    assert jobs_in_process(forced)


def test_a_worker_that_sends_digests_needs_the_secret_key(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", store_url)
    monkeypatch.delenv("PAPERFEED_SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["worker", "--once", "--kind", "send"])
    assert result.exit_code != 0
    assert "PAPERFEED_SECRET_KEY" in result.output


def test_the_worker_daemon_runs_jobs_and_stops_cleanly_on_sigterm(store: Store, store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PAPERFEED_DATABASE_URL": store_url, "PAPERFEED_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "paperfeed", "worker", "--kind", "refit", "--poll", "0.2"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not store.list_jobs(status="done") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.list_jobs(status="done")[0].kind == "refit"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "running refit" in output and "Stopping after the job in hand" in output
    assert "refit:" in output and "too few to fit" in output  # the job's line in the log


def test_a_long_embedding_backlog_goes_in_chunks_that_let_other_jobs_run(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed import tasks as jobs_module
    from paperfeed.recommend.serve import ForYou
    from paperfeed.search.embed import MODEL_ID, Embedder
    from paperfeed.search.embed_job import CHUNK_KIND
    from paperfeed.search.engine import SearchEngine
    from search_corpus import corpus

    monkeypatch.setattr(jobs_module, "EMBED_CHUNK", 4)
    papers = [replace(p, feed_date=date(2025, 1, 1) + timedelta(days=7 * n)) for n, p in enumerate(corpus()[:10])]
    store.upsert_papers(papers)  # a feed week each: the latest week (embedded by the job itself) holds one paper
    engine = SearchEngine(store, tmp_path / "index", Embedder())
    config = jobs_module.job_settings(load_settings(database_url="sqlite://", data_dir=tmp_path))
    every = jobs_module.handlers(store, engine, ForYou(store, engine), config, no_arxiv)
    ran = []

    def probe(job: Job) -> str:
        ran.append("probe")
        return "ok"

    worker = Worker(store, {"embed": every["embed"], CHUNK_KIND: every[CHUNK_KIND], "probe": probe})
    store.enqueue_job("embed", "embed:first", {}, T0)
    store.enqueue_job("probe", "probe:waiting", {}, T0)
    summaries = [o.summary for o in worker.drain()]
    assert summaries[0].startswith("1 papers of the latest feed week with MiniLM in ")
    assert summaries[0].endswith("; 3 chunks of up to 4 papers queued (9 papers to embed)")
    assert ran == ["probe"] and summaries[1] == "ok"  # the waiting job ran before the chunks
    assert [s.split(" papers")[0] for s in summaries[2:]] == ["4", "4", "1"]
    assert store.count_embeddings(MODEL_ID) == len(papers)


def test_each_tier_embeds_the_latest_feed_week_first(store: Store, tmp_path: Path, static: StaticEmbedder) -> None:
    """The provisional tier covers the papers of the latest feed week before the archive, and the embed job gives
    that week MiniLM itself, before it cuts the rest of the backlog into chunks."""
    from paperfeed import tasks as jobs_module
    from paperfeed.recommend.serve import ForYou
    from paperfeed.search.embed import MODEL_ID, Embedder
    from paperfeed.search.engine import SearchEngine
    from search_corpus import corpus

    latest = date(2025, 6, 30)
    papers = [replace(p, feed_date=latest - timedelta(days=3 * n)) for n, p in enumerate(corpus())]
    week = {p.arxiv_id for p in papers if p.feed_date and p.feed_date > latest - timedelta(days=7)}
    store.upsert_papers(papers[::-1])  # the newest papers get the highest keys: key order alone would do them last
    order: list[str] = []

    class Recording(StaticEmbedder):
        def encode(self, texts: Sequence[str]) -> Vectors:
            order.extend(texts)
            return super().encode(texts)

    engine = SearchEngine(store, tmp_path / "index", Embedder(), first_tier=Recording(static.path.parent))
    config = jobs_module.job_settings(load_settings(database_url="sqlite://", data_dir=tmp_path))
    every = jobs_module.handlers(store, engine, ForYou(store, engine), config, no_arxiv)
    store.enqueue_job("embed", "embed:first", {}, T0)
    [outcome] = Worker(store, {"embed": every["embed"]}).drain()  # the chunks stay queued: nobody runs them
    assert outcome.summary.startswith(f"{len(papers):,} provisional vectors in ")
    by_text = {paper_text(p.title, p.abstract): p.arxiv_id for p in papers}
    assert len(order) == len(papers) and {by_text[t] for t in order[: len(week)]} == week
    keys = store.paper_keys([p.arxiv_id for p in papers])
    engine.refresh()
    with_minilm = {arxiv_id for arxiv_id, key in keys.items() if engine.tiers.main.vector(key) is not None}
    assert with_minilm == week and store.count_embeddings(MODEL_ID) == len(week)


def test_enrichment_does_the_latest_week_and_leaves_the_rest_until_the_minilm_chunks_are_done(
    store: Store, tmp_path: Path, static: StaticEmbedder
) -> None:
    from paperfeed import tasks as jobs_module
    from paperfeed.enrich import METHOD
    from paperfeed.recommend.serve import ForYou
    from paperfeed.search.embed import Embedder
    from paperfeed.search.embed_job import CHUNK_KIND
    from paperfeed.search.engine import SearchEngine
    from search_corpus import corpus

    latest = date(2025, 6, 30)
    papers = [replace(p, feed_date=latest - timedelta(days=3 * n)) for n, p in enumerate(corpus()[:12])]
    store.upsert_papers(papers)
    week = sum(1 for p in papers if p.feed_date and p.feed_date > latest - timedelta(days=7))
    engine = SearchEngine(store, tmp_path / "index", Embedder())
    config = jobs_module.job_settings(load_settings(database_url="sqlite://", data_dir=tmp_path))
    every = jobs_module.handlers(store, engine, ForYou(store, engine), config, no_arxiv, enricher=static)
    store.enqueue_job(CHUNK_KIND, "embed-chunk:test:0", {"after": 0, "upto": 10**9}, T0 + timedelta(hours=1))
    store.enqueue_job("enrich", "enrich:first", {}, T0)
    [first] = Worker(store, {"enrich": every["enrich"]}).drain()
    assert first.summary == (
        f"{week} papers of the latest feed week enriched in {first.summary.split(' in ')[1].split(' s;')[0]} s; "
        f"the rest ({len(papers) - week} papers) waits for the MiniLM backlog"
    )
    assert store.count_enrichment_backlog(METHOD) == len(papers) - week
    later = [o.summary for o in Worker(store, {"enrich": every["enrich"], CHUNK_KIND: every[CHUNK_KIND]}).drain()]
    assert later[0].startswith(f"{len(papers)} papers embedded in ")  # the chunk, then the enrichment it queued
    assert later[1].endswith(f"{len(papers) - week} papers enriched in {later[1].split(' in ')[-1]}")
    assert store.count_enrichment_backlog(METHOD) == 0
