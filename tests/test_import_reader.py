"""A file read in a reader process writes exactly what a reader thread writes (paperfeed.ingest.chunks), and
the process is stopped, and its failures reported, like the thread's."""

from __future__ import annotations

import gc
import gzip
import os
import pickle
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from conftest import matched
from paperfeed.errors import IngestError
from paperfeed.ingest.chunks import PROCESS_READER_BYTES, ReaderMode, read_in_process, read_in_thread, reader_for
from paperfeed.ingest.files import inspect_file
from paperfeed.ingest.pipeline import ImportReport, import_file
from paperfeed.models import Author, Paper, PaperVersion
from paperfeed.store import PreparedBatch, Store, open_store
from paperfeed.store.prepared import paper_fields, paper_from_fields, prepare_papers


def kaggle(n: int, versions: int = 2, title: str | None = None) -> dict[str, object]:
    return {
        "id": f"2401.{n:05d}",
        "title": title or f"A study of thing {n}",
        "abstract": f"We study thing {n} with care. Also Ünïcode and\ta tab.",
        "authors": "ignored",
        "authors_parsed": [["Lovelace", "Ada", "", "Analytical Engines Ltd"], ["Babbage", f"Charles{n % 3}", ""]],
        "categories": "cs.LG stat.ML cs.LG",
        "comments": "12 pages",
        "journal-ref": "J. Things 1 (2024)",
        "doi": f"10.1000/thing.{n}",
        "license": "http://creativecommons.org/licenses/by/4.0/",
        "versions": [
            {"version": f"v{v + 1}", "created": f"Mon, {v + 1} Jan 2024 10:00:00 GMT"} for v in range(versions)
        ],
        "update_date": "2024-01-09",
    }


def write_file(path: Path, lines: Sequence[bytes], *, compress: bool = False) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def records(count: int) -> list[bytes]:
    lines = [orjson.dumps(kaggle(n)) for n in range(count)]
    lines[5] = b"{not json"  # a skipped record
    lines[9] = orjson.dumps(kaggle(3, versions=3, title="Thing 3, revised"))  # the same id again, same batch
    lines[30] = orjson.dumps(kaggle(2, versions=3, title="Thing 2, revised"))  # again, in a later batch
    return lines


def everything(store: Store, count: int = 400) -> list[Paper]:
    """Every paper the tests' files and seed can hold, in id order."""
    ids = [f"2401.{n:05d}" for n in range(count)] + [p.arxiv_id for p in seed()]
    return [p for pid in sorted(set(ids)) if (p := store.get_paper(pid)) is not None]


def readers_running() -> list[int]:
    """The pids of this process's reader processes still alive (zombies included: one must also be reaped)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == os.getpid() and b"paperfeed.ingest.chunks" in command:
            found.append(int(stat.parent.name))
    return found


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.skipped


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The reader is the same for every backend, and so is the writer's use of what it prepares: SQLite."""
    s = open_store(f"sqlite:///{tmp_path / 'paperfeed.db'}")
    s.migrate()
    yield s
    s.close()


def test_a_process_reader_writes_what_a_thread_reader_writes(tmp_path: Path) -> None:
    path = write_file(tmp_path / "snapshot.json", records(40))
    modes: tuple[ReaderMode, ...] = ("thread", "process")
    stores = {mode: open_store(f"sqlite:///{tmp_path / mode}.db") for mode in modes}
    reports = {}
    for mode, store in stores.items():
        store.migrate()
        store.upsert_papers(seed())
        reports[mode] = import_file(store, path, batch_size=8, reader=mode)
    assert gc.isenabled()  # paused only while a batch was unpickled
    assert counts(reports["process"]) == counts(reports["thread"])
    assert reports["process"].skipped == 1 and reports["process"].updated >= 2
    thread, process = everything(stores["thread"]), everything(stores["process"])
    assert process == thread
    revised = next(p for p in process if p.arxiv_id == "2401.00002")
    assert revised.title == "Thing 2, revised" and [v.version for v in revised.versions] == [1, 2, 3]
    assert revised.authors[0] == Author("Ada Lovelace", "Analytical Engines Ltd")
    for store in stores.values():
        store.close()


def seed() -> list[Paper]:
    """Papers already stored before the import: one the file updates, one it leaves alone."""
    when = datetime(2023, 12, 1, tzinfo=UTC)
    return [
        Paper("2401.00007", "An older title", "Old.", (Author("Ada Lovelace"),), ("cs.LG",), 1, when, when,
              versions=(PaperVersion(1, when),), source="kaggle", upvotes=4),
        Paper("2312.00001", "Kept", "Not in the file.", (Author("Grace Hopper"),), ("cs.PL",), 1, when, when),
    ]  # fmt: skip


def test_a_paper_survives_its_trip_as_fields_and_a_pickled_batch() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    versions = (PaperVersion(1, when), PaperVersion(2, None))
    paper = Paper("2401.00001", "Title", "Abstract", (Author("A B", "Somewhere"), Author("C D")), ("cs.LG",), 2,
                  when, when, "comment", "journal", "10.1/x", "cc-by", when.date(), "kaggle", versions, 3, 1,
                  "someone", when, {"code": "https://x.org"})  # fmt: skip
    assert paper_from_fields(paper_fields(paper)) == paper
    batch = pickle.loads(pickle.dumps(prepare_papers([paper, paper])))
    assert isinstance(batch, PreparedBatch) and batch.count == 2
    assert batch.payload["2401.00001"].paper() == paper


def test_auto_reads_a_large_file_in_a_process_and_a_small_one_in_a_thread(tmp_path: Path) -> None:
    small = inspect_file(write_file(tmp_path / "small.json", records(40)))
    assert reader_for(small, "auto") is read_in_thread
    assert reader_for(small, "process") is read_in_process
    large = tmp_path / "large.json"
    with large.open("wb") as out:  # sparse: a size over the threshold without writing it
        out.write(b"\n".join(records(40)) + b"\n")
        out.truncate(PROCESS_READER_BYTES + 1)
    assert reader_for(inspect_file(large), "auto") is read_in_process
    assert reader_for(inspect_file(large), "thread") is read_in_thread


def test_a_truncated_gzip_read_in_a_process_keeps_its_good_batches(store: Store, tmp_path: Path) -> None:
    filler = [orjson.dumps({**kaggle(n), "abstract": os.urandom(1500).hex()}) for n in range(200, 400)]
    path = write_file(tmp_path / "snapshot.json.gz", records(200) + filler, compress=True)  # 600 kB gzipped
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IngestError, match="gzip data is truncated") as raised:
        import_file(store, path, batch_size=10, reader="process")
    last = int(matched(r"kept \(records 1 to ([\d,]+)", raised.value.message).replace(",", ""))
    assert last > 30 and last % 10 == 0  # whole batches
    assert len(everything(store)) == last - 3  # less the skipped record and the two repeated ids
    assert not readers_running()


def test_an_import_stopped_early_stops_its_reader_process_and_resumes(store: Store, tmp_path: Path) -> None:
    path = write_file(tmp_path / "snapshot.json", records(100))
    calls = []

    def stop_after_two(report: ImportReport, done: int, total: int | None) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(store, path, batch_size=10, progress=stop_after_two, reader="process")
    assert not readers_running()  # the reader was stopped, not left running
    resumed = import_file(store, path, batch_size=10, reader="process")
    assert resumed.resumed_from == 20
    assert len(everything(store)) == 100 - 1 - 2  # a skipped record, two repeated ids


def die(papers: Sequence[Paper]) -> PreparedBatch:
    """A preparer whose process dies on its first batch, as one killed by the kernel would."""
    os._exit(3)


def test_a_reader_process_that_dies_is_an_ingest_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # where the child finds ``die``
    source = inspect_file(write_file(tmp_path / "snapshot.json", records(40)))
    with pytest.raises(IngestError, match=r"reader process ended without finishing \(exit code 3\)"):
        list(read_in_process(source, 0, 10, die))
    assert not readers_running()
