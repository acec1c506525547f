"""`paperfeed embed`: compute the embeddings that are missing or stale, batch by batch, for one vector tier.

Two tiers (see :mod:`paperfeed.search.static_embed`): the first (a static model, thousands of papers a second)
fills only papers that have no vector at all; the second (MiniLM) replaces every other model's vector and any
vector older than its paper. Incremental: only papers without a vector of the tier, or written since theirs (and
then only when the title or abstract really changed; an upvote changes nothing). Resumable: each batch is saved
in its own transaction, so a killed run loses at most the batch in flight and the next run carries on from
there. ``should_stop`` is asked between batches (and between the slices of one, by a GivingWay encoder, which
then drops the batch), so a worker told to stop does so within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TypeVar

import numpy as np

from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.search.embed import (
    GPU_BATCH,
    MODEL_ID,
    RESOLVED,
    Embedder,
    Resolved,
    TextEncoder,
    Vectors,
    bf16_supported,
    paper_text,
    text_hash,
    to_blob,
)
from paperfeed.search.give_way import Interrupted
from paperfeed.store import Store
from paperfeed.store.base import EmbeddingRow

EMBED_BATCH = 512  # papers per transaction: a few seconds of MiniLM work, so a kill or a stop loses little
FIRST_TIER_BATCH = 4_096  # the static tier embeds a batch like this in about a second


@dataclass
class EmbedReport:
    backlog: int = 0  # papers that needed a look when the run started
    embedded: int = 0
    unchanged: int = 0  # rewritten papers whose title and abstract were the same
    seconds: float = 0.0
    precision: str = ""
    stopped: bool = False  # should_stop said so before the backlog was done

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def embed_papers(
    store: Store,
    embedder: TextEncoder,
    *,
    limit: int | None = None,
    batch: int | None = None,
    progress: Callable[[EmbedReport], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    keys: tuple[int, int] | None = None,
    since: date | None = None,
) -> EmbedReport:
    """Embed every paper whose vector of ``embedder``'s tier is missing or stale (at most ``limit`` papers;
    only keys in the range (after, upto] = ``keys`` when given: one chunk of a parallel backfill, whose backlog
    is then counted as the chunk's papers left; only papers of feed date ``since`` or later when given)."""
    started = time.monotonic()
    first_tier = embedder.model_id != MODEL_ID
    size = batch or (FIRST_TIER_BATCH if first_tier else EMBED_BATCH)
    after, upto = keys if keys is not None else (0, None)
    backlog = -1 if keys is not None else store.embedding_backlog(embedder.model_id, only_missing=first_tier)
    report = EmbedReport(backlog=backlog)
    while limit is None or report.embedded + report.unchanged < limit:
        if should_stop():
            report.stopped = True
            break
        room = size if limit is None else min(size, limit - report.embedded - report.unchanged)
        jobs = store.embedding_jobs(embedder.model_id, after, room, only_missing=first_tier, upto_key=upto, since=since)
        if not jobs:
            break
        hashes = [text_hash(j.title, j.abstract) for j in jobs]
        todo = [i for i, (j, h) in enumerate(zip(jobs, hashes, strict=True)) if h != j.stored_hash]
        try:
            vectors = embedder.encode([paper_text(jobs[i].title, jobs[i].abstract) for i in todo])
        except Interrupted:  # told to stop mid-batch (slow cores): this batch is embedded again next time
            report.stopped = True
            break
        blobs = dict(zip(todo, (to_blob(v) for v in vectors), strict=True))
        rows = [EmbeddingRow(j.key, hashes[i], j.paper_seq, blobs.get(i)) for i, j in enumerate(jobs)]
        store.save_embeddings(embedder.model_id, rows, replace=not first_tier)
        report.embedded += len(todo)
        report.unchanged += len(jobs) - len(todo)
        report.seconds = time.monotonic() - started
        report.precision = "cuda fp16" if getattr(embedder, "device", "cpu") == "cuda" else embedder.precision
        after = jobs[-1].key
        if progress is not None:
            progress(report)
    report.seconds = time.monotonic() - started
    if report.backlog < 0:
        report.backlog = report.embedded + report.unchanged
    return report


LATEST_DAYS = 7  # the latest feed week: what readers open first, so each tier embeds it before the rest


def latest_week(store: Store) -> date | None:
    """The first feed date of the latest feed week (None for an empty store)."""
    latest = store.latest_feed_date()
    return latest - timedelta(days=LATEST_DAYS - 1) if latest is not None else None


def embed_latest_first(
    store: Store, embedder: TextEncoder, *, everything: bool = True, should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[EmbedReport], None] | None = None,
) -> EmbedReport:  # fmt: skip
    """:func:`embed_papers` over the latest feed week, then (with ``everything``) over the rest: the papers of the
    daily and weekly feeds are searchable, and their pages find their neighbours, before the archive is done.
    The report adds both passes."""
    week = latest_week(store)
    recent = embed_papers(store, embedder, since=week, should_stop=should_stop, progress=progress)
    if week is None or not everything:
        return recent
    rest = embed_papers(store, embedder, should_stop=should_stop, progress=progress)
    return EmbedReport(recent.backlog, recent.embedded + rest.embedded, recent.unchanged + rest.unchanged,
                       recent.seconds + rest.seconds, rest.precision or recent.precision, rest.stopped)  # fmt: skip


CHUNK_KIND = "embed-chunk"  # one key range of the MiniLM backlog, claimed by one worker


def plan_chunks(store: Store, planner: str, size: int) -> int:
    """Queue the MiniLM backlog as chunks of ``size`` papers, one job each, that any worker (any process, any
    machine) claims; return how many were queued. Nothing is planned while chunks of an earlier plan are still
    queued or running (so no paper is in two chunks at once); a paper that goes stale later is in the next
    plan. ``planner``: the planning job's key, which makes each chunk's key unique."""
    if chunks_pending(store):
        return 0
    now, queued = datetime.now(UTC), 0
    for after, upto in store.embedding_chunks(MODEL_ID, size):
        queued += store.enqueue_job(CHUNK_KIND, f"{CHUNK_KIND}:{planner}:{after}", {"after": after, "upto": upto}, now)
    return queued


def chunks_pending(store: Store) -> bool:
    """Whether chunks of a MiniLM backfill are queued or running (on any worker)."""
    pending = store.count_jobs(CHUNK_KIND)
    return bool(pending.get("queued", 0) or pending.get("running", 0))


def run_chunk(
    store: Store, embedder: TextEncoder, payload: dict[str, object], resume_key: str, *,
    should_stop: Callable[[], bool] = lambda: False, progress: Callable[[EmbedReport], None] | None = None,
) -> EmbedReport:  # fmt: skip
    """Embed one chunk's papers (those still missing or stale). Stopped early (the worker is stopping), the rest
    is queued again as ``resume_key`` and starts where this one stopped, since saved batches are not redone."""
    after, upto = payload.get("after"), payload.get("upto")
    if not isinstance(after, int) or not isinstance(upto, int) or not 0 <= after < upto:
        raise BadRequest(f"an embed chunk needs integer keys 0 <= after < upto, not {after!r}, {upto!r}")
    report = embed_papers(store, embedder, keys=(after, upto), should_stop=should_stop, progress=progress)
    if report.stopped:
        store.enqueue_job(CHUNK_KIND, resume_key, {"after": after, "upto": upto}, datetime.now(UTC))
    return report


PATH_STATE = "embed:path"  # which arithmetic the self-check chose for this CPU (read by /api/status)
CHECK_TEXTS = 48
INT8_AGREEMENT = 0.98  # mean cosine to fp32's vectors below which int8 is never chosen (bench/embed_int8.py)


def choose_path(store: Store, embedder: Embedder) -> dict[str, object]:
    """Time MiniLM on a few of the store's abstracts in fp32, int8 and (where the CPU has bf16 matrix units;
    elsewhere it is emulated, and always slower) bf16, and embed documents with the fastest (when the precision
    is ``auto``); remembered in the store, so this runs once per instance. int8 is a candidate only when its
    vectors agree with fp32's (mean cosine at least INT8_AGREEMENT on those abstracts)."""
    if embedder.device == "cuda":
        return {"precision": "fp16", "device": "cuda", "reason": f"a CUDA GPU: fp16, batches of {GPU_BATCH}"}
    if embedder.requested != "auto":
        return {"precision": embedder.requested, "reason": "set by PAPERFEED_EMBED_PRECISION"}
    known = store.get_state(PATH_STATE)
    if known is None:
        jobs = store.embedding_jobs(MODEL_ID, 0, CHECK_TEXTS)
        if len(jobs) < 8:  # too few papers to time: decide later
            return {}
        texts = [paper_text(j.title, j.abstract) for j in jobs]
        candidates: list[Resolved] = ["fp32", "bf16"] if bf16_supported() else ["fp32"]
        try:
            embedder.encode(texts[:2], "int8")
            candidates.append("int8")
        except PaperfeedError:  # this torch cannot quantise: the other paths only
            pass
        timed = _rates(embedder, texts, candidates)
        agreement = float(np.mean(np.sum(timed["fp32"][1] * timed["int8"][1], axis=1))) if "int8" in timed else 0.0
        allowed = [p for p in timed if p != "int8" or agreement >= INT8_AGREEMENT]
        best = max(allowed, key=lambda p: timed[p][0])
        counts = sorted({embedder.threads(), max(1, embedder.threads() // 2)}, reverse=True)
        by_threads = _thread_rates(embedder, texts, best, counts) if len(counts) > 1 else {}
        processes, each = process_plan(by_threads, counts[0])
        known = {"precision": best, **{f"{p}_per_second": round(r, 1) for p, (r, _) in timed.items()},
                 "int8_agreement": round(agreement, 4), "threads_of": counts[0],
                 "threads": max(by_threads, key=lambda n: by_threads[n]) if by_threads else counts[0],
                 "per_second_by_threads": {str(n): round(r, 1) for n, r in by_threads.items()},
                 "processes": processes, "process_threads": each,
                 "at": datetime.now(UTC).isoformat()}  # fmt: skip
        store.set_state(PATH_STATE, known)
    if known.get("precision") in RESOLVED:
        embedder.requested = known["precision"]
    threads, of = known.get("threads"), known.get("threads_of")
    if isinstance(threads, int) and of == embedder.threads() and threads < embedder.threads():
        embedder.set_threads(threads)  # fewer was faster where the check ran with this many (another machine
        # or a worker started with other threads keeps its own)
    return known


CHECK_ROUNDS = 4
K = TypeVar("K")


def process_plan(by_threads: dict[int, float], cores: int) -> tuple[int, int]:
    """(processes, torch threads each) that embed a backfill fastest on ``cores`` threads, from one process's
    rates at each thread count: N processes of ``cores / N`` threads embed about N times the rate of one (their
    chunks are independent), so on a CPU where one thread does more than half of what two do, two one-thread
    processes beat one two-thread process (measured on a 2-core AMD EPYC: 52.9 against 37.1 abstracts/s in int8;
    docs/decisions.md). ``paperfeed worker`` starts that many processes for the chunks."""
    if not by_threads:
        return 1, cores
    best = max(by_threads, key=lambda n: by_threads[n] * max(1, cores // n))
    return max(1, cores // best), best


def embedding_plan(store: Store, threads: int) -> tuple[int, int] | None:
    """The self-check's (processes, threads each) for this instance's backfill, or None before it ran (also
    for a check remembered before plans were: worked out from its rates by thread count). A check that ran with
    other than ``threads`` (this machine's torch threads) timed another machine: one process of ``threads``."""
    known = store.get_state(PATH_STATE)
    if not known or "precision" not in known:
        return None
    if isinstance(known.get("threads_of"), int) and known["threads_of"] != threads:
        return 1, threads
    processes, each = known.get("processes"), known.get("process_threads")
    if isinstance(processes, int) and isinstance(each, int):
        return processes, each
    rates, cores = known.get("per_second_by_threads"), known.get("threads_of")
    if isinstance(rates, dict) and isinstance(cores, int):
        return process_plan({int(n): float(r) for n, r in rates.items()}, cores)
    return 1, threads


@contextmanager
def chunk_threads(store: Store, embedder: Embedder, share: bool) -> Iterator[None]:
    """While a backfill chunk is embedded by a worker that ``share``s this machine's cores with the helper
    processes of its self-check's plan (``paperfeed worker``), compute with the plan's threads each (fewer than
    this process's own: the helpers compute beside it); as is otherwise. The process's threads are restored."""
    before = embedder.threads()
    plan = embedding_plan(store, before) if share else None
    lower = plan is not None and plan[0] > 1 and 0 < plan[1] < before
    if lower and plan is not None:
        embedder.set_threads(plan[1])
    try:
        yield
    finally:
        if lower:
            embedder.set_threads(before)


def _thread_rates(embedder: Embedder, texts: list[str], path: Resolved, counts: list[int]) -> dict[int, float]:
    """``path``'s abstracts a second at each torch thread count of ``counts``, in turns as in :func:`_rates`
    (more threads than a machine's free cores, or than its memory bandwidth feeds, can be slower); torch's
    thread count is restored."""

    def at(count: int) -> Callable[[list[str]], Vectors]:
        def run(chunk: list[str]) -> Vectors:
            embedder.set_threads(count)
            return embedder.encode(chunk, path)

        return run

    before = embedder.threads()
    try:
        timed = _in_turns(texts, {count: at(count) for count in counts})
    finally:
        embedder.set_threads(before)
    return {count: rate for count, (rate, _) in timed.items()}


def _rates(embedder: Embedder, texts: list[str], paths: list[Resolved]) -> dict[Resolved, tuple[float, Vectors]]:
    """Each path's abstracts a second (after a warm-up) and its vectors of ``texts``."""
    for path in paths:
        embedder.encode(texts[:4], path)  # load and warm up
    return _in_turns(texts, {path: partial(embedder.encode, precision=path) for path in paths})


def _in_turns(texts: list[str], runs: dict[K, Callable[[list[str]], Vectors]]) -> dict[K, tuple[float, Vectors]]:
    """Each run's texts a second and its vectors of ``texts`` (in order). The runs take turns on a quarter of the
    texts at a time and each keeps its best turn: a burst of other work on the machine (the first requests of a
    new site) then slows one turn, not one run (timed one after the other, a load that began half-way once made
    fp32 look four times faster than int8)."""
    best = dict.fromkeys(runs, 0.0)
    parts: dict[K, list[Vectors]] = {name: [] for name in runs}
    for turn in range(CHECK_ROUNDS):
        chunk = texts[turn::CHECK_ROUNDS]
        for name, run in runs.items():
            started = time.perf_counter()
            parts[name].append(run(chunk))
            best[name] = max(best[name], len(chunk) / (time.perf_counter() - started))
    order = np.argsort(np.concatenate([np.arange(len(texts))[turn::CHECK_ROUNDS] for turn in range(CHECK_ROUNDS)]))
    return {name: (best[name], np.concatenate(parts[name])[order]) for name in runs}
