"""Paper files on disk: detect the format from the content, open (gzip or plain), stream the items.

Formats: ``arxiv-jsonl`` (paperfeed's daily-crawl JSON lines), ``kaggle-snapshot`` (Kaggle's
arxiv-metadata-oai-snapshot.json), ``hf-daily`` (Hugging Face Daily Papers: a JSON array, or JSON lines of
items), ``arxiv-atom`` (a saved arXiv API page) and ``oai-pmh`` (a saved ListRecords response).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import orjson

from paperfeed.errors import BadRequest, IngestError
from paperfeed.ingest import arxiv_api, hf_daily, oai_pmh, snapshot
from paperfeed.ingest.records import Item
from paperfeed.ingest.xmlsafe import MAX_XML_BYTES

FORMATS = ("arxiv-jsonl", "kaggle-snapshot", "hf-daily", "arxiv-atom", "oai-pmh")
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD = 64 * 1024
_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_KAGGLE_KEYS = frozenset({"versions", "authors_parsed", "update_date", "journal-ref"})
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    format: str
    compressed: bool
    size: int
    fingerprint: str  # identifies the file's content for checkpoints: size + a digest of its first MiB


def _open(path: Path, compressed: bool) -> tuple[IO[bytes], IO[bytes]]:
    """(decoded stream, raw file): the raw file's position tells how far through the file we are."""
    raw: IO[bytes] = path.open("rb")
    stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")) if compressed else raw
    return stream, raw


def _fingerprint(path: Path, size: int) -> str:
    with path.open("rb") as f:
        head = f.read(1024 * 1024)
    return hashlib.sha256(str(size).encode() + b":" + head).hexdigest()[:32]


def _read_head(path: Path, compressed: bool) -> bytes:
    stream, raw = _open(path, compressed)
    try:
        return stream.read(_HEAD)
    except _GZIP_ERRORS as exc:
        raise IngestError(f"{path}: not a readable gzip file ({exc})") from exc
    finally:
        raw.close()


def _detect(path: Path, head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise IngestError(f"{path}: file is empty")
    if text.startswith(b"<"):
        return _detect_xml(path, text)
    if text.startswith(b"["):
        return "hf-daily"
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            record = orjson.loads(first)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"{path}: first line is not valid JSON ({exc}); expected JSON lines") from exc
        if isinstance(record, dict) and "paper" in record:
            return "hf-daily"
        if isinstance(record, dict) and _KAGGLE_KEYS & record.keys():
            return "kaggle-snapshot"
        if isinstance(record, dict) and "id" in record and "abstract" in record:
            return "arxiv-jsonl"
        raise IngestError(f"{path}: JSON lines, but not a papers format paperfeed knows (see --format)")
    raise IngestError(f"{path}: not a papers file (expected JSON lines, a JSON array or XML): {text[:40]!r}")


def _detect_xml(path: Path, text: bytes) -> str:
    if b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        raise IngestError(f"{path}: refused hostile XML (DTD or entity declarations)")
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", text, flags=re.S)
    match = _XML_ROOT.search(body)
    root = match.group(2).decode() if match else "?"
    if root == "feed":
        return "arxiv-atom"
    if root == "OAI-PMH":
        return "oai-pmh"
    raise IngestError(f"{path}: XML root <{root}> is neither an Atom feed nor an OAI-PMH response")


def inspect_file(path: str | Path, fmt: str | None = None) -> SourceFile:
    """Check that ``path`` is a readable papers file and find its format (``fmt`` overrides detection)."""
    path = Path(path)
    if not path.is_file():
        raise BadRequest(f"file {path} does not exist")
    if fmt is not None and fmt not in FORMATS:
        raise BadRequest(f"--format must be one of {', '.join(FORMATS)}")
    size = path.stat().st_size
    with path.open("rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    head = _read_head(path, compressed)
    detected = fmt or _detect(path, head)
    return SourceFile(path, detected, compressed, size, _fingerprint(path, size))


def _jsonl_items(stream: IO[bytes], fmt: str, skip_until: int) -> Iterator[Item]:
    parse = {
        "arxiv-jsonl": snapshot.parse_daily_record,
        "kaggle-snapshot": snapshot.parse_kaggle_record,
        "hf-daily": hf_daily.parse_hf_item,
    }[fmt]
    return snapshot.iter_jsonl(snapshot.read_lines(stream), parse, skip_until=skip_until)


def _xml_items(stream: IO[bytes], fmt: str, skip_until: int) -> Iterator[Item]:
    data = stream.read(MAX_XML_BYTES + 1)
    items = arxiv_api.parse_atom(data).items if fmt == "arxiv-atom" else oai_pmh.parse_oai(data).items
    yield from (item for item in items if item.position > skip_until)


def iter_file_items(
    source: SourceFile, *, skip_until: int = 0, on_position: Callable[[int], None] | None = None
) -> Iterator[Item]:
    """Stream the items of a file, starting after position ``skip_until``.

    ``on_position`` is called now and then with how many raw bytes have been read. A file that turns out
    not to be what it claimed (truncated or corrupt gzip, broken JSON array, malformed XML) raises IngestError.
    """
    stream, raw = _open(source.path, source.compressed)
    position = skip_until
    try:
        if source.format in ("arxiv-atom", "oai-pmh"):
            items: Iterator[Item] = _xml_items(stream, source.format, skip_until)
        elif source.format == "hf-daily" and _starts_with_array(source):
            items = hf_daily.iter_hf_array(stream, skip_until=skip_until)
        else:
            items = _jsonl_items(stream, source.format, skip_until)
        for count, item in enumerate(items):
            position = item.position
            if on_position is not None and count % 512 == 0:
                on_position(raw.tell())
            yield item
        if on_position is not None:
            on_position(source.size)
    except _GZIP_ERRORS as exc:
        raise IngestError(f"{source.path}: gzip data is truncated or corrupt after record {position} ({exc})") from exc
    except OSError as exc:
        raise IngestError(f"{source.path}: read failed after record {position} ({exc})") from exc
    finally:
        raw.close()


def _starts_with_array(source: SourceFile) -> bool:
    return _read_head(source.path, source.compressed).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
