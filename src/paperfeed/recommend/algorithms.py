"""Recommendation algorithms (not data records: those are :mod:`paperfeed.models`) over a user-item matrix and
item features: pure numpy / scipy, no I/O.

* :class:`ContentModel`: the sum of cosine similarities between an item and the items a user liked (minus
  those dismissed), over L2-normalised item features (tf-idf rows, or sentence embeddings). It works from one
  liked item, and from an "interests" vector alone.
* :class:`GraphFilter`: GF-CF (Shen et al., 2021), a closed-form collaborative filter: the normalised item-item
  co-occurrence filter plus an ideal low-pass filter from the top singular vectors of the normalised matrix;
  optionally followed by BSPM's sharpening step (Choi et al., 2023), which undoes part of the filters' smoothing
  so that papers close to the user's own ones stand out from those that are merely popular in the neighbourhood.
* :class:`CollectiveMF`: implicit-feedback matrix factorisation (the ``implicit`` package's ALS) of the user-item
  matrix stacked with the item features, each feature a pseudo-user who "has" the items that carry it: items
  nobody has yet get factors from their words, and words get meaning from who reads what.
* :class:`Popularity`: how many users have each item.
* :class:`Blend`: z-scored model scores mixed with weights that depend on how much history the user has, fitted
  on held-out interactions (collaborative models are useless for a user with one item; content is not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

BUCKETS = (1, 2, 5, 8)  # history sizes: 1, 2-4, 5-7, 8 or more


def bucket_of(history: int) -> int:
    """Index of the history-size bucket a user with ``history`` items falls in."""
    return max(i for i, low in enumerate(BUCKETS) if history >= low) if history >= 1 else 0


def normalise_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


def tfidf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Sublinear tf-idf, rows L2-normalised (what arxiv-sanity-lite feeds its SVMs)."""
    tf = counts.astype(np.float32).tocsr(copy=True)
    tf.data = 1.0 + np.log(tf.data)
    df = np.bincount(tf.indices, minlength=tf.shape[1])
    idf = np.log((1 + tf.shape[0]) / (1 + df)) + 1.0
    return normalise_rows(sp.csr_matrix(tf @ sp.diags(idf.astype(np.float32))))


class ContentModel:
    """Scores = X @ (sum of liked rows - dismiss_weight * sum of dismissed rows + interests)."""

    def __init__(self, features: sp.csr_matrix | np.ndarray, dismiss_weight: float = 1.0) -> None:
        self.x = features
        self.dismiss_weight = dismiss_weight

    def profile(self, liked: sp.csr_matrix, dismissed: sp.csr_matrix | None = None) -> np.ndarray:
        """Per-user profile vectors from user x item indicator rows."""
        prof = liked @ self.x
        if dismissed is not None and dismissed.nnz:
            prof = prof - self.dismiss_weight * (dismissed @ self.x)
        return np.asarray(prof.todense() if sp.issparse(prof) else prof, dtype=np.float32)

    def score(self, liked: sp.csr_matrix, dismissed: sp.csr_matrix | None = None,
              interests: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        prof = self.profile(liked, dismissed)
        if interests is not None:
            prof = prof + interests
        out = self.x @ prof.T
        return np.asarray(out, dtype=np.float32).T


class NotFitted(RuntimeError):
    """A model was used before its fit(): a bug in the caller, never bad input."""


@dataclass
class GraphFilter:
    """GF-CF: s_u = r_u R~'R~ + alpha * r_u D^-1/2 V V' D^1/2, with R~ = Du^-1/2 R Di^-1/2.

    With ``sharpen`` T > 0 the scores then go through BSPM's sharpening process ds/dt = -s R~'R~ for a time T,
    solved as BSPM does with one Runge-Kutta-4 step, which for this linear equation is exactly the 4th-order
    Taylor polynomial of exp(-T R~'R~): s (I - TP (I - TP/2 (I - TP/3 (I - TP/4)))), P = R~'R~."""

    k: int = 256
    alpha: float = 0.3
    beta: float = 0.5  # degree normalisation power of the linear filter (0.5: symmetric, as in GF-CF)
    sharpen: float = 0.0
    r_norm: sp.csr_matrix | None = field(default=None, repr=False)
    d_item: np.ndarray | None = field(default=None, repr=False)
    v: np.ndarray | None = field(default=None, repr=False)

    def fit(self, r: sp.csr_matrix) -> GraphFilter:
        r = sp.csr_matrix(r, dtype=np.float32)
        du = np.asarray(r.sum(axis=1)).ravel()
        di = np.asarray(r.sum(axis=0)).ravel()
        du[du == 0] = 1.0
        di[di == 0] = 1.0
        self.d_item = di.astype(np.float32)
        self.r_norm = sp.csr_matrix(sp.diags(du**-0.5) @ r @ sp.diags(di**-self.beta), dtype=np.float32)
        if self.alpha > 0 and self.k > 0:
            k = min(self.k, min(r.shape) - 1)
            plain = sp.csr_matrix(sp.diags(du**-0.5) @ r @ sp.diags(di**-0.5), dtype=np.float32)
            _, _, vt = svds(plain, k=k)
            self.v = vt.T.astype(np.float32)
        return self

    def score(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores for users given as item-indicator rows (they need not be in the fitted matrix)."""
        if self.r_norm is None:
            raise NotFitted("fit() first")
        if self.d_item is None:
            raise NotFitted("fit() first")
        rows = sp.csr_matrix(rows, dtype=np.float32)
        linear = np.asarray(((rows @ self.r_norm.T) @ self.r_norm).todense(), dtype=np.float32)
        if self.v is None:
            return self._sharpened(linear)
        low = (rows @ sp.diags(self.d_item**-0.5)) @ self.v
        ideal = (low @ self.v.T) * (self.d_item**0.5)[None, :]
        return self._sharpened(linear + self.alpha * np.asarray(ideal, dtype=np.float32))

    def _sharpened(self, scores: np.ndarray) -> np.ndarray:
        if not self.sharpen:
            return scores
        if self.r_norm is None:
            raise NotFitted("fit() first")
        # P applied as (s R~') R~: two sparse products instead of the dense items x items matrix
        r, rt = self.r_norm, sp.csr_matrix(self.r_norm.T)
        out = scores
        for n in (4, 3, 2, 1):
            filtered = np.asarray((rt @ (r @ out.T)).T, dtype=np.float32)
            out = scores - (self.sharpen / n) * filtered
        return out


@dataclass
class CollectiveMF:
    """ALS on [R; feature_weight * F'] (users and features as rows, items as columns), confidence 1 + c x.

    The defaults were chosen on held-out training interactions of CiteULike-t (bench/recommend_quality.py):
    with features weighted 2 and 200 factors, Recall@50 on held-out items rose from 0.19 (ALS on R alone) to
    0.26. ``score`` takes users of the fitted matrix by row number; :meth:`fold_in_user` and
    :meth:`fold_in_items` give factors to a user or item the fit never saw (or whose row changed since), by
    the same least-squares step ALS itself takes, holding the other side fixed."""

    factors: int = 200
    feature_weight: float = 2.0
    iterations: int = 15
    regularization: float = 0.05
    confidence: float = 20.0
    seed: int = 0
    user_factors: np.ndarray | None = field(default=None, repr=False)
    item_factors: np.ndarray | None = field(default=None, repr=False)
    feature_factors: np.ndarray | None = field(default=None, repr=False)
    row_gram: np.ndarray | None = field(default=None, repr=False)  # X'X over users and features together
    item_gram: np.ndarray | None = field(default=None, repr=False)  # Y'Y, computed once on first use

    def fit(self, r: sp.csr_matrix, features: sp.csr_matrix) -> CollectiveMF:
        """``r``: users x items; ``features``: items x features (non-negative, e.g. tf-idf rows)."""
        # imported here: compiled, and only needed to fit
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        stacked = sp.vstack([sp.csr_matrix(r, dtype=np.float32), self.feature_weight * sp.csr_matrix(features).T])
        with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS's on top of them only thrash
            model = AlternatingLeastSquares(
                factors=self.factors, iterations=self.iterations, regularization=self.regularization,
                random_state=self.seed,
            )  # fmt: skip
            model.fit(sp.csr_matrix(stacked * self.confidence, dtype=np.float32), show_progress=False)
        rows = np.asarray(model.user_factors, dtype=np.float32)
        self.user_factors, self.feature_factors = rows[: r.shape[0]], rows[r.shape[0] :]
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self.row_gram = rows.T @ rows
        return self

    def fitted_item_factors(self) -> np.ndarray:
        """The items' factors (NotFitted before fit())."""
        if self.item_factors is None:
            raise NotFitted("fit() first")
        return self.item_factors

    def score(self, users: np.ndarray) -> np.ndarray:
        if self.user_factors is None:
            raise NotFitted("fit() first")
        if self.item_factors is None:
            raise NotFitted("fit() first")
        scores: np.ndarray = self.user_factors[users] @ self.item_factors.T
        return scores

    def fold_in_user(self, items: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """The factors of a user who has ``items`` (item factor rows, one per item; ``values`` default 1):
        x = (Y'Y + lambda I + sum (c_i - 1) y_i y_i')^-1 sum c_i y_i with c_i = confidence * value_i."""
        if self.item_factors is None:
            raise NotFitted("fit() first")
        c = self.confidence * (np.ones(len(items), np.float32) if values is None else values)
        if self.item_gram is None:
            self.item_gram = self.item_factors.T @ self.item_factors
        ridge = self.regularization * np.eye(self.item_gram.shape[0], dtype=np.float32)
        a = self.item_gram + ridge + (items.T * (c - 1)) @ items
        found: np.ndarray = np.linalg.solve(a, items.T @ c).astype(np.float32)
        return found

    def fold_in_items(self, features: sp.csr_matrix) -> np.ndarray:
        """Factors of items the fit never saw, from their features alone (items x features, as given to
        :meth:`fit`): ALS's item step, y = (X'X + lambda I + U D U')^-1 U c for the item's features' factors U,
        confidences c and D = diag(c - 1), solved through the Woodbury identity: a k x k system per item (k: its
        number of features) instead of a factors x factors one; 1,000 arXiv abstracts (k about 60) take 0.3 s."""
        if self.feature_factors is None:
            raise NotFitted("fit() first")
        if self.row_gram is None:
            raise NotFitted("fit() first")
        features = sp.csr_matrix(features, dtype=np.float32)
        lengths = np.diff(features.indptr)
        k, f = max(1, int(lengths.max(initial=0))), self.feature_factors.shape[1]
        picked = np.zeros((features.shape[0], k), np.int64)  # padding: feature 0 with confidence 0, D 0
        c = np.zeros((features.shape[0], k), np.float32)
        for i in range(features.shape[0]):
            start, end = features.indptr[i], features.indptr[i + 1]
            picked[i, : end - start] = features.indices[start:end]
            c[i, : end - start] = self.confidence * self.feature_weight * features.data[start:end]
        d = np.where(c > 0, c - 1, 0.0).astype(np.float32)
        m_inv = np.linalg.inv(self.row_gram + self.regularization * np.eye(f, dtype=np.float32))
        p = (self.feature_factors @ m_inv)[picked]  # items x k x f: M^-1 u_j for each of the item's features
        s = np.einsum("ikf,ilf->ikl", p, self.feature_factors[picked])  # U' M^-1 U
        ds = d[:, :, None] * s
        inner = np.linalg.solve(np.eye(k, dtype=np.float32)[None] + ds, (ds @ c[:, :, None]))[:, :, 0]
        factors: np.ndarray = np.einsum("ikf,ik->if", p, c - inner).astype(np.float32)
        return factors


class Popularity:
    def __init__(self, r: sp.csr_matrix) -> None:
        self.counts = np.asarray(r.sum(axis=0), dtype=np.float32).ravel()

    def score(self, users: int) -> np.ndarray:
        return np.broadcast_to(np.log1p(self.counts), (users, self.counts.size))


def zscore(scores: np.ndarray) -> np.ndarray:
    """Each row standardised, so models on different scales can be mixed (a constant row becomes zeros)."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    standardised: np.ndarray = (scores - mean) / std
    return standardised


@dataclass
class Blend:
    """Weights of the models' z-scored scores, per history-size bucket; the first model's weight is 1."""

    weights: dict[int, tuple[float, ...]] = field(default_factory=dict)
    default: tuple[float, ...] = (1.0, 0.5, 0.5, 0.2)

    def combine(self, history: Sequence[int], parts: Sequence[np.ndarray | None]) -> np.ndarray:
        """Mix the models' scores (users x items; None for a model that has no data) user by user."""
        shape = next(p.shape for p in parts if p is not None)
        out = np.zeros(shape, dtype=np.float32)
        standardised = [zscore(p) if p is not None else None for p in parts]
        for row, size in enumerate(history):
            w = self.weights.get(bucket_of(size), self.default)
            for weight, part in zip(w, standardised, strict=False):
                if part is not None and weight:
                    out[row] += weight * part[row]
        return out


def top_k(scores: np.ndarray, exclude: sp.csr_matrix, k: int) -> np.ndarray:
    """The ``k`` best items per row, best first, never one of ``exclude``'s items."""
    scores = scores.copy()
    rows, cols = exclude.nonzero()
    scores[rows, cols] = -np.inf
    part = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def fit_blend(
    history: sp.csr_matrix, held_out: sp.csr_matrix, parts: Sequence[np.ndarray | None], k: int = 50,
    grid: Sequence[float] = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0), rounds: int = 2,
) -> Blend:  # fmt: skip
    """Per history bucket, the weights (the first model's fixed at 1) with the best Recall@k on the held-out
    items, by coordinate ascent over ``grid``: a few dozen evaluations a bucket, whatever the number of models."""
    sizes = np.diff(history.indptr)
    standardised = [zscore(p) if p is not None else None for p in parts]
    blend = Blend()
    for b in range(len(BUCKETS)):
        users = np.array([u for u, s in enumerate(sizes) if bucket_of(int(s)) == b and held_out[u].nnz], dtype=int)
        if users.size == 0:
            continue
        zs = [z[users] if z is not None else None for z in standardised]
        weights = list(blend.default[: len(parts)])

        def quality(w: Sequence[float], zs: list[np.ndarray | None] = zs, users: np.ndarray = users) -> float:
            mixed = sum(wi * z for wi, z in zip(w, zs, strict=True) if z is not None and wi)
            return recall_at(top_k(np.asarray(mixed, dtype=np.float32), history[users], k), held_out[users])

        best = quality(weights)
        for _ in range(rounds):
            for i in range(1, len(parts)):
                if zs[i] is None:
                    weights[i] = 0.0
                    continue
                for value in grid:
                    trial = [*weights[:i], value, *weights[i + 1 :]]
                    found = quality(trial)
                    if found > best:
                        best, weights = found, trial
        blend.weights[b] = tuple(weights)
    return blend


def recall_at(top: np.ndarray, truth: sp.csr_matrix) -> float:
    hits = [len(set(top[i]) & set(truth[i].indices)) / max(1, truth[i].nnz) for i in range(top.shape[0])]
    return float(np.mean(hits)) if hits else 0.0
