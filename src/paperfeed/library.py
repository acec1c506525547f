"""A reader's library: private notes on papers, "mark as read" (and feeds that hide what was read), exports of a
collection or of everything saved as BibTeX, RIS and CSL-JSON, and imports of BibTeX or RIS files into a
collection (papers matched by arXiv id, DOI or exact title, as the cold start does; the rest listed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson
import rispy

from paperfeed import export, feed, reader_actions, seed
from paperfeed.errors import BadRequest
from paperfeed.models import Collection, Paper, User
from paperfeed.search.keyword_shards import KeywordSearch
from paperfeed.store import Store
from paperfeed.store.library import Note

MAX_NOTE = 20_000
ExportFormat = Literal["bib", "ris", "json"]
TYPES: dict[ExportFormat, str] = {
    "bib": "application/x-bibtex; charset=utf-8",
    "ris": "application/x-research-info-systems; charset=utf-8",
    "json": "application/vnd.citationstyles.csl+json",
}


def parse_format(value: str) -> ExportFormat:
    for choice in TYPES:
        if value == choice:
            return choice
    raise BadRequest("format must be bib (BibTeX), ris (RIS) or json (CSL-JSON)")


def note(store: Store, user: User, raw_id: str, body: str) -> Note | None:
    """Write the reader's private note on a paper (Markdown; an empty one deletes it)."""
    body = body.strip()
    if len(body) > MAX_NOTE:
        raise BadRequest(f"body must be at most {MAX_NOTE:,} characters (got {len(body):,})")
    html = reader_actions.render_markdown(body) if body else ""
    return store.set_note(user.id, feed.arxiv_id(raw_id), body, html, datetime.now(UTC))


def mark_read(store: Store, user: User, raw_id: str, read: bool) -> str:
    arxiv_id = feed.arxiv_id(raw_id)
    store.set_read(user.id, arxiv_id, read, datetime.now(UTC))
    return arxiv_id


def unread(store: Store, user: User | None, papers: list[Paper]) -> tuple[list[Paper], int]:
    """The papers the reader has not marked read, and how many were left out."""
    if user is None:
        return papers, 0
    done = store.read_ids(user.id, [p.arxiv_id for p in papers])
    return [p for p in papers if p.arxiv_id not in done], len(done)


def ris(papers: Sequence[Paper]) -> str:
    """RIS records (rispy writes them), one per paper."""
    records = []
    for p in papers:
        year = p.first_version_at.year if p.first_version_at else p.feed_date.year if p.feed_date else None
        record: dict[str, object] = {
            "type_of_reference": "ELEC" if not p.doi else "JOUR", "title": p.title,
            "authors": [a.name for a in p.authors], "abstract": p.abstract, "urls": [p.links["abs"]],
            "publisher": "arXiv", "keywords": list(p.categories), "notes": [f"arXiv:{p.arxiv_id}"],
        }  # fmt: skip
        if year:
            record["year"] = str(year)
        if p.doi:
            record["doi"] = p.doi
        records.append(record)
    return str(rispy.dumps(records))


def csl_json(papers: Sequence[Paper]) -> bytes:
    """CSL-JSON items (the format Zotero, Pandoc and citeproc read)."""
    items = []
    for p in papers:
        moment = p.first_version_at
        item: dict[str, object] = {
            "id": f"arXiv:{p.arxiv_id}", "type": "article", "title": p.title, "abstract": p.abstract,
            "author": [_csl_name(a.name) for a in p.authors], "URL": p.links["abs"], "publisher": "arXiv",
            "number": p.arxiv_id, "archive": "arXiv", "keyword": ", ".join(p.categories),
        }  # fmt: skip
        if moment:
            item["issued"] = {"date-parts": [[moment.year, moment.month, moment.day]]}
        if p.doi:
            item["DOI"] = p.doi
        items.append(item)
    return orjson.dumps(items)


def _csl_name(name: str) -> dict[str, str]:
    parts = name.rsplit(" ", 1)
    return {"family": parts[-1], "given": parts[0]} if len(parts) == 2 else {"literal": name}


def export_as(papers: Sequence[Paper], fmt: ExportFormat) -> bytes:
    if fmt == "bib":
        return export.bibtex(papers).encode()
    if fmt == "ris":
        return ris(papers).encode()
    return csl_json(papers)


@dataclass
class ImportReport:
    collection: Collection
    found: list[str] = field(default_factory=list)
    added: int = 0
    missing: list[str] = field(default_factory=list)


def import_into(
    store: Store, keyword: KeywordSearch, user: User, owner: str, slug: str, data: bytes, filename: str
) -> ImportReport:
    """Add the papers of a BibTeX or RIS file to one of the reader's collections, in one transaction; those not
    in this instance are listed. A bad file is a BadRequest naming the file and line, and nothing is saved."""
    target = reader_actions.own_collection(store, user, owner, slug)
    references = seed.parse_file(data, filename)
    report = seed.SeedReport()
    keys = seed.match_references(store, keyword, [], references, report)
    added = store.add_to_collection(target.id, keys, datetime.now(UTC)) if keys else 0
    return ImportReport(store.get_collection(target.owner, target.slug) or target, report.found, added, report.missing)
