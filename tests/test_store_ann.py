"""The store's approximate-nearest-neighbour side on PostgreSQL: pgvector when the server has it, the in-process
HNSW index when it does not (part of the store suite: it reads the server's catalogue and drops the table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import sql_engine
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store
from test_vectors import clustered, fill


def test_postgresql_uses_pgvector_when_the_server_has_it(store: Store, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    with sql_engine(store).connect() as conn:
        available = conn.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").first()
    assert store.ann_backend() == ("pgvector" if available else None)
    rng = np.random.default_rng(5)
    vectors = clustered(rng, 300)
    keys = fill(store, vectors)
    if available:  # every saved embedding is mirrored into the database's index at once
        assert [k for k, _ in store.nearest(vectors[9].tolist(), 1)] == [keys[9]]


def test_pgvector_visits_as_many_candidates_as_asked(store: Store, backend: str) -> None:
    if backend != "postgresql" or store.ann_backend() is None:
        pytest.skip("PostgreSQL with pgvector only")
    vectors = clustered(np.random.default_rng(8), 300)
    fill(store, vectors)
    # pgvector returns at most ef_search rows: so the setting reached the query, and a bad value is clamped
    assert len(store.nearest(vectors[3].tolist(), 10, ef_search=4)) == 4
    assert len(store.nearest(vectors[3].tolist(), 10, ef_search=40)) == 10
    assert len(store.nearest(vectors[3].tolist(), 10, ef_search=-7)) == 1
    assert len(store.nearest(vectors[3].tolist(), 10, ef_search=10**9)) == 10


def test_without_pgvector_search_falls_back_to_the_in_process_index(
    store: Store, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    from paperfeed.store import sql_ann

    with sql_engine(store).begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS paper_ann")
    monkeypatch.setattr(sql_ann, "_SETUP", ("CREATE EXTENSION IF NOT EXISTS no_such_extension",))
    said = store.setup_ann()
    assert said.startswith("vector search: in-process HNSW (usearch); pgvector unavailable:")
    assert "no_such_extension" in said
    assert store.ann_backend() is None
    fill(store, clustered(np.random.default_rng(6), 1200))
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    assert index.approximate and list(tmp_path.glob("*.usearch"))
