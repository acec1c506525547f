"""A first import into an empty store builds the author index once at the end (Store.bulk_load)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import sql_engine
from paperfeed.errors import IngestError
from paperfeed.ingest.pipeline import import_file
from paperfeed.models import author_key
from paperfeed.store import Store
from search_corpus import paper

INDEX = "ix_paper_authors_key"


def has_index(store: Store) -> bool:
    engine = sql_engine(store)
    return INDEX in {ix["name"] for ix in sa.inspect(engine).get_indexes("paper_authors")}


def write_records(path: Path, count: int, *, broken_at: int | None = None) -> Path:
    lines = []
    for n in range(count):
        if n == broken_at:
            lines.append("{not json")
            continue
        lines.append(json.dumps({"id": f"2501.{n:05d}", "title": f"Paper {n}", "abstract": "An abstract.",
                                 "authors": [f"Writer Number{n % 7}"], "categories": ["cs.LG"],
                                 "first_seen_date": "2025-01-02"}))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_empty_store_drops_the_index_for_the_load_and_builds_it_at_the_end(store: Store) -> None:
    with store.bulk_load() as deferred:
        assert deferred
        assert not has_index(store)
        store.upsert_papers([paper(n) for n in range(5)])
    assert has_index(store)
    key = author_key(paper(0).authors[0].name)
    assert store.papers_by_authors([key], date(2024, 1, 1), 10)  # answered through the rebuilt index


def test_a_store_with_papers_keeps_its_index(store: Store) -> None:
    store.upsert_papers([paper(1)])
    with store.bulk_load() as deferred:
        assert not deferred
        assert has_index(store)
    assert has_index(store)


def test_a_failed_load_still_builds_the_index(store: Store) -> None:
    def load_and_break() -> None:
        with store.bulk_load():
            store.upsert_papers([paper(2)])
            raise RuntimeError("the import broke")

    with pytest.raises(RuntimeError):
        load_and_break()
    assert has_index(store)


def test_a_build_that_fails_does_not_hide_the_loads_own_error(store: Store) -> None:
    def load_and_break() -> None:
        with store.bulk_load():
            with sql_engine(store).begin() as conn:  # the build at the end will find no table to index
                conn.exec_driver_sql("ALTER TABLE paper_authors RENAME TO paper_authors_gone")
            raise RuntimeError("the import broke")

    with pytest.raises(RuntimeError, match="the import broke"):
        load_and_break()


def test_an_interrupted_load_leaves_the_index_to_the_next_migrate(store: Store) -> None:
    def load_and_interrupt() -> None:
        with store.bulk_load():
            store.upsert_papers([paper(2)])
            raise KeyboardInterrupt  # Ctrl-C: stop now, no index build first

    with pytest.raises(KeyboardInterrupt):
        load_and_interrupt()
    assert not has_index(store)
    store.migrate()
    assert has_index(store)


def test_migrate_builds_an_index_a_killed_load_left_out(store: Store) -> None:
    with sql_engine(store).begin() as conn:  # what a load killed before its end leaves behind
        conn.exec_driver_sql(f"DROP INDEX {INDEX}")
    assert not has_index(store)
    store.migrate()
    assert has_index(store)
    store.migrate()  # and again: nothing to do, no error
    assert has_index(store)


def test_import_file_into_an_empty_store_says_so_and_ends_with_the_index(store: Store, tmp_path: Path) -> None:
    report = import_file(store, write_records(tmp_path / "papers.jsonl", 30), batch_size=7)
    assert report.inserted == 30
    assert any("author index was built once at the end" in note for note in report.notes)
    assert has_index(store)
    again = import_file(store, write_records(tmp_path / "more.jsonl", 40), batch_size=7)
    assert again.inserted == 10 and not any("author index" in note for note in again.notes)


def test_a_truncated_file_keeps_its_good_batches_and_still_builds_the_index(store: Store, tmp_path: Path) -> None:
    plain = write_records(tmp_path / "papers.jsonl", 3000).read_bytes()
    packed = gzip.compress(plain)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) * 3 // 4])  # the download stopped three quarters through
    with pytest.raises(IngestError):
        import_file(store, cut, batch_size=100)
    assert 0 < store.stats().papers < 3000
    assert has_index(store)
