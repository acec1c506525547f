"""Imports and fetches: items in batches into the store, with a checkpoint saved in each batch's transaction.

A kill at any moment leaves the store at the end of some batch, with the checkpoint saying where that was;
running the same import again resumes there. Upserts are idempotent, so re-reading records never duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from paperfeed.errors import BadRequest, BadResumptionToken, IngestError
from paperfeed.ingest import arxiv_api, oai_pmh
from paperfeed.ingest.chunks import ReaderMode, reader_for
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.ingest.files import inspect_file
from paperfeed.ingest.records import Item, Parsed, Skipped
from paperfeed.models import Paper
from paperfeed.store import PreparedBatch, Store

MAX_SKIPPED_KEPT = 1000
EMPTY_PAGE_RETRIES = 3  # the arXiv API now and then answers a page with no entries; asking again helps


@dataclass
class ImportReport:
    """What an import or fetch did. ``skipped_samples`` keeps the first MAX_SKIPPED_KEPT skipped records."""

    source: str
    format: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    resumed_from: int = 0
    requests: int = 0
    seconds: float = 0.0
    complete: bool = False
    skipped_samples: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def skip(self, item: Skipped) -> None:
        self.skipped += 1
        if len(self.skipped_samples) < MAX_SKIPPED_KEPT:
            self.skipped_samples.append(item)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "records": self.records,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "resumed_from": self.resumed_from,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
            "skipped_records": [{"position": s.position, "reason": s.reason} for s in self.skipped_samples],
            "notes": self.notes,
        }


Progress = Callable[[ImportReport, int, int | None], None]  # report, units done, units in all (if known)


class BatchWriter:
    """Collects papers and writes them batch by batch, each batch together with its checkpoint."""

    def __init__(
        self,
        store: Store,
        report: ImportReport,
        batch_size: int,
        state_key: str | None,
    ) -> None:
        self.store, self.report, self.batch_size, self.state_key = store, report, batch_size, state_key
        self.pending: list[Paper] = []

    def add(self, items: Sequence[Item]) -> None:
        """Queue the papers among ``items`` for the next flush and count the skipped ones."""
        self.skip_from(items)
        self.pending.extend(item.paper for item in items if isinstance(item, Parsed))

    def skip_from(self, items: Iterable[Item]) -> None:
        """Count the skipped records among ``items`` (their papers may arrive already prepared)."""
        for item in items:
            if isinstance(item, Skipped):
                self.report.skip(item)

    def flush(self, state: dict[str, Any], prepared: PreparedBatch | None = None) -> None:
        """Write the pending papers (or ``prepared``) with ``state`` as the checkpoint, in one transaction."""
        batch = prepared if prepared is not None else self.pending
        result = self.store.upsert_papers(batch, state_key=self.state_key, state=state)
        self.report.inserted += result.inserted
        self.report.updated += result.updated
        self.report.unchanged += result.unchanged
        self.pending = []


def import_file(
    store: Store,
    path: str | Path,
    *,
    fmt: str | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
    reader: ReaderMode = "auto",
) -> ImportReport:
    """Import a papers file (format detected unless ``fmt`` is given), resuming an interrupted run.

    ``reader``: where the file is parsed, beside the writer (see paperfeed.ingest.chunks); "auto" reads a
    large file in a process of its own and a small one in a thread."""
    started = time.monotonic()
    source = inspect_file(path, fmt)
    key = f"import:{source.fingerprint}"
    saved = store.get_state(key) or {}
    report = ImportReport(str(source.path), source.format, resumed_from=int(saved.get("position", 0)))
    writer = BatchWriter(store, report, batch_size, key)
    read = reader_for(source, reader)
    kept = report.resumed_from
    try:
        # the reader stops (closing) before the deferred index is built (bulk_load's exit)
        with store.bulk_load() as deferred, closing(read(source, kept, batch_size, store.preparer())) as chunks:
            for chunk in chunks:
                writer.skip_from(chunk.skipped)
                kept = chunk.last
                writer.flush({"position": kept, "path": str(source.path), "format": source.format}, chunk.prepared)
                if progress is not None:
                    progress(report, chunk.offset, source.size)
            built = time.monotonic()
        if deferred:
            seconds = time.monotonic() - built
            report.notes.append(f"a first load: the author index was built once at the end ({seconds:.1f} s)")
    except IngestError as exc:
        raise IngestError(
            f"{exc.message}. The complete batches before the damage are kept (records 1 to {kept:,}: "
            f"{report.records:,} papers written now); the rest of the file was not imported. Importing a "
            "complete copy of the file adds what is missing, duplicating nothing."
        ) from exc
    store.delete_state(key)  # finished: a later import of the same file reads it all again (a no-op pass)
    report.complete = True
    report.seconds = time.monotonic() - started
    return report


# -- arXiv Atom API ------------------------------------------------------------------------------------


@dataclass
class ArxivFetch:
    """One fetch of the arXiv API: which categories, which submitted-date days, how pages are sized."""

    api_url: str
    categories: Sequence[str]
    since: date
    until: date
    page_size: int = arxiv_api.MAX_PAGE
    max_per_query: int = arxiv_api.MAX_PER_QUERY
    chunk_days: int = 7

    @property
    def state_key(self) -> str:
        return f"arxiv:{','.join(sorted(self.categories))}:{self.since}:{self.until}"


UPDATE_STATE = "arxiv:last-update"


def update_plan(store: Store, api_url: str, categories: Sequence[str], today: date, days: int = 3) -> ArxivFetch:
    """What `paperfeed update` (and the worker's update job) fetches: from the day before the last update to
    today, or the last ``days`` days on a first run."""
    last = store.get_state(UPDATE_STATE)
    since = date.fromisoformat(last["until"]) - timedelta(days=1) if last else today - timedelta(days=days)
    return ArxivFetch(api_url, categories, since, today)


def _chunks(window: arxiv_api.Window, days: int) -> list[arxiv_api.Window]:
    chunks, start = [], window.start
    while start <= window.end:
        end = min(start + timedelta(days=days) - timedelta(minutes=1), window.end)
        chunks.append(arxiv_api.Window(start, end))
        start = end + timedelta(minutes=1)
    return chunks


def update(
    store: Store,
    client: PoliteClient,
    plan: ArxivFetch,
    today: date,
    *,
    progress: Progress | None = None,
    batch_size: int = 1000,
) -> ImportReport:
    """The update use case, shared by `paperfeed update` and the worker's ``update`` job: fetch ``plan`` (see
    :func:`update_plan`) and record that the feed is up to date as of ``today``."""
    report = fetch_arxiv(store, client, plan, progress=progress, batch_size=batch_size)
    store.set_state(UPDATE_STATE, {"until": today.isoformat()})
    return report


def fetch_arxiv(
    store: Store,
    client: PoliteClient,
    plan: ArxivFetch,
    *,
    progress: Progress | None = None,
    batch_size: int = 1000,
) -> ImportReport:
    """Fetch every paper of ``plan`` from the Atom API into the store; resumes an interrupted fetch."""
    started = time.monotonic()
    arxiv_api.search_query(plan.categories, arxiv_api.Window.days(plan.since, plan.until))  # validate early
    report = ImportReport(plan.api_url, "arxiv-atom")
    writer = BatchWriter(store, report, batch_size, plan.state_key)
    saved = store.get_state(plan.state_key)
    whole = arxiv_api.Window.days(plan.since, plan.until)
    queue: list[tuple[arxiv_api.Window, int]] = []
    if saved:  # finish the window we were in, then the rest
        resumed = arxiv_api.Window(datetime.fromisoformat(saved["start"]), datetime.fromisoformat(saved["end"]))
        report.resumed_from = int(saved["offset"])
        queue.append((resumed, report.resumed_from))
        whole = arxiv_api.Window(resumed.end + timedelta(minutes=1), whole.end)
    queue += [(chunk, 0) for chunk in _chunks(whole, plan.chunk_days)]
    for window, offset in queue:
        _fetch_window(client, plan, window, offset, writer, progress)
    store.delete_state(plan.state_key)
    report.requests = client.requests
    report.complete = True
    report.seconds = time.monotonic() - started
    return report


def _get_page(client: PoliteClient, plan: ArxivFetch, window: arxiv_api.Window, start: int) -> arxiv_api.AtomPage:
    params = arxiv_api.query_params(arxiv_api.search_query(plan.categories, window), start, plan.page_size)
    page = arxiv_api.parse_atom(client.get(plan.api_url, params), first_position=start + 1)
    for _ in range(EMPTY_PAGE_RETRIES):
        if page.items or start >= page.total:
            break
        page = arxiv_api.parse_atom(client.get(plan.api_url, params), first_position=start + 1)
    return page


def _fetch_window(
    client: PoliteClient,
    plan: ArxivFetch,
    window: arxiv_api.Window,
    start: int,
    writer: BatchWriter,
    progress: Progress | None,
) -> None:
    page = _get_page(client, plan, window, start)
    if page.total > plan.max_per_query and start == 0 and window.splittable:
        for half in window.halves():
            _fetch_window(client, plan, half, 0, writer, progress)
        return
    limit = min(page.total, plan.max_per_query)
    while True:
        writer.add(page.items)
        start += len(page.items)
        state = {"start": window.start.isoformat(), "end": window.end.isoformat(), "offset": start}
        writer.flush(state)
        if progress is not None:
            progress(writer.report, writer.report.records, None)
        if not page.items or start >= limit:
            if not page.items and start < limit:
                writer.report.notes.append(f"arXiv returned no entries at {start} of {limit} for {window}")
            return
        page = _get_page(client, plan, window, start)


# -- OAI-PMH -------------------------------------------------------------------------------------------


def harvest_oai(
    store: Store,
    client: PoliteClient,
    *,
    url: str,
    set_spec: str,
    from_date: date | None = None,
    until: date | None = None,
    progress: Progress | None = None,
    batch_size: int = 1000,
) -> ImportReport:
    """ListRecords for ``set_spec`` from ``from_date`` (else from the last harvest's response date)."""
    started = time.monotonic()
    last_key, run_key = f"oai:{set_spec}", f"oai-run:{set_spec}"
    if from_date is None:
        last = store.get_state(last_key)
        if not last:
            raise BadRequest(f"--from is required for the first harvest of set {set_spec!r}")
        from_date = date.fromisoformat(last["response_date"][:10])
    report = ImportReport(url, "oai-pmh")
    writer = BatchWriter(store, report, batch_size, run_key)
    run = store.get_state(run_key) or {}
    token = run.get("token") if run.get("from") == from_date.isoformat() else None
    response_date: str | None = run.get("response_date") if token else None
    report.resumed_from = int(run.get("position", 0)) if token else 0
    position = report.resumed_from
    fresh = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": set_spec, "from": from_date.isoformat()}
    if until is not None:
        fresh["until"] = until.isoformat()
    restarted = False
    while True:
        params = {"verb": "ListRecords", "resumptionToken": token} if token else fresh
        try:
            page = oai_pmh.parse_oai(client.get(url, params), first_position=position + 1)
        except BadResumptionToken:
            if not token or restarted:
                raise
            # an expired token: start the harvest over once (upserts make the re-read harmless)
            report.notes.append("resumption token expired; harvest restarted from the beginning")
            token, position, restarted = None, 0, True
            continue
        response_date = response_date or page.response_date
        report.deleted += page.deleted
        writer.add(page.items)
        position += len(page.items) + page.deleted
        token = page.resumption_token
        state = {
            "from": from_date.isoformat(),
            "token": token,
            "response_date": response_date,
            "position": position,
        }
        writer.flush(state)
        if progress is not None:
            progress(report, position, page.complete_list_size)
        if not token:
            break
    store.set_state(last_key, {"response_date": response_date or datetime.now(UTC).isoformat()})
    store.delete_state(run_key)
    report.requests = client.requests
    report.complete = True
    report.seconds = time.monotonic() - started
    return report


def fetch_one(client: PoliteClient, api_url: str, arxiv_id: str) -> Paper | None:
    """One paper's metadata from the arXiv API by id (``id_list``), or None when arXiv has no such paper."""
    page = arxiv_api.parse_atom(client.get(api_url, {"id_list": arxiv_id, "max_results": 1}))
    for item in page.items:
        if isinstance(item, Parsed) and item.paper.arxiv_id == arxiv_id:
            return item.paper
    return None
