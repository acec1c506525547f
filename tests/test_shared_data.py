"""Imports of a slice of the real arXiv file in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import orjson

from paperfeed import feed
from paperfeed.ingest import snapshot
from paperfeed.ingest.pipeline import import_file
from paperfeed.ingest.records import Skipped
from paperfeed.store import Store


def test_real_slice_imports_completely(arxiv_file: Path, tmp_path: Path, store: Store) -> None:
    lines = []
    with gzip.open(arxiv_file, "rb") as f:
        for _, line in zip(range(3000), f, strict=False):
            lines.append(line)
    path = tmp_path / "slice.jsonl"
    path.write_bytes(b"".join(lines))
    records = [orjson.loads(line) for line in lines]
    report = import_file(store, path, batch_size=500)
    assert (report.inserted, report.skipped) == (len({r["id"] for r in records}), 0)
    days = Counter(r["first_seen_date"] for r in records)
    busiest, count = days.most_common(1)[0]
    assert feed.feed(store, feed.period_of(day=busiest), limit=1).total == count
    sample = records[1234]
    stored = feed.paper(store, sample["id"])
    assert stored.title == " ".join(sample["title"].split())
    assert [a.name for a in stored.authors] == [" ".join(a.split()) for a in sample["authors"]]
    assert import_file(store, path).unchanged == len(records)


def test_every_real_record_is_within_the_import_bounds(arxiv_file: Path) -> None:
    """The bounds that stop hostile records (paperfeed.ingest.bounds) skip none of the 120,045 real papers."""
    with gzip.open(arxiv_file, "rb") as f:
        items = list(snapshot.iter_jsonl(f, snapshot.parse_daily_record))  # its lines (56 KB at most)
    skipped = [item for item in items if isinstance(item, Skipped)]
    assert len(items) > 100_000
    assert skipped == []
