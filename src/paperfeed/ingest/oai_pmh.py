"""arXiv OAI-PMH ``ListRecords`` with ``metadataPrefix=arXiv``: parsing one response page (pure).

The harvest loop (resumption tokens, incremental ``from``) lives in :mod:`paperfeed.ingest.pipeline`.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from paperfeed.errors import BadResumptionToken, IngestError
from paperfeed.ingest.normalize import (
    InvalidRecord,
    announcement_date,
    clean_categories,
    clean_text,
    optional_text,
    parse_arxiv_id,
    parse_date,
    parse_datetime,
)
from paperfeed.ingest.records import Item, Skipped, convert_node
from paperfeed.ingest.xmlsafe import child_text as _text
from paperfeed.ingest.xmlsafe import parse_xml
from paperfeed.models import Author, Paper, PaperVersion

SOURCE = "arxiv_oai"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"


@dataclass(frozen=True, slots=True)
class OaiPage:
    response_date: str | None
    items: list[Item]
    deleted: int
    resumption_token: str | None
    complete_list_size: int | None


def _author(node: ET.Element) -> Author | None:
    parts = [_text(node, ARXIV + "forenames"), _text(node, ARXIV + "keyname"), _text(node, ARXIV + "suffix")]
    name = clean_text(" ".join(p for p in parts if p))
    affiliations = [clean_text(a.text) for a in node.findall(ARXIV + "affiliation") if a.text]
    return Author(name, "; ".join(affiliations) or None) if name else None


def parse_record_metadata(meta: ET.Element) -> Paper:
    ident = parse_arxiv_id(_text(meta, ARXIV + "id"))
    created = parse_date(_text(meta, ARXIV + "created"))
    updated = parse_datetime(_text(meta, ARXIV + "updated"))
    title = clean_text(_text(meta, ARXIV + "title"))
    abstract = clean_text(_text(meta, ARXIV + "abstract"))
    if not title or not abstract:
        raise InvalidRecord("missing title" if not title else "missing abstract")
    authors_node = meta.find(ARXIV + "authors")
    authors = [] if authors_node is None else [_author(a) for a in authors_node.findall(ARXIV + "author")]
    created_at = parse_datetime(created.isoformat()) if created else None
    return Paper(
        arxiv_id=ident.id,
        version=ident.version,
        title=title,
        abstract=abstract,
        authors=tuple(a for a in authors if a),
        categories=clean_categories(_text(meta, ARXIV + "categories") or ""),
        first_version_at=created_at,
        latest_version_at=updated or created_at,
        comment=_text(meta, ARXIV + "comments"),
        journal_ref=_text(meta, ARXIV + "journal-ref"),
        doi=_text(meta, ARXIV + "doi"),
        license=_text(meta, ARXIV + "license"),
        feed_date=announcement_date(created) if created else None,
        source=SOURCE,
        versions=(PaperVersion(1, created_at),),
    )


def parse_oai(data: bytes, *, first_position: int = 1) -> OaiPage:
    """One ListRecords response. ``noRecordsMatch`` is an empty, complete page; other OAI errors raise."""
    root = parse_xml(data, "OAI-PMH response")
    if root.tag != OAI + "OAI-PMH":
        raise IngestError(f"response is not OAI-PMH (root element {root.tag!r})")
    response_date = _text(root, OAI + "responseDate")
    error = root.find(OAI + "error")
    if error is not None:
        code = error.get("code", "unknown")
        if code == "noRecordsMatch":
            return OaiPage(response_date, [], 0, None, 0)
        kind = BadResumptionToken if code == "badResumptionToken" else IngestError
        raise kind(f"OAI-PMH error {code}: {clean_text(error.text)}")
    listing = root.find(OAI + "ListRecords")
    if listing is None:
        raise IngestError("OAI-PMH response has neither ListRecords nor error")
    items: list[Item] = []
    deleted = 0
    for offset, record in enumerate(listing.findall(OAI + "record")):
        header = record.find(OAI + "header")
        if header is not None and header.get("status") == "deleted":
            deleted += 1
            continue
        position = first_position + offset
        meta = record.find(f"{OAI}metadata/{ARXIV}arXiv")
        if meta is None:
            items.append(Skipped(position, "record has no arXiv metadata"))
            continue
        items.append(convert_node(position, functools.partial(parse_record_metadata, meta)))
    token_node = listing.find(OAI + "resumptionToken")
    token = optional_text(token_node.text) if token_node is not None else None
    size_text = token_node.get("completeListSize") if token_node is not None else None
    size = int(size_text) if size_text and size_text.isdigit() else None
    return OaiPage(response_date, items, deleted, token, size)
