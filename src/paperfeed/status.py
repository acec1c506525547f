"""How far a (new) instance has come: papers, vectors per tier, enrichment, the keyword index, the job queue and
the last update, with a sentence a reader understands. Shared by ``/api/status``, ``paperfeed stats`` and the
search page.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from paperfeed.enrich import METHOD as ENRICH_METHOD
from paperfeed.search.embed import MODEL_ID
from paperfeed.search.embed_job import CHUNK_KIND, PATH_STATE
from paperfeed.search.engine import SearchEngine
from paperfeed.search.static_embed import STATIC_ID
from paperfeed.store import Store

EMBED_STATE = "embed:progress"  # each worker's latest MiniLM rate, written after each batch
FRESH = timedelta(minutes=10)  # a worker's rate counts this long after its last batch


@dataclass(frozen=True, slots=True)
class Vectors:
    """Papers by the vector they have: full quality (MiniLM), provisional (first tier), none yet."""

    papers: int
    full: int
    provisional: int

    @property
    def none(self) -> int:
        return max(self.papers - self.full - self.provisional, 0)

    @property
    def covered(self) -> float:
        """Share of papers that semantic search reaches (either tier)."""
        return (self.full + self.provisional) / self.papers if self.papers else 1.0


@dataclass(frozen=True, slots=True)
class Status:
    papers: int
    vectors: Vectors
    keyword_lag: bool  # the keyword index has writes to take in (it does so before the next search)
    jobs: dict[str, int]  # queued, running, done, failed
    last_update: datetime | None  # the last arXiv update that succeeded
    last_update_error: str | None  # the latest update's error, while it fails (retrying or given up)
    embed_rate: float | None  # MiniLM papers per second, as measured by the embedding job
    embed_path: dict[str, object]  # what the self-check chose ({} before it ran)
    minutes_left: float | None  # until every paper has its MiniLM vector, at embed_rate
    enrich_backlog: int = 0  # papers whose code links, key phrases and summary are not computed (or are stale)
    chunks: dict[str, int] = field(default_factory=dict)  # the MiniLM backfill's chunk jobs by state
    embedding_workers: int = 0  # workers that embedded a batch in the last FRESH

    @property
    def summary(self) -> str:
        """One sentence on semantic search's coverage, for a reader."""
        v = self.vectors
        if v.papers == 0:
            return "No papers yet: import some (`paperfeed import`) or wait for the first arXiv update."
        if v.full == v.papers:
            return f"Semantic search covers all {v.papers:,} papers at full quality."
        said = f"Semantic search covers {v.covered:.0%} of papers ({v.full / v.papers:.0%} at full quality)"
        if self.minutes_left is not None:
            return f"{said}; full quality in about {_minutes(self.minutes_left)}."
        return f"{said}; the worker is computing the rest."


def status(store: Store, engine: SearchEngine) -> Status:
    """The instance's state now (a handful of indexed queries)."""
    papers = store.total_papers()
    vectors = Vectors(papers, store.count_embeddings(MODEL_ID), store.count_embeddings(STATIC_ID))
    rates = _fresh_rates(store.get_state(EMBED_STATE) or {}, datetime.now(UTC))
    rate = sum(rates.values()) or None  # the workers together
    left = (papers - vectors.full) / rate / 60 if rate and papers > vectors.full else None
    done, latest = store.last_job("update", "done"), store.last_job("update")
    error = latest.last_error if latest is not None and latest.status != "done" else None  # failing, or retrying
    return Status(
        papers=papers, vectors=vectors, keyword_lag=engine.keyword.pending(store), jobs=store.count_jobs(),
        last_update=done.finished_at if done is not None else None, last_update_error=error, embed_rate=rate,
        embed_path=store.get_state(PATH_STATE) or {}, minutes_left=left,
        enrich_backlog=store.count_enrichment_backlog(ENRICH_METHOD), chunks=store.count_jobs(CHUNK_KIND),
        embedding_workers=len(rates),
    )  # fmt: skip


def record_rate(store: Store, rate: float, precision: str, worker: str | None = None) -> None:
    """Remember this worker's measured MiniLM rate (the time left sums the workers'). Several workers write
    the one record; one that loses a race writes again after its next batch."""
    if rate <= 0:
        return
    now = datetime.now(UTC)
    known = store.get_state(EMBED_STATE) or {}
    workers = {name: entry for name, entry in (known.get("workers") or {}).items()
               if isinstance(entry, dict) and name in _fresh_rates(known, now)}  # fmt: skip
    workers[worker or f"{socket.gethostname()}:{os.getpid()}"] = {"rate": rate, "at": now.isoformat()}
    store.set_state(EMBED_STATE, {"precision": precision, "at": now.isoformat(), "workers": workers})


def _fresh_rates(known: dict[str, object], now: datetime) -> dict[str, float]:
    """Each worker's rate, of those that embedded within FRESH."""
    out: dict[str, float] = {}
    workers = known.get("workers")
    for name, entry in (workers if isinstance(workers, dict) else {}).items():
        try:
            if now - datetime.fromisoformat(entry["at"]) <= FRESH and float(entry["rate"]) > 0:
                out[str(name)] = float(entry["rate"])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _minutes(minutes: float) -> str:
    if minutes < 1.5:
        return "a minute"
    if minutes < 90:
        return f"{minutes:.0f} minutes"
    return f"{minutes / 60:.1f} hours"


def status_dict(s: Status) -> dict[str, object]:
    """The native API's shape of a Status (camelCase, as every native answer)."""
    v = s.vectors
    return {
        "papers": s.papers,
        "vectors": {
            "fullQuality": v.full,
            "provisional": v.provisional,
            "none": v.none,
            "covered": round(v.covered, 4),
        },
        "keywordIndexBehind": s.keyword_lag,
        "jobs": {state: s.jobs.get(state, 0) for state in ("queued", "running", "done", "failed")},
        "lastUpdate": s.last_update.isoformat() if s.last_update else None,
        "lastUpdateError": s.last_update_error,
        "embedRate": round(s.embed_rate, 2) if s.embed_rate else None,
        "embedPath": {_camel(k): value for k, value in s.embed_path.items()},
        "minutesLeft": round(s.minutes_left, 1) if s.minutes_left is not None else None,
        "enrichment": {"done": max(s.papers - s.enrich_backlog, 0), "waiting": s.enrich_backlog},
        "backfill": {
            "chunks": {state: s.chunks.get(state, 0) for state in ("queued", "running", "done", "failed")},
            "embeddingWorkers": s.embedding_workers,
        },
        "summary": s.summary,
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
