"""Hostile import files: deep nesting in every accepted format stays in bounded memory, each field limit skips
its record with its line number while the import goes on, control characters are stripped."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from paperfeed.errors import IngestError
from paperfeed.ingest.chunks import ReaderMode
from paperfeed.ingest.pipeline import import_file
from paperfeed.store import Store

DEPTH = 1_300_000  # about 4 MB of brackets or tags


def _deep_json() -> str:
    return "[" * DEPTH + "]" * DEPTH


def _deep_xml() -> str:
    return "<a>" * (DEPTH // 2) + "</a>" * (DEPTH // 2)


NESTED = {
    "arxiv-jsonl": lambda: '{"id": "2503.00001", "title": "t", "abstract": "a", "authors": ' + _deep_json() + "}\n",
    "kaggle": lambda: '{"id": "2503.00001", "versions": [], "title": "t", "abstract": "a", "authors_parsed": '
    + _deep_json() + "}\n",
    "hf-array": lambda: '[{"paper": {"id": "2503.00001", "title": "t", "summary": "s", "authors": '
    + _deep_json() + "}}]",
    "hf-array-objects": lambda: '[{"paper": {"id": "2503.00001", "title": "t", "summary": "s"}, "x": '
    + '{"a":' * DEPTH + "1" + "}" * DEPTH + "}]",
    "hf-lines": lambda: '{"paper": {"id": "2503.00001", "title": "t", "summary": "s", "authors": '
    + _deep_json() + "}}\n",
    "atom": lambda: '<feed xmlns="http://www.w3.org/2005/Atom"><entry>' + _deep_xml() + "</entry></feed>",
    "oai": lambda: '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><metadata>'
    + _deep_xml() + "</metadata></record></ListRecords></OAI-PMH>",
}  # fmt: skip

# VmHWM is this process's own peak (ru_maxrss would count the parent's from before exec on Linux)
CHILD = """
import sys
from paperfeed.errors import IngestError
from paperfeed.ingest.chunks import ReaderMode
from paperfeed.ingest.pipeline import import_file
from paperfeed.store import open_store
store = open_store("sqlite:///" + sys.argv[2]); store.migrate()
try:
    report = import_file(store, sys.argv[1], reader=sys.argv[3])
    print("SKIPPED", report.records, [s.reason for s in report.skipped_samples])
except IngestError as exc:
    print("REFUSED", exc.message[:200])
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print("PEAK_MB", int(peak.split()[1]) // 1024)
import resource  # a reader process's peak: it has ended and been waited for
print("READER_MB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak memory is read from /proc (Linux)")
@pytest.mark.parametrize("kind", sorted(NESTED))
@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("reader", ["thread", "process"])
def test_deeply_nested_files_are_refused_or_skipped_in_bounded_memory(
    tmp_path: Path, kind: str, compressed: bool, reader: str
) -> None:
    data = NESTED[kind]().encode()
    assert len(data) >= 2_600_000
    path = tmp_path / ("hostile.gz" if compressed else "hostile")
    path.write_bytes(gzip.compress(data) if compressed else data)
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(tmp_path / "child.db"), reader], capture_output=True, timeout=120
    )
    out = run.stdout.decode()
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    peak = int(out.split("PEAK_MB")[1].split()[0])
    assert peak < 500, out
    assert int(out.split("READER_MB")[1]) < 500, out
    assert "REFUSED" in out or ("SKIPPED 0" in out and "nests deeper than" in out), out


def _daily(n: int, **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"2503.{n:05d}", "title": f"Paper {n}", "abstract": f"Abstract of paper {n}.", "authors": ["A. B."],
        "categories": ["cs.LG"], "first_seen_date": "2025-03-18",
    }  # fmt: skip
    record.update(fields)
    return record


@pytest.mark.parametrize("reader", ["thread", "process"])
def test_every_bound_skips_its_record_and_the_import_goes_on(tmp_path: Path, store: Store, reader: ReaderMode) -> None:
    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    bad = {
        "title is longer": _daily(1, title="t" * 1_001),
        "abstract is longer": _daily(2, abstract="a" * 20_001),
        "comment is longer": _daily(3, comment="c" * 5_001),
        "authors: 10,001": _daily(4, authors=["N. N."] * 10_001),
        "author name is longer": _daily(5, authors=["n" * 2_001]),
        "feed_date 1990-12-31": _daily(6, first_seen_date="1990-12-31"),
        f"feed_date {future}": _daily(7, first_seen_date=future),
        "not a date": _daily(8, first_seen_date="9999999-01-01"),
        "nests deeper": _daily(9, authors=json.loads("[" * 20 + "]" * 20)),
        "authors must be a list": _daily(10, authors={"a": 1}),
    }
    lines = [orjson.dumps(record) for record in bad.values()]
    lines.append(b'{"id": "2503.00011", "title": "long", "abstract": "' + b"x" * 2_200_000 + b'"}')
    lines.append(orjson.dumps(_daily(12, title="Good\x00 paper\x07 with\ttabs\x1b[31m")))
    path = tmp_path / "bounded.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = import_file(store, path, reader=reader)
    assert report.inserted == 1
    reasons = {sample.position: sample.reason for sample in report.skipped_samples}
    for line, expected in enumerate([*bad, "line longer than"], 1):
        assert expected in reasons[line], (line, reasons.get(line))
    good = store.get_paper("2503.00012")
    assert good is not None and good.title == "Good paper with tabs[31m"


def test_out_of_range_numbers_and_dates_in_daily_papers_items_are_skipped(tmp_path: Path, store: Store) -> None:
    def item(n: int, **paper: object) -> dict[str, object]:
        return {"paper": {"id": f"2503.{n:05d}", "title": f"T{n}", "summary": "S", "authors": [], **paper}}

    items = [
        item(1, upvotes=2**40), item(2, publishedAt="0001-01-01T00:00:00-05:00"),
        item(3, submittedOnDailyAt="9999-12-31T23:59:59-12:00"), item(4, id="2503.00004v99999999999"), item(5),
    ]  # fmt: skip
    path = tmp_path / "hf.json"
    path.write_bytes(orjson.dumps(items))
    report = import_file(store, path)
    assert report.inserted == 1 and report.skipped == 4
    assert {s.position for s in report.skipped_samples} == {1, 2, 3, 4}
    assert any("upvotes" in s.reason for s in report.skipped_samples)


def test_a_truncated_gzip_says_what_was_kept(tmp_path: Path, store: Store) -> None:
    data = b"".join(orjson.dumps(_daily(n, abstract="x" * 300 + str(n))) + b"\n" for n in range(3000))
    whole = gzip.compress(data)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IngestError, match="complete batches before the damage are kept") as caught:
        import_file(store, path, batch_size=100)
    assert f"{store.stats().papers:,} papers written now" in caught.value.message
