"""Vectors in two tiers, searched as one: MiniLM where a paper has it, the first tier's static vector where not.

A paper holds one stored vector; its model says its tier. The MiniLM index is the main one (HNSW above a size,
pgvector on PostgreSQL); the first tier is an exact in-memory index of the papers MiniLM has not reached yet,
which shrinks to nothing as the MiniLM job goes on (a paper leaves it as soon as its MiniLM vector arrives).

Cosines of two models are not comparable, so when both tiers take part each is standardised against a sample of
its own corpus (as hybrid fusion standardises cosine), and the first tier's standard scores are multiplied by
:data:`FIRST_TIER_WEIGHT`. The static model's cosines bunch up (a relevant paper stands fewer standard deviations
above the rest than under MiniLM), so that factor is above 1: on SciFact train with half the papers in each tier,
1.3 gave semantic nDCG@10 0.476 and hybrid 0.702, against 0.344 and 0.542 when the unembedded half is left out
(what paperfeed did before), and 0.432 / 0.695 at 1.0 (bench/search_quality.py --tune prints the grids). When
no paper has MiniLM yet, the first tier meets BM25 alone in hybrid fusion, weighted by :data:`FIRST_TIER_ALONE`.
With MiniLM alone, the raw cosines are used as before.

Neither weighting lifts hybrid search much above BM25 alone while most papers are provisional, so the search
engine re-ranks a query's best REFINE_DEPTH results with MiniLM (:meth:`TieredVectors.refined`): a paper's
stored MiniLM vector where it has one, else its text embedded then and cached. SciFact hybrid with first-tier
vectors only went from 0.703 to 0.731, CACM from 0.525 to 0.578 (docs/decisions.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from paperfeed.errors import PaperfeedError
from paperfeed.search.embed import MODEL_ID, Embedder, Vectors
from paperfeed.search.static_embed import STATIC_DIM, STATIC_ID, StaticEmbedder
from paperfeed.search.vectors import Hit, VectorIndex
from paperfeed.store import Store

FIRST_TIER_WEIGHT = 1.3  # beside MiniLM: a provisional vector's z-score counts this much
FIRST_TIER_ALONE = 0.8  # with no MiniLM vector at all (cross-validated over SciFact and CACM: docs/decisions.md)
# A query's cosines with a typical paper, per model (mean, spread; SciFact train queries): what a tier's own
# sample is shrunk towards while it holds few papers (a new instance, or the last papers MiniLM has not reached),
# so that four vectors do not make a z-score. PRIOR_WEIGHT: the prior counts as this many sampled papers.
PRIORS = {MODEL_ID: (0.10, 0.10), STATIC_ID: (0.38, 0.12)}
PRIOR_WEIGHT = 32
Filter = Callable[[VectorIndex, Vectors, int], list[Hit]]
RECENT = 4_096  # papers without a MiniLM vector whose text was embedded for a query (1.5 KB each)
# While papers lack MiniLM, a query's best REFINE_DEPTH results are re-scored with MiniLM, embedding at most
# REFINE_BUDGET of their texts now (the rest come from the cache above); one refinement at a time per process
REFINE_DEPTH = 20
REFINE_BUDGET = 20


@dataclass(frozen=True, slots=True)
class QueryVectors:
    """A query embedded in each tier that has vectors to compare with (None where it does not)."""

    main: Vectors | None = None
    first: Vectors | None = None

    @property
    def empty(self) -> bool:
        return self.main is None and self.first is None


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many papers each tier holds."""

    main: int
    first: int


class TieredVectors:
    """The main (MiniLM) vector index and, when a first-tier model is given, the first tier's."""

    def __init__(self, main: VectorIndex, embedder: Embedder, folder: Path, first: StaticEmbedder | None) -> None:
        self.main, self.embedder, self.first_embedder = main, embedder, first
        self._recent: OrderedDict[tuple[int, int], Vectors] = OrderedDict()  # papers embedded for a query
        self._lock = threading.Lock()
        self._refining = threading.Lock()  # held while a query's results are embedded with MiniLM
        self._warm_main = self._warm_first = False  # warm() has embedded a query in that tier
        self.first = (
            VectorIndex(folder / "vectors-first", exact_below=2**62, model=STATIC_ID, dim=STATIC_DIM)
            if first is not None
            else None
        )

    def sync(self, store: Store, *, background: bool = False) -> int:
        """Take in what both tiers' stores wrote; drop from the first tier what MiniLM now covers (``background``:
        as VectorIndex.sync)."""
        added = self.main.sync(store, background=background)
        if self.first is not None:
            changed = self.first.sync(store, background=background)
            if added or changed:
                self.first.discard_in(self.main)
            added += changed
        return added

    def warm(self) -> None:
        """Embed one query in each tier that holds vectors, once: the model is loaded, and its first run (the
        slowest) is over, before a reader's query needs it. Raises PaperfeedError when a model cannot load."""
        if not self._warm_main and len(self.main):
            self.embedder.encode_query("warming up")
            self._warm_main = True
        if not self._warm_first and self.first is not None and self.first_embedder is not None and len(self.first):
            self.first_embedder.encode_query("warming up")
            self._warm_first = True

    def coverage(self) -> Coverage:
        return Coverage(len(self.main), len(self.first) if self.first is not None else 0)

    def __len__(self) -> int:
        covered = self.coverage()
        return covered.main + covered.first

    def query(self, text: str, *, alone: bool = False) -> QueryVectors:
        """``text`` embedded in each tier that holds vectors. Raises PaperfeedError when MiniLM is needed and
        cannot load; a first tier that cannot is left out."""
        main = self.embedder.encode_query(text, alone=alone) if len(self.main) else None
        return QueryVectors(main, self._first_vector(text))

    def for_paper(self, key: int, text: str, *, busy: bool = False) -> QueryVectors:
        """A paper's own vectors as a query: its stored MiniLM vector when it has one; else its text embedded
        now, kept for the next view of the same paper (the paper page asks on every uncached view).

        ``busy`` (other requests are running in this process): while the first tier still holds at least as
        many papers as MiniLM, a text not in the cache is not embedded now and the first tier alone answers.
        Under load those MiniLM runs took 70% of the paper page's time (bench/first_hour.py --load); once most
        papers have MiniLM, the first tier's pool would be too small to find a paper's neighbours in."""
        stored = self.main.vector(key)
        if stored is None and len(self.main):
            hurry = busy and self.first is not None and len(self.first) >= len(self.main)
            stored = self._embedded(key, text, cached_only=hurry)
        return QueryVectors(stored, self._first_vector(text))

    def _embedded(self, key: int, text: str, *, cached_only: bool = False) -> Vectors | None:
        mark = (key, hash(text))
        with self._lock:
            if mark in self._recent:
                self._recent.move_to_end(mark)
                return self._recent[mark]
        if cached_only:
            return None
        vector = self.embedder.encode_query(text)
        self._remember({mark: vector})
        return vector

    def _remember(self, vectors: dict[tuple[int, int], Vectors]) -> None:
        with self._lock:
            self._recent.update(vectors)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    @property
    def provisional(self) -> bool:
        """Whether some papers are still searched through their first-tier vector (MiniLM has not reached them)."""
        return self.first is not None and len(self.first) > 0

    def refined(self, text: str, q: QueryVectors, texts: dict[int, str]) -> dict[int, float] | None:
        """MiniLM standard scores of the papers ``texts`` names (key -> title and abstract) against the query
        ``text``: a stored MiniLM vector where a paper has one, else its text embedded now (REFINE_BUDGET at
        most; kept for the next query). None while another query is being refined in this process, or when
        MiniLM cannot load: the caller keeps its first-tier scores. This is how the best results of a query
        are ranked at full quality while most papers have only a provisional vector."""
        if not texts or not self._refining.acquire(blocking=False):
            return None
        try:
            main = q.main if q.main is not None else self.embedder.encode_query(text)
            stored = self.main.scores(main, list(texts))
            wanted = [(key, hash(body), body) for key, body in texts.items() if key not in stored]
            with self._lock:
                cached = {key: self._recent[(key, mark)] for key, mark, _ in wanted if (key, mark) in self._recent}
            todo = [item for item in wanted if item[0] not in cached][:REFINE_BUDGET]
            if todo:
                fresh = self.embedder.encode([body for _, _, body in todo], self.embedder.query_precision)
                self._remember({(key, mark): fresh[i] for i, (key, mark, _) in enumerate(todo)})
                cached.update((key, fresh[i]) for i, (key, _, _) in enumerate(todo))
        except PaperfeedError:
            return None
        finally:
            self._refining.release()
        z = zscorer(self.main.sample_scores(main) if len(self.main) else [], PRIORS[MODEL_ID])
        scores = {**stored, **{key: float(vector @ main) for key, vector in cached.items()}}
        return {key: z(score) for key, score in scores.items()}

    def _first_vector(self, text: str) -> Vectors | None:
        if self.first is None or self.first_embedder is None or not len(self.first):
            return None
        try:
            return self.first_embedder.encode_query(text)
        except PaperfeedError:
            return None

    def search(self, q: QueryVectors, k: int, nearest: Filter) -> list[Hit]:
        """The ``k`` best papers over both tiers; ``nearest(index, vector, k)`` searches one index (with the
        caller's filters)."""
        main = nearest(self.main, q.main, k) if q.main is not None else []
        if q.first is None or self.first is None:
            return main
        first = nearest(self.first, q.first, k)
        if q.main is None:
            return first
        scored = self.z_scores(q, [key for key, _ in main] + [key for key, _ in first])
        return sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:k]

    def z_scores(self, q: QueryVectors, keys: Sequence[int]) -> dict[int, float]:
        """Standard scores of ``keys`` against the query, each in its own tier (the first tier's weighted
        down); keys with no vector in either tier are left out."""
        out: dict[int, float] = {}
        if q.main is not None:
            z = zscorer(self.main.sample_scores(q.main), PRIORS[MODEL_ID])
            out.update((key, z(s)) for key, s in self.main.scores(q.main, keys).items())
        if q.first is not None and self.first is not None:
            z = zscorer(self.first.sample_scores(q.first), PRIORS[STATIC_ID])
            rest = [key for key in keys if key not in out]
            weight = FIRST_TIER_WEIGHT if q.main is not None else FIRST_TIER_ALONE
            out.update((key, weight * z(s)) for key, s in self.first.scores(q.first, rest).items())
        return out


def zscorer(
    values: Sequence[float] | npt.NDArray[np.float32], prior: tuple[float, float] | None = None
) -> Callable[[float], float]:
    """Standardise against ``values``' mean and spread (numpy: statistics.pstdev is exact, and slow); with a
    ``prior`` (mean, spread), the sample's are shrunk towards it as if it were PRIOR_WEIGHT more values."""
    array = np.asarray(values, dtype=np.float64)
    n = len(array)
    if prior is None:
        if n < 2:
            return lambda value: 0.0
        mean, spread = float(array.mean()), float(array.std()) or 1.0
        return lambda value: (value - mean) / spread
    k, (m0, s0) = PRIOR_WEIGHT, prior
    mean = (float(array.sum()) + k * m0) / (n + k)
    squares = float(((array - mean) ** 2).sum()) + k * (s0**2 + (m0 - mean) ** 2)
    spread = (squares / (n + k)) ** 0.5 or 1.0
    return lambda value: (value - mean) / spread
