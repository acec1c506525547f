"""The nightly ``refit`` job: fit the collective model on every reader's upvotes and collections and the words
and concepts of the papers that matter (the newest and every one a reader touched: :func:`catalogue`), save it
for every web process, then fit the blend weights on held-out history.

Training only; serving (the "for you" lists) is paperfeed.recommend.serve, which loads what this saves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.algorithms import CollectiveMF, GraphFilter, fit_blend
from paperfeed.recommend.collective import ARTIFACT, CollectiveModel, PaperFeatures
from paperfeed.recommend.interactions import MIN_READERS, Interactions, fit_interactions, recommend_text
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store

BLEND_STATE = "recommend:blend"  # blend weights fitted on this instance's data, read by every web process
MIN_FIT_READERS = 20  # below this many readers with two or more papers, the default weights stay
CATALOGUE_PAGE = 5_000
FIT_RECENT = 100_000  # newest papers in the collective model's fit, beside every touched one


@dataclass
class Catalogue:
    """The papers the refit fits on (see :func:`catalogue`), ascending by key."""

    keys: np.ndarray
    vectors: np.ndarray
    features: PaperFeatures
    x: sp.csr_matrix  # papers x features
    columns: np.ndarray  # the interaction matrix's column j is paper keys[columns[j]]
    rank: int  # factors for the collective model

    def widen(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """A readers x interacted-papers matrix as readers x every paper here."""
        return sp.csr_matrix((matrix.data, self.columns[matrix.indices], matrix.indptr),
                             shape=(matrix.shape[0], len(self.keys)))  # fmt: skip


def refit(store: Store, engine: SearchEngine, max_readers: int = 1_000, max_items: int = 20_000, seed: int = 0) -> str:
    """Fit and save the collective model, then the blend weights (see :func:`fit_weights`). Returns what it
    did, in words."""
    started = time.perf_counter()
    interactions = fit_interactions(store.interactions(), ())
    if interactions.matrix.shape[0] < MIN_READERS:
        return f"{interactions.matrix.shape[0]} readers with upvotes or collections: too few to fit a model"
    engine.refresh()
    cat = catalogue(store, engine, interactions)
    model, _ = CollectiveModel.fit(cat.widen(interactions.matrix), cat.keys, cat.features, cat.x, seed, cat.rank)
    meta = {"readers": interactions.matrix.shape[0], "papers": len(cat.keys), "features": cat.features.size}
    version = store.save_artifact(ARTIFACT, meta, model.to_bytes())
    said = (f"collective model v{version} fitted on {meta['readers']:,} readers x {len(cat.keys):,} papers "
            f"with {cat.features.size:,} features in {time.perf_counter() - started:.0f} s")  # fmt: skip
    return f"{said}; {fit_weights(store, interactions, cat, max_readers, max_items, seed)}"


def fit_weights(
    store: Store, interactions: Interactions, cat: Catalogue, max_readers: int, max_items: int, seed: int
) -> str:
    """Fit the blend weights on this instance's history: one paper held out per reader (at most
    ``max_readers``), weights chosen for Recall@20 on them among at most ``max_items`` candidates (the held-out
    papers and the most upvoted others; see :func:`paperfeed.recommend.algorithms.fit_blend`), so that the score
    matrices stay at a few hundred MB whatever the instance's size. Saved for every web process."""
    rng = np.random.default_rng(seed)
    sizes = np.diff(interactions.matrix.indptr)
    eligible = np.flatnonzero(sizes >= 2)
    if eligible.size < MIN_FIT_READERS:
        return f"{eligible.size} readers with two or more papers: too few to fit blend weights, defaults kept"
    readers = np.sort(rng.choice(eligible, size=min(max_readers, eligible.size), replace=False))
    history, held = hold_out(interactions.matrix, readers, rng)
    degree = np.asarray(history.sum(axis=0), np.float32).ravel()
    cols = np.union1d(held.indices, np.argsort(-degree, kind="stable")[:max_items])  # every held-out paper
    train, test = history[readers], held[readers][:, cols]
    items = cat.vectors[cat.columns]  # the interacted papers, in the matrix's column order
    profiles = np.asarray(train @ items)
    profiles /= np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-9)
    content = (profiles @ items[cols].T).astype(np.float32)
    k = max(1, min(64, min(history.shape) - 1))
    graph = GraphFilter(k=k, alpha=0.3).fit(history)
    collaborative = np.vstack([graph.score(train[i : i + 200])[:, cols] for i in range(0, readers.size, 200)])
    held_model, users = CollectiveModel.fit(cat.widen(history), cat.keys, cat.features, cat.x, seed, cat.rank)
    collective = users[readers] @ held_model.mf.fitted_item_factors()[cat.columns[cols]].T
    popular = np.broadcast_to(np.log1p(degree[cols]), content.shape).copy()
    blend = fit_blend(train[:, cols], test, [content, collaborative, collective, popular], k=20)
    weights = {str(b): list(w) for b, w in blend.weights.items()}
    store.set_state(BLEND_STATE, {"weights": weights, "readers": int(readers.size)})
    return f"blend weights (content, graph, collective, popularity) fitted on {readers.size} readers: {weights}"


def catalogue(store: Store, engine: SearchEngine, interactions: Interactions) -> Catalogue:
    """The papers the collective model is fitted on: every paper a reader touched and the FIT_RECENT newest
    (so at most FIT_RECENT + touched papers, whatever the size of the instance: 100,000 newest keep the refit of a
    whole-arXiv instance within minutes and a few GB, bench/scale.py), with their texts' word and concept
    features and their vectors (zeros for a paper without one). Every other paper is folded in when served."""
    touched = np.fromiter(interactions.papers, np.int64, len(interactions.papers))
    keys = np.union1d(np.asarray(store.newest_keys(None, FIT_RECENT), np.int64), touched)
    texts: dict[int, str] = {}
    for start in range(0, len(keys), CATALOGUE_PAGE):
        found = store.papers_by_key(keys[start : start + CATALOGUE_PAGE].tolist())
        texts.update((k, recommend_text(p.title, p.abstract)) for k, p in found.items())
    embedded, matrix = engine.vectors.export(keys)
    vectors = np.zeros((len(keys), engine.vectors.dim), np.float32)  # a paper not embedded: zeros
    vectors[np.searchsorted(keys, embedded)] = matrix
    features, x = PaperFeatures.fit_transform([texts.get(int(k), "") for k in keys], vectors)
    columns = np.searchsorted(keys, sorted(interactions.papers, key=interactions.papers.__getitem__))
    return Catalogue(keys, vectors, features, x, columns, factors_for(interactions.matrix))


def factors_for(matrix: sp.csr_matrix) -> int:
    """Factors for the collective model: CollectiveMF's 200 (chosen on CiteULike-t's 5,551 readers), fewer on a
    small instance, where so many would only fit its noise (a guard, not a tuned value)."""
    return int(np.clip(min(matrix.shape) // 2, 2, CollectiveMF.factors))


def hold_out(
    matrix: sp.csr_matrix, readers: np.ndarray, rng: np.random.Generator
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``matrix`` without one random paper of each of ``readers``, and those papers."""
    matrix = sp.csr_matrix(matrix, copy=True)
    rows, cols = [], []
    for u in readers:
        start, end = matrix.indptr[u], matrix.indptr[u + 1]
        pick = start + int(rng.integers(end - start))
        rows.append(int(u))
        cols.append(int(matrix.indices[pick]))
        matrix.data[pick] = 0
    matrix.eliminate_zeros()
    held = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=matrix.shape)
    return matrix, held
