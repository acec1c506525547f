"""`paperfeed worker --processes auto` (the default): one worker, and the helper processes for the backfill's
chunks that the embedding self-check found faster on this CPU; chunks then compute with the plan's threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paperfeed.search.embed import Embedder
from paperfeed.search.embed_job import PATH_STATE, chunk_threads, embedding_plan, process_plan
from paperfeed.store import Store

# what the self-check remembered on a 2-core AMD EPYC (int8: one thread does more than half of what two do)
EPYC = {"precision": "int8", "int8_per_second": 47.1, "threads_of": 2, "threads": 2,
        "per_second_by_threads": {"2": 40.9, "1": 26.5}}  # fmt: skip


def test_the_plan_takes_the_process_count_that_embeds_the_most() -> None:
    assert process_plan({2: 40.9, 1: 26.5}, 2) == (2, 1)  # 53 a second in two processes against 40.9 in one
    assert process_plan({2: 60.0, 1: 26.5}, 2) == (1, 2)  # the second thread more than doubles: one process
    assert process_plan({16: 100.0, 8: 60.0}, 16) == (2, 8)
    assert process_plan({}, 4) == (1, 4)  # nothing timed (a GPU, or a precision the admin set): one process


def test_the_plan_is_remembered_with_the_self_check_or_worked_out_from_an_older_one(store: Store) -> None:
    assert embedding_plan(store, 2) is None  # the check has not run: undecided
    store.set_state(PATH_STATE, EPYC)  # remembered before plans were: from its rates
    assert embedding_plan(store, 2) == (2, 1)
    assert embedding_plan(store, 8) == (1, 8)  # timed on another machine (PostgreSQL): not this one's plan
    store.set_state(PATH_STATE, {**EPYC, "processes": 1, "process_threads": 2})
    assert embedding_plan(store, 2) == (1, 2)
    store.set_state(PATH_STATE, {"precision": "fp16", "device": "cuda"})  # a GPU: one process
    assert embedding_plan(store, 1) == (1, 1)


def test_a_chunk_takes_the_plans_threads_only_beside_helpers(store: Store) -> None:
    embedder = Embedder()
    before = embedder.threads()
    embedder.set_threads(2)
    try:
        store.set_state(PATH_STATE, {**EPYC, "processes": 2, "process_threads": 1})
        with chunk_threads(store, embedder, share=True):
            assert embedder.threads() == 1  # a helper computes beside it
        assert embedder.threads() == 2  # restored for the jobs that run alone
        with chunk_threads(store, embedder, share=False):  # `--processes 1` or `serve`: no helpers
            assert embedder.threads() == 2
        store.set_state(PATH_STATE, {**EPYC, "processes": 1, "process_threads": 2})
        with chunk_threads(store, embedder, share=True):
            assert embedder.threads() == 2
    finally:
        embedder.set_threads(before)


def _wait_for(log: Path, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        said = log.read_text()
        if text in said:
            return said
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not said within {timeout} s:\n{log.read_text()}")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_auto_starts_helpers_once_the_self_check_decides_and_stops_them_all(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PAPERFEED_DATABASE_URL": store_url, "PAPERFEED_DATA_DIR": str(tmp_path),
           "PAPERFEED_DIGEST_SCHEDULE": "false", "PAPERFEED_UPDATE_EVERY_MINUTES": "0",
           "PAPERFEED_EMBED_EVERY_MINUTES": "0"}  # fmt: skip
    env.pop("OMP_NUM_THREADS", None)
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        parent = subprocess.Popen([sys.executable, "-m", "paperfeed", "worker", "--poll", "0.5"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        said = _wait_for(log, "Ctrl-C to stop")  # the lead runs, with every kind of job
        assert said.count("Ctrl-C to stop") == 1 and "running update, embed, embed-chunk" in said
        here = os.cpu_count() or 1  # the check ran on this machine, with its cores
        store.set_state(PATH_STATE, {**EPYC, "threads_of": here, "processes": 2, "process_threads": 1})
        _wait_for(log, "2 processes of 1 threads; starting 1 helper for the backfill's chunks", timeout=30)
        said = _wait_for(log, "running embed-chunk; Ctrl-C")  # the helper runs chunks only
        assert said.count("Ctrl-C to stop") == 2
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=20) == 0
        assert log.read_text().count("Stopping after the job in hand") == 2  # both were told
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_processes_says_what_it_takes(store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PAPERFEED_DATABASE_URL": store_url, "PAPERFEED_DATA_DIR": str(tmp_path)}
    bad = subprocess.run([sys.executable, "-m", "paperfeed", "worker", "--processes", "many"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "'many' is neither auto nor a whole number from 1 to 64" in bad.stderr
