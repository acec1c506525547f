"""`paperfeed embed`: compute the embeddings that are missing or stale, batch by batch.

Incremental: only papers without an embedding, or written since theirs (and then only when the title or
abstract really changed; an upvote changes nothing). Resumable: each batch is saved in its own transaction,
so a killed run loses at most the batch in flight and the next run carries on from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from paperfeed.search.embed import MODEL_ID, Embedder, paper_text, text_hash, to_blob
from paperfeed.store import Store
from paperfeed.store.base import EmbeddingRow

EMBED_BATCH = 512  # papers per transaction: a few seconds of work, so a kill loses little


@dataclass
class EmbedReport:
    backlog: int = 0  # papers that needed a look when the run started
    embedded: int = 0
    unchanged: int = 0  # rewritten papers whose title and abstract were the same
    seconds: float = 0.0
    precision: str = ""

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def embed_papers(
    store: Store,
    embedder: Embedder,
    *,
    limit: int | None = None,
    batch: int = EMBED_BATCH,
    progress: Callable[[EmbedReport], None] | None = None,
) -> EmbedReport:
    """Embed every paper whose embedding is missing or stale (at most ``limit`` papers)."""
    started = time.monotonic()
    report = EmbedReport(backlog=store.embedding_backlog(MODEL_ID))
    after = 0
    while limit is None or report.embedded + report.unchanged < limit:
        room = batch if limit is None else min(batch, limit - report.embedded - report.unchanged)
        jobs = store.embedding_jobs(MODEL_ID, after, room)
        if not jobs:
            break
        hashes = [text_hash(j.title, j.abstract) for j in jobs]
        todo = [i for i, (j, h) in enumerate(zip(jobs, hashes, strict=True)) if h != j.stored_hash]
        vectors = embedder.encode([paper_text(jobs[i].title, jobs[i].abstract) for i in todo])
        blobs = dict(zip(todo, (to_blob(v) for v in vectors), strict=True))
        rows = [EmbeddingRow(j.key, hashes[i], j.paper_seq, blobs.get(i)) for i, j in enumerate(jobs)]
        store.save_embeddings(MODEL_ID, rows)
        report.embedded += len(todo)
        report.unchanged += len(jobs) - len(todo)
        report.seconds = time.monotonic() - started
        report.precision = embedder.precision or ""
        after = jobs[-1].key
        if progress is not None:
            progress(report)
    report.seconds = time.monotonic() - started
    return report
