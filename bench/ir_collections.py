"""The two search test collections the benchmarks read: SciFact (train split) and CACM, one shape for both.

Both come from ``../shared/data`` (see its README); nothing is copied into the repository. A :class:`Collection`
holds the documents as :class:`paperfeed.models.Paper` records (so they go through paperfeed's own store, index
and embedding job), the judged queries and their binary relevance judgements.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from paperfeed.models import Author, Paper

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Collection:
    """A test collection: its name, documents, judged queries (id -> text) and judgements."""

    name: str
    papers: list[Paper]
    queries: dict[str, str]
    qrels: Qrels

    @property
    def slug(self) -> str:
        return self.name.split()[0].lower()


def scifact(path: Path) -> Collection:
    """SciFact's train split: 5,183 abstracts, the queries that have judgements (claims)."""
    papers = []
    with gzip.open(path / "corpus.jsonl.gz", "rt") as f:
        for line in f:
            doc = json.loads(line)
            papers.append(Paper(arxiv_id=str(doc["_id"]), title=doc["title"], abstract=doc["text"], source="scifact"))
    qrels: Qrels = {}
    with (path / "qrels" / "train.tsv").open() as f:
        next(f)
        for line in f:
            qid, doc, score = line.split("\t")
            qrels.setdefault(qid, {})[doc] = int(score)
    queries = {}
    with (path / "queries_train.jsonl").open() as f:
        for line in f:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return Collection("SciFact train", papers, queries, qrels)


def _smart(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """SMART records: ``.I n`` starts one; ``.X`` (and the other letters) start its sections."""
    record: dict[str, list[str]] = {}
    current: str | None = None
    number: str | None = None
    for line in path.read_text(encoding="latin-1").splitlines():
        marker = re.match(r"^\.([A-Z])(?:\s+(\d+))?\s*$", line)
        if marker and marker.group(1) == "I":
            if number is not None:
                yield number, {k: "\n".join(v).strip() for k, v in record.items()}
            number, record, current = marker.group(2), {}, None
        elif marker:
            current = marker.group(1)
            record.setdefault(current, [])
        elif current is not None:
            record[current].append(line)
    if number is not None:
        yield number, {k: "\n".join(v).strip() for k, v in record.items()}


def cacm(path: Path) -> Collection:
    """CACM: 3,204 titles (with abstracts for about half), 64 queries of which 52 are judged."""
    papers = []
    for number, rec in _smart(path / "cacm.all"):
        authors = tuple(Author(name) for name in rec.get("A", "").splitlines() if name.strip())
        title = " ".join(rec.get("T", "").split())
        abstract = " ".join(rec.get("W", "").split())
        papers.append(Paper(arxiv_id=number, title=title, abstract=abstract, authors=authors, source="cacm"))
    qrels: Qrels = {}
    for line in (path / "qrels.text").read_text().splitlines():
        if line.strip():
            qid, doc = line.split()[:2]
            qrels.setdefault(str(int(qid)), {})[str(int(doc))] = 1
    queries = {
        number: " ".join(rec.get("W", "").split()) for number, rec in _smart(path / "query.text") if number in qrels
    }
    return Collection("CACM", papers, queries, qrels)


def load(data: Path) -> list[Collection]:
    """Both collections under ``data`` (the shared data folder)."""
    return [scifact(data / "scifact"), cacm(data / "cacm")]
