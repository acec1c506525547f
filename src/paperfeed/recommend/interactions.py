"""Readers' upvotes and collections as one matrix, and the graph filter fitted on it: what both the serving side
(paperfeed.recommend.serve) and the nightly refit (paperfeed.recommend.refit) start from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.algorithms import GraphFilter

MIN_READERS = 3  # below this many readers with history, collaborative filtering has nothing to say


@dataclass
class Interactions:
    """Who read what on this instance: ``matrix[users[u], papers[p]]`` is 1 when reader ``u`` upvoted or
    collected paper ``p`` (paper keys); ``mark`` is the store's mark of that state, to tell when it changed."""

    mark: tuple[int, ...]
    users: dict[int, int]
    papers: dict[int, int]
    matrix: sp.csr_matrix
    model: GraphFilter | None


def fit_interactions(pairs: list[tuple[int, int]], mark: tuple[int, ...]) -> Interactions:
    """The matrix of (reader, paper key) ``pairs`` and, with enough readers, its graph filter."""
    users = {u: i for i, u in enumerate(sorted({u for u, _ in pairs}))}
    papers = {p: i for i, p in enumerate(sorted({p for _, p in pairs}))}
    rows = [users[u] for u, _ in pairs]
    cols = [papers[p] for _, p in pairs]
    matrix = sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(users), len(papers)))
    model = None
    if len(users) >= MIN_READERS and len(papers) >= 2:
        k = min(64, min(matrix.shape) - 1)
        model = GraphFilter(k=k, alpha=0.3 if k >= 1 else 0.0).fit(matrix)
    return Interactions(mark, users, papers, matrix, model)


def recommend_text(title: str, abstract: str) -> str:
    """A paper's text as the collective model's word features see it."""
    return f"{title}\n{abstract}"
