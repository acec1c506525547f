"""Vector search over the stored embeddings: exact below a size threshold, HNSW (usearch) above it.

Every vector is kept in memory as one float32 matrix (exact scores for re-ranking, filtered search and
fusion); above ``exact_below`` papers an HNSW graph answers top-k queries in well under a millisecond
(recall@20 against exact search is printed by ``bench/search_latency.py``). The graph is saved beside the
keyword index with the store position it reflects, so a restart loads it and adds only what changed since.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from paperfeed.search.embed import DIM, MODEL_ID, Vectors, from_blobs
from paperfeed.search.instance import instance_id
from paperfeed.store import Store

SYNC_PAGE = 20_000
HNSW = {"connectivity": 16, "expansion_add": 128}  # how the graph is built (a change rebuilds it)
EF_SEARCH = 256  # candidates a query visits: recall@20 0.958 at 96, 0.974 at 160, 0.985 at 256 (120k papers)
Hit = tuple[int, float]


class VectorIndex:
    """Embeddings of the store's papers, searchable by cosine similarity. Thread-safe."""

    def __init__(self, folder: Path, *, exact_below: int = 20_000, model: str = MODEL_ID, dim: int = DIM) -> None:
        self.folder, self.exact_below, self.model, self.dim = folder, exact_below, model, dim
        self._lock = threading.Lock()
        self.keys: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.matrix: Vectors = np.zeros((0, dim), dtype=np.float32)
        self._row: dict[int, int] = {}
        self._after = (0, 0)
        self._ann: Any = None
        self._ann_after = (0, 0)  # store position the graph reflects
        self._instance = ""
        self._sample: Vectors | None = None
        self._database: Store | None = None

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def approximate(self) -> bool:
        return self._ann is not None or self._database is not None

    # -- keeping in step with the store -----------------------------------------------------------------

    def sync(self, store: Store) -> int:
        """Take in every embedding written since the last sync; return how many."""
        with self._lock:
            changed: dict[int, bytes] = {}
            after = self._after
            while batch := store.embeddings_since(self.model, after, SYNC_PAGE):
                changed.update((v.key, v.vector) for v in batch)
                after = (batch[-1].seq, batch[-1].key)
            if changed:
                self._absorb(changed)
                self._sample = None
            self._after = after
            if len(self.keys) >= self.exact_below and len(self.keys) > 0:
                if store.ann_backend() is not None:  # PostgreSQL + pgvector: one HNSW graph in the database
                    self._database = store
                else:
                    self._instance = instance_id(store)
                    self._sync_ann(store, changed)
            return len(changed)

    def _absorb(self, changed: dict[int, bytes]) -> None:
        keys = list(changed)
        vectors = from_blobs([changed[k] for k in keys], self.dim)
        old = [(i, self._row[k]) for i, k in enumerate(keys) if k in self._row]
        for i, row in old:
            self.matrix[row] = vectors[i]
        new = [i for i, k in enumerate(keys) if k not in self._row]
        if new:
            start = len(self.keys)
            self.keys = np.concatenate([self.keys, np.array([keys[i] for i in new], dtype=np.int64)])
            self.matrix = np.vstack([self.matrix, vectors[new]])
            self._row.update({keys[i]: start + n for n, i in enumerate(new)})

    def discard_in(self, other: VectorIndex) -> int:
        """Drop the papers that ``other`` (a better tier) now holds; return how many. For an exact index only
        (the first tier never builds a graph): its rows are simply compacted."""
        with self._lock:
            if not len(self.keys) or not len(other.keys):
                return 0
            keep = ~np.isin(self.keys, other.keys)
            dropped = int(len(keep) - keep.sum())
            if dropped:
                self.keys, self.matrix = self.keys[keep], self.matrix[keep]
                self._row = {int(k): n for n, k in enumerate(self.keys)}
                self._sample = None
            return dropped

    def _sync_ann(self, store: Store, changed: dict[int, bytes]) -> None:
        from usearch.index import Index

        if self._ann is None:
            self._ann, self._ann_after = self._load_ann(Index)
            if self._ann is not None and self._ann_after != self._after:  # saved before the latest writes
                changed = {v.key: v.vector for v in _since(store, self.model, self._ann_after)}
            elif self._ann is not None:
                changed = {}
        if self._ann is None:
            self._ann = Index(
                ndim=self.dim,
                metric="cos",
                dtype="f16",
                connectivity=HNSW["connectivity"],
                expansion_add=HNSW["expansion_add"],
                expansion_search=EF_SEARCH,
            )
            self._ann.add(self.keys, self.matrix, threads=0)
        elif changed:
            keys = np.array(list(changed), dtype=np.int64)
            for key in keys[[bool(self._ann.contains(int(k))) for k in keys]]:
                self._ann.remove(int(key))
            self._ann.add(keys, self.matrix[[self._row[int(k)] for k in keys]], threads=0)
        else:
            return
        self._ann_after = self._after
        self._save_ann()

    def _load_ann(self, index_class: Any) -> tuple[Any, tuple[int, int]]:
        try:
            meta = json.loads((self.folder / "vectors.json").read_text())
            if (meta.get("model"), meta.get("hnsw"), meta.get("instance")) != (self.model, HNSW, self._instance):
                return None, (0, 0)
            ann = index_class.restore(str(self.folder / "vectors.usearch"))
            if ann is not None:
                ann.expansion_search = EF_SEARCH
            return (ann, (int(meta["after"][0]), int(meta["after"][1]))) if ann is not None else (None, (0, 0))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None, (0, 0)

    def _save_ann(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"vectors.{uuid.uuid4().hex}.tmp"
        self._ann.save(str(tmp))
        os.replace(tmp, self.folder / "vectors.usearch")
        meta = {"model": self.model, "hnsw": HNSW, "instance": self._instance, "after": list(self._ann_after)}
        (self.folder / "vectors.json.tmp").write_text(json.dumps(meta))
        os.replace(self.folder / "vectors.json.tmp", self.folder / "vectors.json")

    # -- queries ----------------------------------------------------------------------------------------

    def sample_scores(self, query: Vectors, size: int = 2_048) -> Vectors:
        """Cosines of ``query`` with an even sample of the stored vectors: how similar a typical paper is."""
        if self._sample is None or len(self._sample) != min(size, len(self.matrix)):
            step = max(1, len(self.matrix) // size)
            self._sample = np.ascontiguousarray(self.matrix[::step][:size])  # contiguous: 10x faster to multiply
        scores: Vectors = self._sample @ query
        return scores

    def vector(self, key: int) -> Vectors | None:
        row = self._row.get(key)
        return None if row is None else self.matrix[row]

    def scores(self, query: Vectors, keys: Sequence[int]) -> dict[int, float]:
        """Exact cosine of ``query`` with each of ``keys`` that has a vector."""
        known = [k for k in keys if k in self._row]
        if not known:
            return {}
        values = self.matrix[[self._row[k] for k in known]] @ query
        return dict(zip(known, (float(v) for v in values), strict=True))

    def search(self, query: Vectors, k: int, *, within: Sequence[int] | None = None, exact: bool = False) -> list[Hit]:
        """The ``k`` nearest papers by cosine, best first; only among ``within`` when given (always exact)."""
        if k <= 0 or len(self.keys) == 0:
            return []
        if within is not None:
            return _top(self.scores(query, within), k)
        if self._database is not None and not exact:
            return self._database.nearest(query.tolist(), min(k, len(self.keys)))
        if self._ann is not None and not exact:
            found = self._ann.search(query.astype(np.float32), min(k, len(self.keys)), threads=1)
            return [(int(key), 1.0 - float(d)) for key, d in zip(found.keys, found.distances, strict=True)]
        values = self.matrix @ query
        take = min(k, len(values))
        best = np.argpartition(-values, take - 1)[:take]
        best = best[np.argsort(-values[best], kind="stable")]
        return [(int(self.keys[i]), float(values[i])) for i in best]


def _top(scores: dict[int, float], k: int) -> list[Hit]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]


def _since(store: Store, model: str, after: tuple[int, int]) -> list[Any]:
    out = []
    while batch := store.embeddings_since(model, after, SYNC_PAGE):
        out.extend(batch)
        after = (batch[-1].seq, batch[-1].key)
    return out
