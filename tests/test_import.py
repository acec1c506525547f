"""Importing files: format detection, every format end to end, bad input, interruption and resume."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from feeds import BILLION_LAUGHS, atom_entry, atom_page, oai_page, oai_record
from paperfeed.errors import BadRequest, IngestError
from paperfeed.ingest.files import inspect_file
from paperfeed.ingest.pipeline import ImportReport, import_file
from paperfeed.store import Store
from test_parsers import HF_ITEM, KAGGLE


def daily(n: int, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"2503.{n:05d}",
        "title": f"Title {n}",
        "abstract": f"Abstract {n}.",
        "authors": ["A. One"],
        "categories": ["cs.CL"],
        "comment": None,
        "first_seen_date": f"2025-03-{18 + n % 3}",
    }
    record.update(extra)
    return record


def write_jsonl(path: Path, records: Sequence[object], *, gz: bool = False) -> Path:
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_detects_every_format(tmp_path: Path, gz: bool) -> None:
    def put(name: str, data: bytes) -> Path:
        p = tmp_path / (name + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(data) if gz else data)
        return p

    cases = {
        "arxiv-jsonl": put("daily.jsonl", orjson.dumps(daily(1)) + b"\n"),
        "kaggle-snapshot": put("kaggle.json", orjson.dumps(KAGGLE) + b"\n"),
        "hf-daily": put("hf.json", orjson.dumps([HF_ITEM])),
        "arxiv-atom": put("atom.xml", atom_page([atom_entry(1)], total=1, start=0)),
        "oai-pmh": put("oai.xml", oai_page([oai_record(1)], token=None)),
    }
    for fmt, path in cases.items():
        source = inspect_file(path)
        assert (source.format, source.compressed) == (fmt, gz)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"hello, world\n", "not a papers file"),
        (b"{this is not json\n", "first line is not valid JSON"),
        (b'{"foo": 1}\n', "not a papers format"),
        (b"<html><body>hi</body></html>", "neither an Atom feed nor an OAI-PMH"),
        (BILLION_LAUGHS, "hostile XML"),
        (b"\x1f\x8b\x08\x00garbage", "not a readable gzip file"),
    ],
)
def test_files_that_are_not_what_they_claim(tmp_path: Path, store: Store, content: bytes, message: str) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        import_file(store, path)
    assert store.stats().papers == 0


def test_missing_file_and_unknown_format(tmp_path: Path, store: Store) -> None:
    with pytest.raises(BadRequest, match="does not exist"):
        import_file(store, tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "d.jsonl", [daily(1)])
    with pytest.raises(BadRequest, match="--format must be one of"):
        import_file(store, path, fmt="csv")


def test_format_override_that_does_not_fit_is_a_clear_error(tmp_path: Path, store: Store) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [daily(1)])
    with pytest.raises(IngestError, match="malformed XML"):
        import_file(store, path, fmt="arxiv-atom")


@pytest.mark.parametrize("gz", [False, True])
def test_import_daily_file_then_again_is_a_noop(tmp_path: Path, store: Store, gz: bool) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [daily(n) for n in range(25)], gz=gz)
    first = import_file(store, path, batch_size=7)
    assert (first.inserted, first.skipped, first.complete) == (25, 0, True)
    second = import_file(store, path, batch_size=7)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 25)
    assert store.stats().papers == 25
    assert store.get_state(f"import:{inspect_file(path).fingerprint}") is None


def test_every_other_format_imports(tmp_path: Path, store: Store) -> None:
    (tmp_path / "hf.json").write_bytes(orjson.dumps([HF_ITEM, {"paper": {"id": "bad"}}]))
    write_jsonl(tmp_path / "kaggle.json", [KAGGLE])
    (tmp_path / "atom.xml").write_bytes(atom_page([atom_entry(n) for n in range(1, 4)], total=3, start=0))
    (tmp_path / "oai.xml").write_bytes(oai_page([oai_record(n) for n in range(11, 13)], token=None))
    write_jsonl(tmp_path / "hf.jsonl", [HF_ITEM])
    counts = {name: import_file(store, tmp_path / name) for name in ("hf.json", "kaggle.json", "atom.xml", "oai.xml")}
    assert [(r.inserted, r.skipped) for r in counts.values()] == [(1, 1), (1, 0), (3, 0), (2, 0)]
    assert counts["hf.json"].skipped_samples[0].position == 2
    assert import_file(store, tmp_path / "hf.jsonl").unchanged == 1
    assert store.stats().papers == 7
    hf = store.get_paper("2502.10248")
    assert hf is not None
    assert hf.upvotes == 42
    assert hf.submitted_by == "akhaliq"


def test_bad_records_are_skipped_counted_and_located(tmp_path: Path, store: Store) -> None:
    lines = [orjson.dumps(daily(1)), b"{broken", orjson.dumps(daily(2, title="")), orjson.dumps(daily(3))]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = import_file(store, path)
    assert (report.inserted, report.skipped) == (2, 2)
    assert [(s.position, s.reason) for s in report.skipped_samples] == [
        (2, report.skipped_samples[0].reason),
        (3, "missing title"),
    ]
    assert report.skipped_samples[0].reason.startswith("invalid JSON")


def test_truncated_gzip_stops_cleanly_after_whole_batches(tmp_path: Path, store: Store) -> None:
    data = b"".join(orjson.dumps(daily(n, abstract=f"Abstract {n} " + "x" * 300)) + b"\n" for n in range(3000))
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(data)
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(IngestError, match="truncated or corrupt"):
        import_file(store, path, batch_size=100)
    written = store.stats().papers
    assert 0 < written < 3000
    assert written % 100 == 0  # whole batches only, never part of one
    checkpoint = store.get_state(f"import:{inspect_file(path).fingerprint}")
    assert checkpoint is not None
    assert checkpoint["position"] == written


def test_broken_json_array_is_an_error(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "hf.json"
    path.write_bytes(orjson.dumps([HF_ITEM])[:-1] + b', {"paper": ')
    with pytest.raises(IngestError, match="malformed after item 1"):
        import_file(store, path)


def test_interrupted_import_resumes_where_it_stopped(tmp_path: Path, store: Store) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [daily(n) for n in range(100)])
    batches = 0

    def stop_after_three(report: ImportReport, done: int, total: int | None) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(store, path, batch_size=10, progress=stop_after_three)
    assert store.stats().papers == 30
    resumed = import_file(store, path, batch_size=10)
    assert resumed.resumed_from == 30
    assert (resumed.inserted, resumed.unchanged) == (70, 0)
    assert store.stats().papers == 100
