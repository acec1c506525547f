"""Cold start in one step: a new reader names categories, pastes arXiv ids or URLs, or uploads a BibTeX or RIS
export (Zotero, Mendeley, Google Scholar), and the papers found in this instance become their seed papers (in a
private collection, which "for you" counts as liked). Everything is parsed and checked first: a bad line or
file is a BadRequest naming it, and then nothing is saved; the collection and its papers are one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import rispy
from bibtexparser.entrypoint import parse_string as parse_bibtex

from paperfeed import feed
from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.models import Collection, User
from paperfeed.reader_actions import MAX_INTERESTS, slugify
from paperfeed.search.keyword_shards import KeywordSearch
from paperfeed.search.query import ParsedQuery
from paperfeed.store import Store

MAX_FILE_BYTES = 900_000  # under the server's 1 MB body limit: about 2,000 BibTeX entries
MAX_IDS = 500  # pasted ids or URLs
MAX_REFERENCES = 5_000
MAX_CATEGORIES = 20
CATEGORY = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?")


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of an uploaded file, with what it can be matched by."""

    line: int
    title: str = ""
    arxiv_id: str | None = None
    doi: str | None = None


@dataclass
class SeedReport:
    categories: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # arXiv ids of the seed papers
    missing: list[str] = field(default_factory=list)  # what was asked for and is not in this instance
    collection: Collection | None = None


def seed(
    store: Store, keyword: KeywordSearch, user: User, *, categories: str = "", ids: str = "",
    upload: bytes | None = None, filename: str = "",
) -> SeedReport:  # fmt: skip
    """Parse everything, then save the reader's categories (beside their interests) and a private collection
    of the papers found. BadRequest names the field, or the file and line, that is wrong."""
    chosen = parse_categories(categories)
    wanted = parse_ids(ids)
    references = parse_file(upload, filename) if upload else []
    if not chosen and not wanted and not references:
        raise BadRequest("give categories, arXiv ids or URLs, or a BibTeX or RIS file")
    report = SeedReport(chosen)
    keys = match_references(store, keyword, wanted, references, report)
    if chosen:
        interests = store.signals(user.id).interests
        text = " ".join(dict.fromkeys([*interests.split(), *(f"cat:{c}" for c in chosen)]))
        if len(text) > MAX_INTERESTS:
            raise BadRequest(f"categories: with your interests they would pass {MAX_INTERESTS} characters")
        store.set_interests(user.id, text)
    if keys:
        now = datetime.now(UTC)
        name = f"Imported {now:%Y-%m-%d %H:%M:%S}"
        report.collection = store.create_collection(user.id, name, slugify(name), False, now, papers=keys)
    return report


def parse_categories(text: str) -> list[str]:
    """Categories such as ``cs.CV math.PR``, separated by spaces or commas."""
    chosen = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    if len(chosen) > MAX_CATEGORIES:
        raise BadRequest(f"categories: at most {MAX_CATEGORIES} (got {len(chosen)})")
    for part in chosen:
        if not CATEGORY.fullmatch(part) or len(part) > 24:
            raise BadRequest(f"categories: {part[:40]!r} is not an arXiv category such as cs.CV or math.PR")
    return list(dict.fromkeys(chosen))


def parse_ids(text: str) -> list[str]:
    """arXiv ids or URLs, one or more per line; BadRequest naming the first line that holds none."""
    lines = [line.strip() for line in text.splitlines()]
    found: list[str] = []
    for number, line in enumerate(lines, start=1):
        for token in line.replace(",", " ").split():
            try:
                found.append(feed.arxiv_id(token))
            except BadRequest:
                raise BadRequest(f"ids, line {number}: {token[:80]!r} is not an arXiv id or URL") from None
        if len(found) > MAX_IDS:
            raise BadRequest(f"ids: at most {MAX_IDS} ids or URLs")
    return list(dict.fromkeys(found))


def parse_file(data: bytes, filename: str) -> list[Reference]:
    """The entries of a BibTeX or RIS file (told apart by content: RIS lines start ``XY  - ``)."""
    if len(data) > MAX_FILE_BYTES:
        raise BadRequest(f"file: {filename or 'the upload'} is over {MAX_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadRequest(f"file, line {line}: not UTF-8 text (export the file as UTF-8)") from None
    ris = re.search(r"^TY  - ", text, re.M) is not None
    found = _ris(text) if ris else _bibtex(text)
    if not found:
        raise BadRequest(f"file: no {'RIS' if ris else 'BibTeX'} entries in {filename or 'the upload'}")
    if len(found) > MAX_REFERENCES:
        raise BadRequest(f"file: at most {MAX_REFERENCES:,} entries (got {len(found):,})")
    return found


def _bibtex(text: str) -> list[Reference]:
    library = parse_bibtex(text)
    if library.failed_blocks:
        block = library.failed_blocks[0]
        raise BadRequest(
            f"file, line {(block.start_line or 0) + 1}: this BibTeX entry cannot be read (a missing brace?)"
        )
    out = []
    for entry in library.entries:
        fields = {k.lower(): str(v.value) for k, v in entry.fields_dict.items()}
        raw = " ".join(fields.get(k, "") for k in ("eprint", "arxiv", "url", "journal", "note", "howpublished"))
        out.append(Reference((entry.start_line or 0) + 1, _clean(fields.get("title", "")), _arxiv_in(raw),
                             _doi(fields.get("doi", ""))))  # fmt: skip
    return out


def _ris(text: str) -> list[Reference]:
    try:
        entries = rispy.loads(text)
    except (OSError, ValueError, KeyError) as exc:  # rispy's complaints about a malformed file
        raise BadRequest(f"file: this RIS file cannot be read ({str(exc)[:120]})") from None
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("TY  - ")]
    out = []
    for n, entry in enumerate(entries):
        urls = " ".join([*entry.get("urls", []), entry.get("url", "") or "", *entry.get("notes", [])])
        title = entry.get("title") or entry.get("primary_title") or ""
        line = starts[n] if n < len(starts) else 0
        out.append(Reference(line, _clean(str(title)), _arxiv_in(urls), _doi(str(entry.get("doi", "")))))
    return out


def match_references(
    store: Store, keyword: KeywordSearch, ids: Sequence[str], references: Sequence[Reference], report: SeedReport
) -> list[int]:
    """Keys of the papers asked for, by arXiv id, DOI or exact title; what is not here goes to ``missing``."""
    asked = [*ids, *(r.arxiv_id for r in references if r.arxiv_id)]
    by_id = store.paper_keys(list(dict.fromkeys(asked)))
    by_doi = store.keys_by_doi([r.doi for r in references if r.doi and r.arxiv_id not in by_id])
    keys: list[int] = []
    for arxiv_id in ids:
        if arxiv_id in by_id:
            keys.append(by_id[arxiv_id])
        else:
            report.missing.append(arxiv_id)
    for ref in references:
        key = by_id.get(ref.arxiv_id or "") or (by_doi.get(ref.doi) if ref.doi else None)
        key = key or _by_title(store, keyword, ref.title)
        if key is not None:
            keys.append(key)
        else:
            report.missing.append(ref.title or ref.arxiv_id or f"the entry on line {ref.line}")
    keys = list(dict.fromkeys(keys))
    found = store.papers_by_key(keys)
    report.found = [found[k].arxiv_id for k in keys if k in found]
    return keys


def _by_title(store: Store, keyword: KeywordSearch, title: str) -> int | None:
    """The paper whose title is exactly ``title`` (case, spacing and punctuation aside), via the keyword index."""
    wanted = _title_key(title)
    if len(wanted) < 12:  # "Introduction" matches too much to mean one paper
        return None
    words = re.findall(r"\w+", title)[:30]
    try:
        hits, _ = keyword.search(ParsedQuery(title=words, parts=words), 5, count=False)
    except PaperfeedError:
        return None
    papers = store.papers_by_key([key for key, _ in hits])
    for key, _score in hits:
        if key in papers and _title_key(papers[key].title) == wanted:
            return key
    return None


def _title_key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", title.lower())


def _clean(text: str) -> str:
    return " ".join(text.replace("{", "").replace("}", "").split())


def _arxiv_in(text: str) -> str | None:
    """The first arXiv id or URL among ``text``'s words (an eprint field, a URL, a note), by the one id parser."""
    for token in text.split():
        try:
            return feed.arxiv_id(token.strip("{}()[]<>,;\"'"))
        except BadRequest:
            continue
    return None


def _doi(text: str) -> str | None:
    match = re.search(r"10\.\d{4,9}/\S+", text)
    return match.group(0).rstrip(".").lower() if match else None
