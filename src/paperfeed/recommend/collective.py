"""The collective model an instance serves in its "for you" feed: :class:`~paperfeed.recommend.algorithms.CollectiveMF`
over the readers' upvotes and collections stacked with every paper's features (tf-idf words of its title and
abstract, and its nearest MiniLM "concepts"), as bench/recommend_quality.py measures it on CiteULike-t.

The nightly ``refit`` job fits it and saves it in the store as one artifact: the papers' factors, the features'
factors and what turns a paper into features (vocabulary, idf, concept centres). Web processes load it and fold in:
a reader's factors are solved from their current papers on each request (so an upvote counts at once, without a
refit), and a paper added since the fit gets factors from its words and concepts alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.algorithms import CollectiveMF, NotFitted, normalise_rows
from paperfeed.search.embed import IMPORT_LOCK

ARTIFACT = "recommend:cmf"
WORDS = 8_000  # vocabulary size: CiteULike-t's own, on which the model's settings were chosen
CONCEPTS = 2_000  # k-means centres of the paper vectors (fewer when there are few papers)
TOP_CONCEPTS = 3
KMEANS_SAMPLE = 100_000  # centres are fitted on at most this many vectors; every paper is then assigned
TOKENS = r"(?u)\b[^\W\d_][^\W_]+\b"  # words of two or more characters that start with a letter
CACHE = 50_000  # folded-in papers kept per process

# (texts, vectors) of papers by key: the words and MiniLM vector (None when not embedded) of each
Describe = Callable[[Sequence[int]], tuple[list[str], list[np.ndarray | None]]]


@dataclass
class PaperFeatures:
    """Papers as sparse features: sublinear tf-idf of their words (rows L2-normalised), then their
    ``TOP_CONCEPTS`` nearest concepts weighted by cosine."""

    vocabulary: list[str]
    idf: np.ndarray
    centres: np.ndarray

    @classmethod
    def fit_transform(
        cls, texts: Sequence[str], vectors: np.ndarray, seed: int = 0
    ) -> tuple[PaperFeatures, sp.csr_matrix]:
        """The vocabulary (the ``WORDS`` most frequent, in at least 2 and at most half of the papers) and concept
        centres of a collection, and its papers' features; ``vectors`` has one row per text (zeros for a paper
        without one)."""
        with IMPORT_LOCK:  # (not while another thread imports torch: paperfeed.search.embed)
            from sklearn.cluster import MiniBatchKMeans
            from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(token_pattern=TOKENS, stop_words="english", min_df=2, max_df=0.5,
                                  max_features=WORDS, dtype=np.float32)  # fmt: skip
        try:
            counts = sp.csr_matrix(counter.fit_transform(texts), dtype=np.float32)
            vocabulary = [str(w) for w in counter.get_feature_names_out()]
        except ValueError:  # too few papers for any word to pass min_df / max_df
            counts, vocabulary = sp.csr_matrix((len(texts), 0), dtype=np.float32), []
        df = np.bincount(counts.indices, minlength=len(vocabulary))
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1.0).astype(np.float32)
        embedded = vectors[np.any(vectors != 0, axis=1)]
        if len(embedded) > KMEANS_SAMPLE:
            embedded = embedded[np.random.default_rng(seed).choice(len(embedded), KMEANS_SAMPLE, replace=False)]
        n = min(CONCEPTS, len(embedded) // 8)  # at least 8 papers a concept, as in CiteULike-t's 2,000
        centres = np.zeros((0, vectors.shape[1]), np.float32)
        if n >= 2:
            kmeans = MiniBatchKMeans(n_clusters=n, random_state=seed, n_init=1, batch_size=4096).fit(embedded)
            centres = kmeans.cluster_centers_.astype(np.float32)
            centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-9)
        features = cls(vocabulary, idf, centres)
        both = sp.hstack([features._weigh(counts), features._concepts(vectors)], format="csr", dtype=np.float32)
        return features, both

    @property
    def size(self) -> int:
        return len(self.vocabulary) + len(self.centres)

    def transform(self, texts: Sequence[str], vectors: np.ndarray) -> sp.csr_matrix:
        """Papers x features for ``texts`` and their ``vectors`` (a zero row: no concepts)."""
        return sp.hstack([self._words(texts), self._concepts(vectors)], format="csr", dtype=np.float32)

    def _words(self, texts: Sequence[str]) -> sp.csr_matrix:
        if not self.vocabulary:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        with IMPORT_LOCK:
            from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(token_pattern=TOKENS, stop_words="english", vocabulary=self.vocabulary,
                                  dtype=np.float32)  # fmt: skip
        return self._weigh(sp.csr_matrix(counter.transform(texts), dtype=np.float32))

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        tf = counts.copy()
        tf.data = 1.0 + np.log(tf.data)
        return normalise_rows(sp.csr_matrix(tf @ sp.diags(self.idf)))

    def _concepts(self, vectors: np.ndarray) -> sp.csr_matrix:
        n, top = len(self.centres), min(TOP_CONCEPTS, len(self.centres))
        if top == 0:
            return sp.csr_matrix((len(vectors), n), dtype=np.float32)
        parts = []
        for start in range(0, len(vectors), 8_192):  # bounded memory: 8k papers x 2k centres at a time
            sim = vectors[start : start + 8_192] @ self.centres.T
            picked = np.argpartition(-sim, top - 1, axis=1)[:, :top]
            weights = np.clip(np.take_along_axis(sim, picked, axis=1), 0.0, None)
            indptr = np.arange(0, picked.size + 1, top)
            parts.append(sp.csr_matrix((weights.ravel(), picked.ravel(), indptr), shape=(len(sim), n)))
        found = sp.csr_matrix(sp.vstack(parts), dtype=np.float32)
        found.eliminate_zeros()
        return found


@dataclass
class CollectiveModel:
    """A fitted :class:`CollectiveMF` over papers known by key, ready to score any reader and any paper."""

    keys: np.ndarray  # paper key of each item row, ascending
    features: PaperFeatures
    mf: CollectiveMF
    _extra: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # folded-in papers

    @classmethod
    def fit(
        cls, matrix: sp.csr_matrix, keys: np.ndarray, features: PaperFeatures, x: sp.csr_matrix, seed: int = 0,
        factors: int = CollectiveMF.factors,
    ) -> tuple[CollectiveModel, np.ndarray]:  # fmt: skip
        """Fit on ``matrix`` (readers x papers, columns in the order of ``keys``) and the papers' features ``x``
        (from ``features``); return the model and each reader's factors."""
        mf = CollectiveMF(factors=factors, seed=seed).fit(matrix, x)
        if mf.user_factors is None:
            raise NotFitted("the collective model is not fitted")
        return cls(np.asarray(keys, np.int64), features, mf), mf.user_factors

    def item_factors(self, keys: Sequence[int], describe: Describe) -> np.ndarray:
        """Factors of each of ``keys``: fitted, or folded in from the paper's words and concepts (cached)."""
        if self.mf.item_factors is None:
            raise NotFitted("the collective model is not fitted")
        wanted = np.asarray(keys, np.int64)
        rows = np.minimum(np.searchsorted(self.keys, wanted), max(0, len(self.keys) - 1))
        fitted = self.keys[rows] == wanted if len(self.keys) else np.zeros(len(keys), bool)
        extra = {int(k): self._extra.get(int(k)) for k in wanted[~fitted]}  # a local view: safe from other threads
        missing = [k for k, v in extra.items() if v is None]
        if missing:
            extra.update(self._fold_in(missing, describe))
        out = np.zeros((len(keys), self.mf.factors), np.float32)
        out[fitted] = self.mf.item_factors[rows[fitted]]
        for i in np.flatnonzero(~fitted):
            out[i] = extra[int(wanted[i])]
        return out

    def _fold_in(self, keys: list[int], describe: Describe) -> dict[int, np.ndarray]:
        dim = self.features.centres.shape[1]
        texts, found = describe(keys)
        vectors = np.zeros((len(keys), dim), np.float32)
        for i, vector in enumerate(found):
            if vector is not None and vector.shape == (dim,):
                vectors[i] = vector
        factors = dict(zip(keys, self.mf.fold_in_items(self.features.transform(texts, vectors)), strict=True))
        if len(self._extra) + len(keys) > CACHE:
            self._extra = {}
        self._extra.update(factors)
        return factors

    def score(self, liked: Sequence[int], candidates: Sequence[int], describe: Describe) -> np.ndarray | None:
        """Scores (1 x candidates) for a reader who has ``liked``; None when they have nothing to go on."""
        if not liked or not candidates:
            return None
        user = self.mf.fold_in_user(self.item_factors(liked, describe))
        scores: np.ndarray = (self.item_factors(candidates, describe) @ user)[None, :]
        return scores

    def to_bytes(self) -> bytes:
        """The model as an ``.npz`` archive (the papers' factors in float16: half the size)."""
        mf = self.mf
        if mf.item_factors is None:
            raise NotFitted("the collective model is not fitted")
        if mf.feature_factors is None:
            raise NotFitted("the collective model is not fitted")
        if mf.row_gram is None:
            raise NotFitted("the collective model is not fitted")
        out = io.BytesIO()
        np.savez(
            out, keys=self.keys, item_factors=mf.item_factors.astype(np.float16),
            feature_factors=mf.feature_factors.astype(np.float32), row_gram=mf.row_gram,
            vocabulary=np.array(self.features.vocabulary, dtype=str), idf=self.features.idf,
            centres=self.features.centres,
            settings=np.array([mf.factors, mf.feature_weight, mf.regularization, mf.confidence], np.float64),
        )  # fmt: skip
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, folder: Path | None = None) -> CollectiveModel:
        """The model :meth:`to_bytes` wrote; ValueError when ``data`` is not one. With ``folder``, the papers'
        factors (float16) are kept in a file there and mapped, so that the web processes of a machine share one
        copy (see :func:`mapped_factors`)."""
        try:
            return cls._read(data, folder)
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"not a saved collective model: {error}") from error

    @classmethod
    def _read(cls, data: bytes, folder: Path | None) -> CollectiveModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            factors, weight, regularization, confidence = (float(v) for v in z["settings"])
            mf = CollectiveMF(factors=int(factors), feature_weight=weight, regularization=regularization,
                              confidence=confidence)  # fmt: skip
            if folder is None:
                mf.item_factors = z["item_factors"].astype(np.float32)
            else:
                mf.item_factors = mapped_factors(folder, hashlib.sha256(data).hexdigest()[:16], z["item_factors"])
                mf.item_gram = _gram(mf.item_factors)
            mf.feature_factors, mf.row_gram = z["feature_factors"], z["row_gram"]
            features = PaperFeatures([str(w) for w in z["vocabulary"]], z["idf"], z["centres"])
            return cls(z["keys"], features, mf)


def mapped_factors(folder: Path, digest: str, factors: np.ndarray) -> np.ndarray:
    """``factors`` as a read-only float16 map of ``folder``/collective-<digest>.npy, written (atomically) by the
    first process to load this model; the files of earlier models are removed (a process still on one keeps
    its mapping)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"collective-{digest}.npy"
    if not path.exists():
        tmp = folder / f"collective-{digest}.{os.getpid()}.tmp.npy"
        np.save(tmp, np.asarray(factors, np.float16))
        os.replace(tmp, path)
        for old in folder.glob("collective-*.npy"):
            if old != path:
                old.unlink(missing_ok=True)
    mapped: np.ndarray = np.load(path, mmap_mode="r")
    return mapped


def _gram(factors: np.ndarray, piece: int = 65_536) -> np.ndarray:
    """Y'Y in float32, a piece of rows at a time (the factors stay mapped, never copied whole)."""
    gram = np.zeros((factors.shape[1], factors.shape[1]), np.float32)
    for start in range(0, len(factors), piece):
        rows = np.asarray(factors[start : start + piece], np.float32)
        gram += rows.T @ rows
    return gram
