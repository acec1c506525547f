"""The shared on-disk vector base: several indexes (processes) on one folder map one base, see new papers
without a rebuild, write a new base atomically and one at a time."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paperfeed.search import vector_files
from paperfeed.search.vector_files import exclusive
from paperfeed.search.vectors import VectorIndex, compact_at
from paperfeed.store import Store, open_store
from search_corpus import paper
from test_vectors import clustered, fill, unit


def generations(folder: Path) -> set[str]:
    return {p.name.split(".")[0] for p in folder.glob("g*.keys.npy")}


def test_two_indexes_share_one_base_and_see_new_papers_without_a_rebuild(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    keys = fill(store, clustered(rng, 2100))  # a base on every backend (pgvector needs no graph)
    writer, reader = VectorIndex(tmp_path, exact_below=1000), VectorIndex(tmp_path, exact_below=1000)
    writer.sync(store)
    assert writer.generation and reader.sync(store) == 2100
    assert reader.generation == writer.generation  # mapped, not built again
    assert generations(tmp_path) == {writer.generation}

    more = unit(rng, 5)
    new = fill(store, more, start=2100)
    for index in (writer, reader):
        assert index.sync(store) == 5
        assert index.generation in generations(tmp_path)
        assert index.search(more[2], 1)[0][0] == new[2]  # from the delta, before any new base
        assert len(index) == 2105
    assert reader.search(clustered(rng, 1)[0], 5)[0][0] in keys


def test_a_grown_delta_writes_a_new_base_that_the_other_index_maps(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    fill(store, clustered(rng, 2100))
    writer, reader = VectorIndex(tmp_path, exact_below=1000), VectorIndex(tmp_path, exact_below=1000)
    writer.sync(store), reader.sync(store)
    first = writer.generation
    more = clustered(rng, compact_at(2100))
    new = fill(store, more, start=2100)
    writer.sync(store)
    assert writer.generation != first and generations(tmp_path) == {writer.generation}  # the old files are gone
    assert reader.search(more[7], 1)[0][0] != new[7] or reader.generation == first  # nothing seen yet
    assert reader.sync(store) > 0 and reader.generation == writer.generation
    assert reader.search(more[7], 1)[0][0] == new[7]
    assert len(reader) == len(writer) == 2100 + len(more)
    meta = json.loads((tmp_path / "base.json").read_text())
    assert meta["count"] == 2100 + len(more)
    assert (meta["graph"] or {}).get("connectivity") == (16 if store.ann_backend() is None else None)


def test_a_changed_vector_in_the_base_is_served_from_the_delta(store: Store, tmp_path: Path) -> None:
    from paperfeed.search.embed import MODEL_ID, to_blob
    from paperfeed.store.base import EmbeddingRow

    rng = np.random.default_rng(13)
    vectors = clustered(rng, 1100)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    store.save_embeddings(MODEL_ID, [EmbeddingRow(keys[0], "h2", 0, to_blob(vectors[500]))])
    assert index.sync(store) == 1
    hits = index.search(vectors[500], 2)
    assert {k for k, _ in hits} == {keys[0], keys[500]}
    assert index.search(vectors[0], 1)[0][0] != keys[0]  # its old vector is no longer served
    served = index.vector(keys[0])
    assert served is not None and np.allclose(served, vectors[500], atol=1e-3)  # stored as float16
    assert len(index) == 1100


def test_while_another_process_writes_a_base_this_one_serves_from_its_delta(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    vectors = clustered(rng, 2100)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    with exclusive(tmp_path) as mine:
        assert mine
        index.sync(store)  # wanted a base (and a graph) but the lock is taken: no files, exact search here
        assert index.generation == "" and index.approximate == (store.ann_backend() is not None)
        assert index.search(vectors[9], 1)[0][0] == keys[9]
    index.sync(store)
    assert index.generation and index.approximate


def test_an_interrupted_write_leaves_the_current_base_in_use(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(15)
    vectors = clustered(rng, 2100)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    first = index.generation
    fill(store, clustered(rng, compact_at(2100)), start=2100)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as if the process died while writing the graph

    monkeypatch.setattr(vector_files, "_write_graph", killed)
    monkeypatch.setattr(np, "save", killed)  # pgvector's bases have no graph: die on the keys
    other = VectorIndex(tmp_path, exact_below=1000)
    with contextlib.suppress(KeyboardInterrupt):
        other.sync(store)
    assert json.loads((tmp_path / "base.json").read_text())["generation"] == first
    fresh = VectorIndex(tmp_path, exact_below=1000)
    monkeypatch.undo()
    fresh.sync(store)  # maps the intact base or writes the next one; the half-written files are cleaned up
    assert fresh.search(vectors[3], 1)[0][0] == keys[3]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_base_of_another_database_is_not_used(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    fill(store, clustered(rng, 2100))
    VectorIndex(tmp_path / "index", exact_below=1000).sync(store)
    other_store = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    other_store.migrate()
    keys = fill(other_store, unit(rng, 3))
    other_store_close = other_store.close
    other = VectorIndex(tmp_path / "index", exact_below=1000)
    assert other.sync(other_store) == 3 and len(other) == 3
    assert {k for k, _ in other.search(unit(rng, 1)[0], 10)} == set(keys)
    other_store_close()


def test_another_process_maps_the_base_and_finds_the_same_papers(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    vectors = clustered(rng, 2100)
    fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    np.save(tmp_path.parent / "query.npy", vectors[42])
    expected = [k for k, _ in index.search(vectors[42], 5)]
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from paperfeed.search.vectors import VectorIndex\n"
        "from paperfeed.search import vector_files as f\n"
        "folder = Path(sys.argv[1])\n"
        "base = f.load_base(folder, {}, 384)\n"
        "q = np.load(folder.parent / 'query.npy')\n"
        "scores = np.asarray(base.vectors, np.float32) @ q\n"
        "print(base.generation, ' '.join(str(int(base.keys[i])) for i in np.argsort(-scores)[:5]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    generation, found = out.stdout.split(" ", 1)
    assert generation == index.generation
    assert [int(k) for k in found.split()][:1] == expected[:1]


@pytest.mark.parametrize("dtype", ["i8", "f16"])
def test_both_graph_dtypes_keep_recall_and_a_change_of_dtype_writes_a_new_graph(
    store: Store, tmp_path: Path, dtype: str
) -> None:
    if store.ann_backend() is not None:
        pytest.skip("pgvector keeps the graph in the database")
    rng = np.random.default_rng(18)
    fill(store, clustered(rng, 3000))
    index = VectorIndex(tmp_path, exact_below=1000, graph_dtype=dtype)  # type: ignore[arg-type]
    index.sync(store)
    assert json.loads((tmp_path / "base.json").read_text())["graph"]["dtype"] == dtype
    queries = clustered(rng, 40)
    recall = np.mean([len({k for k, _ in index.search(q, 20)} & {k for k, _ in index.search(q, 20, exact=True)}) / 20
                      for q in queries])  # fmt: skip
    assert recall >= 0.98
    other = "f16" if dtype == "i8" else "i8"
    changed = VectorIndex(tmp_path, exact_below=1000, graph_dtype=other)  # type: ignore[arg-type]
    changed.sync(store)
    assert changed.generation != index.generation
    assert json.loads((tmp_path / "base.json").read_text())["graph"]["dtype"] == other


def test_exact_many_agrees_with_one_exact_search_per_query(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(19)
    vectors = clustered(rng, 2500)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    fill(store, clustered(rng, 30), start=2500)  # some in the delta too
    index.sync(store)
    queries = clustered(rng, 12)
    many = index.exact_many(queries, 7)
    assert [[k for k, _ in hits] for hits in many] == [[k for k, _ in index.search(q, 7, exact=True)] for q in queries]
    assert index.exact_many(vectors[:1], 1)[0][0][0] == keys[0]


def test_a_bigger_graph_is_searched_wider() -> None:
    from paperfeed.search.vectors import ef_search, pg_ef_search

    assert ef_search(120_000) == 256 and ef_search(1_000_000) == 512 and ef_search(2_700_000) == 768
    assert all(ef_search(a) <= ef_search(b) for a, b in [(10, 600_000), (600_000, 2_000_000)])
    assert pg_ef_search(120_000) == 200 and pg_ef_search(500_000) == 400 and pg_ef_search(2_700_000) == 800


def test_known_says_which_keys_have_a_vector_in_the_base_or_the_delta(store: Store, tmp_path: Path) -> None:
    from paperfeed.search.embed import MODEL_ID
    from paperfeed.store.base import EmbeddingRow

    rng = np.random.default_rng(20)
    keys = fill(store, clustered(rng, 2100))
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    store.upsert_papers([paper(9000, arxiv_id="2502.09000")])  # a paper with no vector
    bare = store.paper_keys(["2502.09000"])["2502.09000"]
    new = fill(store, clustered(rng, 3), start=2100)
    index.sync(store)
    asked = [keys[0], new[1], bare, 10**9]
    assert index.known(asked).tolist() == [True, True, False, False]
    assert index.known(asked).tolist() == [index.vector(k) is not None for k in asked]
    store.save_embeddings(MODEL_ID, [EmbeddingRow(keys[5], "h", 0, None)])  # unchanged text: still known
    assert index.known([keys[5]]).tolist() == [True]


def test_an_exact_index_scans_a_float32_copy_of_its_base(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.search import vectors

    monkeypatch.setattr(vectors, "DENSE_BELOW", 100)  # as if 2,100 vectors were a large base
    rng = np.random.default_rng(14)
    points = clustered(rng, 2100)
    keys = fill(store, points)
    exact, graphed = (
        VectorIndex(tmp_path / "exact", exact_below=2**62),
        VectorIndex(tmp_path / "graph", exact_below=1000),
    )
    for index in (exact, graphed):
        index.sync(store)
        assert index.generation  # both serve from a written base
    assert exact._state.dense is not None and exact._state.dense.dtype == np.float32
    assert graphed._state.dense is None  # searched by its graph (or pgvector): no copy
    for i in (3, 700, 2099):
        hits = exact.search(points[i], 5)
        assert hits[0][0] == keys[i] and hits == exact.search(points[i], 5, exact=True)
        assert abs(hits[0][1] - float(points[i].astype(np.float16).astype(np.float32) @ points[i])) < 1e-5
    monkeypatch.setattr(vectors, "DENSE_BYTES", 1000)  # too big to copy: scanned from float16
    reread = VectorIndex(tmp_path / "exact", exact_below=2**62)
    reread.sync(store)
    assert reread._state.dense is None and reread.search(points[700], 5) == exact.search(points[700], 5)


def test_a_query_s_sync_writes_the_new_base_aside_and_serves_meanwhile(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With background=True (what a query's look does) the sync returns while a thread writes the base; the
    index serves from its delta meanwhile, and the next sync maps what the thread wrote."""
    import threading

    rng = np.random.default_rng(21)
    fill(store, clustered(rng, 2100))
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    first = index.generation
    more = clustered(rng, compact_at(2100))
    new = fill(store, more, start=2100)
    release, writing = threading.Event(), threading.Event()
    real = vector_files.write_base

    def slow_write(*args: object, **kwargs: object) -> None:
        writing.set()
        assert release.wait(30)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("paperfeed.search.vectors.write_base", slow_write)
    assert index.sync(store, background=True) == len(more)  # returns while the base is being written
    assert writing.wait(30)
    assert index.generation == first and index.search(more[3], 1)[0][0] == new[3]  # served from the delta
    assert index.sync(store, background=True) == 0  # one writer at a time: no second thread
    release.set()
    index.wait_for_base(30)
    assert generations(tmp_path) != {first}  # written...
    assert index.generation == first  # ...but not mapped by the writing thread
    assert index.sync(store, background=True) == 2100 + len(more)  # the next sync maps it
    assert index.generation != first and index.search(more[3], 1)[0][0] == new[3]
    assert len(index) == 2100 + len(more)


def test_a_base_write_that_fails_aside_leaves_the_current_one(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(22)
    fill(store, clustered(rng, 2100))
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    first = index.generation
    fill(store, clustered(rng, compact_at(2100)), start=2100)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("paperfeed.search.vectors.write_base", broken)
    index.sync(store, background=True)
    index.wait_for_base(30)
    assert index.generation == first and generations(tmp_path) == {first}
    monkeypatch.undo()
    index.sync(store, background=True)  # tried again
    index.wait_for_base(30)
    assert index.sync(store) > 0 and index.generation != first
