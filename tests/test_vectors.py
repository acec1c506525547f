"""The vector index (exact and HNSW) and the embedding job, over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperfeed.search.embed import DIM, MODEL_ID, Embedder, bf16_supported, to_blob
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store
from paperfeed.store.base import EmbeddingRow
from search_corpus import corpus, paper


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    normalised: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return normalised


def clustered(rng: np.random.Generator, n: int, dims: int = 12) -> np.ndarray:
    """Points of low intrinsic dimension, as text embeddings are (uniform random points in 384-d are not:
    their nearest neighbours are barely nearer than anything else)."""
    basis = np.random.default_rng(0).standard_normal((dims, DIM)).astype(np.float32)
    x = rng.standard_normal((n, dims)).astype(np.float32) @ basis
    x += 0.05 * rng.standard_normal((n, DIM)).astype(np.float32)
    normalised: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return normalised


def fill(store: Store, vectors: np.ndarray, start: int = 0) -> list[int]:
    papers = [paper(start + i, arxiv_id=f"2502.{start + i:05d}") for i in range(len(vectors))]
    for i in range(0, len(papers), 1000):
        store.upsert_papers(papers[i : i + 1000])
    keys = store.paper_keys([p.arxiv_id for p in papers])
    rows = [EmbeddingRow(keys[p.arxiv_id], "h", 0, to_blob(v)) for p, v in zip(papers, vectors, strict=True)]
    store.save_embeddings(MODEL_ID, rows)
    return [keys[p.arxiv_id] for p in papers]


def test_hnsw_recall_against_exact_and_reload(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    fill(store, clustered(rng, 3000))
    index = VectorIndex(tmp_path, exact_below=1000)
    assert index.sync(store) == 3000
    assert index.approximate
    queries = clustered(rng, 50)
    recall = np.mean(
        [
            len({k for k, _ in index.search(q, 20)} & {k for k, _ in index.search(q, 20, exact=True)}) / 20
            for q in queries
        ]
    )
    assert recall >= 0.98
    # PostgreSQL with pgvector answers from its own HNSW index; elsewhere the graph is built and saved here
    assert bool(list(tmp_path.glob("*.usearch"))) == (store.ann_backend() is None)

    more = unit(rng, 10)
    new_keys = fill(store, more, start=3000)
    reloaded = VectorIndex(tmp_path, exact_below=1000)
    assert reloaded.sync(store) == 3010  # the saved base mapped, the 10 new vectors read into its delta
    assert reloaded.generation == index.generation
    assert reloaded.search(more[3], 1)[0][0] == new_keys[3]
    assert reloaded.search(more[3], 1, exact=True)[0][0] == new_keys[3]


def test_exact_below_the_threshold_and_within_a_subset(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 200)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=1000)
    index.sync(store)
    assert not index.approximate
    best = index.search(vectors[7], 3)
    assert best[0][0] == keys[7]
    assert best[0][1] == pytest.approx(1.0, abs=1e-3)
    assert [k for k, _ in index.search(vectors[7], 5, within=keys[10:20])] != []
    assert {k for k, _ in index.search(vectors[7], 5, within=keys[10:20])} <= set(keys[10:20])
    assert index.sync(store) == 0


def test_a_changed_vector_replaces_the_old_one(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 30)
    keys = fill(store, vectors)
    index = VectorIndex(tmp_path, exact_below=10)
    index.sync(store)
    store.save_embeddings(MODEL_ID, [EmbeddingRow(keys[0], "h2", 0, to_blob(vectors[1]))])
    assert index.sync(store) == 1
    assert len(index) == 30
    assert {k for k, _ in index.search(vectors[1], 2)} == {keys[0], keys[1]}


def test_embed_job_is_incremental_and_resumable(store: Store) -> None:
    embedder = Embedder()
    store.upsert_papers(corpus())
    first = embed_papers(store, embedder, limit=4, batch=3)  # as if stopped after 4 papers
    assert (first.backlog, first.embedded) == (10, 4)
    rest = embed_papers(store, embedder, batch=3)
    assert (rest.backlog, rest.embedded) == (6, 6)
    store.upsert_papers([paper(1, upvotes=9, version=2)])  # an upvote: the text is the same
    again = embed_papers(store, embedder)
    assert (again.embedded, again.unchanged) == (0, 1)
    store.upsert_papers([paper(2, abstract="A new abstract about diffusion.", version=3)])
    assert embed_papers(store, embedder).embedded == 1
    assert embed_papers(store, embedder).backlog == 0


def test_bf16_embeddings_match_fp32() -> None:
    texts = [p.title + " " + p.abstract for p in corpus()]
    fast = Embedder("bf16").encode(texts)
    exact = Embedder("fp32").encode(texts)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float(np.mean(np.sum(fast * exact, axis=1))) > 0.999


def test_a_query_ranked_by_its_vector_alone_is_embedded_in_fp32() -> None:
    text = corpus()[3].title
    embedder = Embedder("bf16")
    usual = "bf16" if bf16_supported() else "fp32"  # auto queries: bf16 only where the CPU has bf16 units
    hybrid = embedder.encode_query(text)
    assert set(embedder._models) == {usual}
    semantic = embedder.encode_query(text, alone=True)
    assert set(embedder._models) == {usual, "fp32"}
    assert np.allclose(semantic, Embedder("fp32").encode([text])[0], atol=1e-6)
    assert np.array_equal(hybrid, semantic) == (usual == "fp32")
    forced = Embedder("bf16", query_precision="bf16")
    alone = forced.encode_query(text, alone=True)
    assert set(forced._models) == {"bf16"}  # an explicit setting holds everywhere
    assert np.array_equal(alone, forced.encode_query(text))
