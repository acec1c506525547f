"""Papers in other formats: BibTeX, RSS 2.0, Atom and JSON Feed. Pure functions over models (no I/O)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from xml.etree import ElementTree as ET

import orjson

from paperfeed.models import Paper

_BIBTEX_SPECIAL = str.maketrans({"{": r"\{", "}": r"\}", "\\": r"\textbackslash{}", "%": r"\%", "&": r"\&", "#": r"\#"})


def _balanced(text: str) -> bool:
    depth = 0  # BibTeX counts every brace, escaped or not
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _bib_value(text: str) -> str:
    """A field value BibTeX parses: plain text escaped; LaTeX ($\\alpha$, \\emph{x}) kept as written, braces
    dropped only when unbalanced (they would end the field early)."""
    text = " ".join(text.split())
    if "$" not in text and "\\" not in text:
        text = text.translate(_BIBTEX_SPECIAL)
    else:
        text = re.sub(r"(?<!\\)([&%#])", r"\\\1", text)
    return text if _balanced(text) else text.replace("\\{", "").replace("\\}", "").replace("{", "").replace("}", "")


def bibtex_key(p: Paper) -> str:
    """``lastname2025firstword``, ASCII only."""
    last = p.authors[0].name.split()[-1] if p.authors else "anon"
    word = next((w for w in re.findall(r"[A-Za-z]+", p.title) if len(w) > 3), "paper")
    year = p.first_version_at or (datetime.combine(p.feed_date, time()) if p.feed_date else None)
    ascii_last = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
    return f"{re.sub(r'[^A-Za-z]', '', ascii_last).lower() or 'anon'}{year.year if year else ''}{word.lower()}"


def bibtex(papers: Sequence[Paper]) -> str:
    """One ``@misc`` entry per paper, as arXiv's own export writes them."""
    entries = []
    for p in papers:
        year = p.first_version_at.year if p.first_version_at else p.feed_date.year if p.feed_date else None
        fields = [
            ("title", "{" + _bib_value(p.title) + "}"),
            ("author", " and ".join(_bib_value(a.name) for a in p.authors) or "Unknown"),
            ("year", str(year) if year else ""),
            ("eprint", p.arxiv_id),
            ("archivePrefix", "arXiv"),
            ("primaryClass", p.primary_category or ""),
            ("doi", p.doi or ""),
            ("url", f"https://arxiv.org/abs/{p.arxiv_id}"),
        ]
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
        entries.append(f"@misc{{{bibtex_key(p)},\n{body}\n}}\n")
    return "\n".join(entries)


def _when(p: Paper) -> datetime:
    if p.submitted_at is not None:
        return p.submitted_at if p.submitted_at.tzinfo else p.submitted_at.replace(tzinfo=UTC)
    if p.feed_date is not None:
        return datetime.combine(p.feed_date, time(), UTC)
    return datetime(1970, 1, 1, tzinfo=UTC)


def rss(title: str, link: str, description: str, papers: Sequence[Paper], base_url: str) -> bytes:
    """An RSS 2.0 document (ElementTree escapes every text; nothing from a paper becomes markup)."""
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    for name, value in (("title", title), ("link", link), ("description", description)):
        ET.SubElement(channel, name).text = value
    for p in papers:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = p.title
        ET.SubElement(item, "link").text = f"{base_url}/papers/{p.arxiv_id}"
        ET.SubElement(item, "guid", isPermaLink="false").text = f"arxiv:{p.arxiv_id}"
        ET.SubElement(item, "description").text = p.abstract
        ET.SubElement(item, "pubDate").text = format_datetime(_when(p))
        for category in p.categories:
            ET.SubElement(item, "category").text = category
    return _xml(root)


def atom(title: str, link: str, feed_id: str, papers: Sequence[Paper], base_url: str, updated: date) -> bytes:
    """An Atom 1.0 document."""
    ns = "http://www.w3.org/2005/Atom"
    root = ET.Element("feed", xmlns=ns)
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "id").text = feed_id
    ET.SubElement(root, "link", href=link, rel="alternate")
    ET.SubElement(root, "updated").text = datetime.combine(updated, time(), UTC).isoformat()
    for p in papers:
        entry = ET.SubElement(root, "entry")
        ET.SubElement(entry, "title").text = p.title
        ET.SubElement(entry, "id").text = f"{base_url}/papers/{p.arxiv_id}"
        ET.SubElement(entry, "link", href=f"{base_url}/papers/{p.arxiv_id}", rel="alternate")
        ET.SubElement(entry, "updated").text = _when(p).isoformat()
        ET.SubElement(entry, "summary").text = p.abstract
        for a in p.authors:
            ET.SubElement(ET.SubElement(entry, "author"), "name").text = a.name
        for category in p.categories:
            ET.SubElement(entry, "category", term=category)
    return _xml(root)


def json_feed(title: str, home: str, feed_url: str, papers: Sequence[Paper], base_url: str) -> bytes:
    """A JSON Feed 1.1 document (https://jsonfeed.org/version/1.1). Each item's id is the paper's address here,
    which never changes, so a reader never sees a paper twice."""
    items = [_json_item(p, base_url) for p in papers]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": title, "home_page_url": home,
                "feed_url": feed_url, "items": items}  # fmt: skip
    return orjson.dumps(document)


def _json_item(p: Paper, base_url: str) -> dict[str, object]:
    page = f"{base_url}/papers/{p.arxiv_id}"
    return {
        "id": page, "url": page, "title": p.title, "content_text": p.abstract,
        "date_published": _when(p).isoformat(), "external_url": p.links["abs"],
        "authors": [{"name": a.name} for a in p.authors], "tags": list(p.categories),
    }  # fmt: skip


def _xml(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
