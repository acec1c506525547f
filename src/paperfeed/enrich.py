"""Enrichment: what paperfeed computes from each paper's own text when it is imported or changes, and keeps:
its code repository and project page (paperfeed.ingest.links), key phrases and the abstract's most central
sentence (paperfeed.search.keyphrases), and whether it was withdrawn. The ``enrich`` job (and `paperfeed
enrich`) works through the backlog in batches, each saved in one transaction, so it resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from paperfeed.ingest.links import is_withdrawn, paper_links
from paperfeed.models import Enrichment, Paper
from paperfeed.search.embed import TextEncoder
from paperfeed.search.give_way import Pacer
from paperfeed.search.keyphrases import extract
from paperfeed.store import Store

BATCH = 256
METHOD = ":2"  # one more whenever the method changes: every paper is then enriched again, in the background


@dataclass(frozen=True, slots=True)
class EnrichReport:
    enriched: int
    left: int
    seconds: float
    stopped: bool = False

    @property
    def rate(self) -> float:
        return self.enriched / self.seconds if self.seconds > 0 else 0.0


def enrich_batch(encoder: TextEncoder, batch: list[Paper]) -> list[Enrichment]:
    """The enrichment of each paper, in order (no I/O but the encoder)."""
    extracted = extract(encoder, [(p.title, p.abstract) for p in batch])
    out = []
    for paper, found in zip(batch, extracted, strict=True):
        links = paper_links(paper.abstract, paper.comment)
        withdrawn = None
        if is_withdrawn(paper.abstract, paper.comment):  # the version that says so is the latest one
            withdrawn = paper.latest_version_at or paper.first_version_at
        out.append(Enrichment(links.code, links.project, found.keywords, found.summary, withdrawn))
    return out


def enrich_papers(
    store: Store,
    encoder: TextEncoder,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
    pacer: Pacer | None = None,
    since: date | None = None,
) -> EnrichReport:
    """Enrich up to ``limit`` papers of the backlog (all when None; only those of feed date ``since`` or later
    when given); ``progress(done, total)`` after each batch. Stops between batches when ``should_stop()``; each
    batch is a step of ``pacer`` when given (it gives way to busy readers)."""
    total = store.count_enrichment_backlog(METHOD, since)
    goal = total if limit is None else min(limit, total)
    started, done, after, stopped = time.perf_counter(), 0, 0, False
    while done < goal:
        if should_stop():
            stopped = True
            break
        batch = store.enrichment_backlog(min(BATCH, goal - done), after=after, method=METHOD, since=since)
        if not batch:
            break
        papers = [p for _, p in batch]
        computed = pacer.run(partial(enrich_batch, encoder, papers)) if pacer else enrich_batch(encoder, papers)
        store.save_enrichments([(key, e) for (key, _), e in zip(batch, computed, strict=True)], METHOD)
        done, after = done + len(batch), batch[-1][0]
        if progress is not None:
            progress(done, goal)
    return EnrichReport(done, max(total - done, 0), time.perf_counter() - started, stopped)
