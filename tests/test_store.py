"""The store suite: every backend in conftest.BACKENDS must pass all of it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import new_database_url, postgres_cluster, sql_engine
from paperfeed.errors import StoreError
from paperfeed.models import Author, Paper, PaperVersion
from paperfeed.store import Store, open_store
from paperfeed.store.base import EmbeddingRow
from paperfeed.store.schema import metadata


def make(n: int, **fields: Any) -> Paper:
    base: dict[str, Any] = {
        "arxiv_id": f"2401.{n:05d}",
        "title": f"Paper {n}",
        "abstract": f"Abstract of paper {n} about transformers.",
        "authors": (Author("Ada Lovelace", "Engines"), Author("Alan Turing")),
        "categories": ("cs.LG", "stat.ML"),
        "version": 1,
        "feed_date": date(2024, 1, 1) + timedelta(days=n % 3),
        "source": "test",
        "versions": (PaperVersion(1, datetime(2024, 1, 1, 12, tzinfo=UTC)),),
    }
    base.update(fields)
    return Paper(**base)


def test_migrate_is_idempotent_and_versioned(store_url: str) -> None:
    s = open_store(store_url)
    assert s.schema_version() == 0
    assert s.migrate() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert s.migrate() == []
    assert s.schema_version() == 11
    s.close()


def test_migrated_schema_matches_the_query_tables(store: Store) -> None:
    inspector = sa.inspect(sql_engine(store))
    for table in metadata.sorted_tables:
        actual = {c["name"] for c in inspector.get_columns(table.name)}
        assert actual == {c.name for c in table.columns}, table.name


def test_sqlite_runs_in_wal_mode(store: Store, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite only")
    with sql_engine(store).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_insert_then_same_records_change_nothing(store: Store) -> None:
    batch = [make(n) for n in range(10)]
    assert store.upsert_papers(batch).inserted == 10
    again = store.upsert_papers(batch)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10)
    assert store.stats().papers == 10


def test_round_trip_keeps_every_field(store: Store) -> None:
    p = make(
        7,
        comment="10 pages",
        journal_ref="J. Test 1",
        doi="10.1/x",
        license="CC-BY",
        first_version_at=datetime(2024, 1, 1, 12, tzinfo=UTC),
        latest_version_at=datetime(2024, 1, 2, 12, tzinfo=UTC),
        upvotes=3,
        num_comments=2,
        submitted_by="ada",
        submitted_at=datetime(2024, 1, 3, 9, tzinfo=UTC),
        extra_links={"github": "https://github.com/x/y"},
    )
    store.upsert_papers([p])
    assert store.get_paper(p.arxiv_id) == p


def test_newer_version_updates_the_record_and_keeps_history(store: Store) -> None:
    store.upsert_papers([make(1)])
    v2 = make(
        1,
        title="Paper 1, revised",
        version=2,
        versions=(PaperVersion(2, datetime(2024, 2, 1, tzinfo=UTC)),),
        feed_date=date(2024, 2, 1),
    )
    result = store.upsert_papers([v2])
    assert (result.inserted, result.updated) == (0, 1)
    stored = store.get_paper("2401.00001")
    assert stored is not None
    assert stored.title == "Paper 1, revised"
    assert stored.version == 2
    assert [v.version for v in stored.versions] == [1, 2]
    assert stored.feed_date == date(2024, 1, 2)  # stays the day it entered the feed
    assert store.stats().papers == 1
    assert [d.title for d in store.changed_papers((0, 0), 10)] == ["Paper 1, revised"]


def test_older_version_is_ignored(store: Store) -> None:
    store.upsert_papers([make(1, title="v3 title", version=3)])
    result = store.upsert_papers([make(1, title="v1 title", version=1)])
    assert result.unchanged == 1
    stored = store.get_paper("2401.00001")
    assert stored is not None
    assert stored.title == "v3 title"


def test_duplicates_inside_one_batch_become_one_row(store: Store) -> None:
    result = store.upsert_papers([make(1), make(1, title="Second copy"), make(2)])
    assert result.inserted == 2
    assert store.stats().papers == 2


def test_state_is_saved_with_the_batch(store: Store) -> None:
    store.upsert_papers([make(1)], state_key="import:x", state={"position": 41})
    assert store.get_state("import:x") == {"position": 41}
    store.set_state("import:x", {"position": 42})
    assert store.get_state("import:x") == {"position": 42}
    store.delete_state("import:x")
    assert store.get_state("import:x") is None
    store.delete_state("import:x")


def test_a_failing_batch_writes_nothing(store: Store) -> None:
    store.upsert_papers([make(1)], state_key="k", state={"position": 1})
    broken = make(2, title=None)  # NOT NULL violation on the second row of the batch
    with pytest.raises(sa.exc.IntegrityError):
        store.upsert_papers([make(3), broken], state_key="k", state={"position": 3})
    assert store.stats().papers == 1
    assert store.get_state("k") == {"position": 1}


def test_listing_sorting_paging_and_category(store: Store) -> None:
    store.upsert_papers([make(n, upvotes=n) for n in range(1, 10)])
    store.upsert_papers([make(20, categories=("math.AP",), feed_date=date(2024, 1, 2))])
    day = date(2024, 1, 2)  # n % 3 == 1 -> 1, 4, 7 and 20
    top = store.list_papers(day, day)
    assert [p.arxiv_id for p in top] == ["2401.00007", "2401.00004", "2401.00001", "2401.00020"]
    assert store.count_papers(day, day) == 4
    assert store.count_papers(day, day, category="math.AP") == 1
    page2 = store.list_papers(date(2024, 1, 1), date(2024, 1, 3), sort="upvotes", limit=3, offset=3)
    assert [p.upvotes for p in page2] == [6, 5, 4]
    oldest = store.list_papers(date(2024, 1, 1), date(2024, 1, 3), sort="oldest", limit=1)
    assert oldest[0].feed_date == date(2024, 1, 1)


def test_feed_dates(store: Store) -> None:
    assert store.latest_feed_date() is None
    store.upsert_papers([make(n) for n in (3, 4)])  # 2024-01-01 and 2024-01-02
    store.upsert_papers([make(9, feed_date=date(2024, 1, 9))])
    assert store.latest_feed_date() == date(2024, 1, 9)
    assert store.neighbour_feed_dates(date(2024, 1, 2)) == (date(2024, 1, 1), date(2024, 1, 9))
    assert store.neighbour_feed_dates(date(2024, 1, 1)) == (None, date(2024, 1, 2))


def test_stats(store: Store) -> None:
    store.upsert_papers([make(1), make(2, source="other")])
    stats = store.stats()
    assert (stats.papers, stats.versions, stats.categories) == (2, 2, 2)
    assert stats.by_source == {"test": 1, "other": 1}
    assert stats.schema_version == 11
    assert stats.size_bytes
    assert stats.size_bytes > 0


def test_unsupported_urls_are_refused() -> None:
    from paperfeed.errors import BadRequest

    with pytest.raises(BadRequest, match="not supported"):
        open_store("mysql://localhost/db")
    with pytest.raises(BadRequest, match="not a valid URL"):
        open_store("::not a url::")


def test_unusable_databases_give_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(StoreError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path / 'a-folder'}").migrate()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the database folder"):
        open_store(f"sqlite:///{blocker / 'sub' / 'x.db'}")
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(StoreError, match="not initialised: run `paperfeed init`"):
        fresh.latest_feed_date()


def test_unusable_postgresql_databases_give_clear_errors(closed_port_url: str, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    port = closed_port_url.split(":")[2].split("/")[0]
    with pytest.raises(StoreError, match=r"database postgresql\+psycopg://u:\*\*\*@127.0.0.1:\d+/x: .*refused"):
        open_store(f"postgresql://u:secret@127.0.0.1:{port}/x").migrate()
    fresh = open_store(new_database_url("postgresql", tmp_path))
    with pytest.raises(StoreError, match="not initialised: run `paperfeed init`"):
        fresh.latest_feed_date()
    fresh.close()
    with pytest.raises(StoreError, match=r"database \"nosuchdb\" does not exist \(create it first"):
        open_store(postgres_cluster().url("nosuchdb")).migrate()


def test_a_database_from_a_newer_paperfeed_is_refused(store: Store) -> None:
    with sql_engine(store).begin() as conn:
        conn.exec_driver_sql("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01 00:00:00')")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        store.migrate()


def test_change_feed_pages_by_commit_sequence(store: Store) -> None:
    store.upsert_papers([make(1), make(2), make(3)])
    first = store.changed_papers((0, 0), 2)
    assert [d.arxiv_id for d in first] == ["2401.00001", "2401.00002"]
    assert len({d.seq for d in first}) == 1  # one transaction, one sequence number
    rest = store.changed_papers((first[-1].seq, first[-1].key), 10)
    assert [d.arxiv_id for d in rest] == ["2401.00003"]
    assert store.changed_papers((rest[-1].seq, rest[-1].key), 10) == []
    store.upsert_papers([make(2, title="Paper 2, revised", version=2)])
    changed = store.changed_papers((rest[-1].seq, rest[-1].key), 10)
    assert [(d.arxiv_id, d.title) for d in changed] == [("2401.00002", "Paper 2, revised")]
    assert changed[0].seq == store.change_seq() > rest[-1].seq
    store.upsert_papers([make(2, title="Paper 2, revised", version=2)])  # unchanged: no new sequence number
    assert store.change_seq() == changed[0].seq


def test_concurrent_writers_take_distinct_sequence_numbers_in_commit_order(store: Store, store_url: str) -> None:
    """Four processes' worth of writers at once (threads, each with its own connections): every transaction gets
    its own sequence number, so an index following (seq, key) sees each transaction whole and skips none."""
    import threading

    errors: list[BaseException] = []

    def writer(w: int) -> None:
        own = open_store(store_url)
        try:
            for t in range(8):
                own.upsert_papers([make(w * 1000 + t * 10 + i) for i in range(5)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    docs = store.changed_papers((0, 0), 1000)
    assert len(docs) == 160
    by_seq: dict[int, set[str]] = {}
    for d in docs:
        by_seq.setdefault(d.seq, set()).add(d.arxiv_id[:-1])  # the id without its last digit names the batch
    assert len(by_seq) == 32 and all(len(batch) == 1 for batch in by_seq.values())


def test_embeddings_are_saved_replaced_and_followed(store: Store) -> None:
    store.upsert_papers([make(1), make(2)])
    assert store.embedding_backlog("m") == 2
    jobs = store.embedding_jobs("m", 0, 10)
    assert [j.stored_hash for j in jobs] == [None, None]
    store.save_embeddings("m", [EmbeddingRow(j.key, "h", j.paper_seq, bytes([j.key]) * 4) for j in jobs])
    assert store.embedding_backlog("m") == 0
    assert store.embedding_backlog("other-model") == 2
    assert store.count_embeddings("m") == 2
    saved = store.embeddings_since("m", (0, 0), 10)
    assert [v.vector for v in saved] == [bytes([j.key]) * 4 for j in jobs]
    store.upsert_papers([make(1, upvotes=5, version=2)])  # the paper changed: its embedding is looked at again
    (job,) = store.embedding_jobs("m", 0, 10)
    assert job.stored_hash == "h"
    store.save_embeddings("m", [EmbeddingRow(job.key, "h", job.paper_seq, None)])  # same text: keep the vector
    assert store.embedding_backlog("m") == 0
    assert store.embeddings_since("m", (saved[-1].seq, saved[-1].key), 10) == []
    keys = store.paper_keys(["2401.00001", "2401.99999"])
    assert list(keys) == ["2401.00001"]
    assert store.papers_by_key(list(keys.values()))[keys["2401.00001"]].upvotes == 5


def test_artifacts_are_replaced_whole_with_rising_versions(store: Store) -> None:
    assert store.artifact_version("recommend:cmf") is None
    assert store.load_artifact("recommend:cmf") is None
    blob = bytes(range(256)) * 4_000  # binary, ~1 MB, with every byte value (NULs included)
    assert store.save_artifact("recommend:cmf", {"papers": 3}, blob) == 1
    assert store.save_artifact("recommend:cmf", {"papers": 4}, blob[::-1]) == 2
    assert store.save_artifact("other", {}, b"x") == 1
    found = store.load_artifact("recommend:cmf")
    assert found is not None
    assert (found.version, found.meta, found.data) == (2, {"papers": 4}, blob[::-1])
    assert store.artifact_version("recommend:cmf") == 2


def test_upvotes_by_key_count_what_papers_by_key_count(store: Store) -> None:
    store.upsert_papers([make(1, upvotes=5), make(2)])
    user = store.create_user("ada", None, "x")
    store.set_vote(user.id, "2401.00001", True, datetime.now(UTC))  # this instance's vote on top of the source's 5
    keys = list(store.paper_keys(["2401.00001", "2401.00002"]).values())
    counted = store.upvotes_by_key([*keys, 999_999])  # an unknown key is left out
    assert counted == {k: p.upvotes for k, p in store.papers_by_key(keys).items()}
    assert sorted(counted.values()) == [0, 6]


def test_upvotes_between_count_what_vote_stats_counts_in_the_window(store: Store) -> None:
    store.upsert_papers([make(n, upvotes=n) for n in range(1, 8)])  # feed dates 2024-01-01 .. 01-03, in turn
    user = store.create_user("ada", None, "x")
    store.set_vote(user.id, "2401.00004", True, datetime.now(UTC))
    start, end = date(2024, 1, 2), date(2024, 1, 3)
    counted = store.upvotes_between(start, end)
    assert counted == {s.key: s.upvotes for s in store.vote_stats(start, end)}
    by_id = {p.arxiv_id: counted[key] for key, p in store.papers_by_key(list(counted)).items()}
    assert by_id == {"2401.00001": 1, "2401.00002": 2, "2401.00004": 5, "2401.00005": 5, "2401.00007": 7}
    assert store.upvotes_between(end, start) == {}  # an empty window, not an error
