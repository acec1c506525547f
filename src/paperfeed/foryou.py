"""The "for you" feed: four models blended by how much history the reader has; every recommendation says why.

- content: the reader's papers and interests, over sentence embeddings;
- graph: what readers with the same papers liked (a graph filter over this instance's upvotes and collections),
  refitted in each process when the community's signal has changed (a refit over 10,000 readers takes seconds);
- collective: matrix factorisation of the upvotes and collections together with every paper's words and concepts
  (:mod:`paperfeed.recommend.collective`), fitted by the nightly ``refit`` job and loaded by every process; it
  places papers nobody has read yet, and readers and papers that are newer than the fit are folded in;
- popularity.

Shared by the pages, the API and the digests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import scipy.sparse as sp

from paperfeed.errors import BadRequest
from paperfeed.models import Paper, Subscription, User
from paperfeed.recommend.collective import ARTIFACT, CollectiveModel, PaperFeatures
from paperfeed.recommend.models import Blend, CollectiveMF, GraphFilter, fit_blend, zscore
from paperfeed.search.engine import SearchEngine
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store

WINDOWS = ("day", "week", "all")
POOL = 500  # candidates from the whole store: the nearest to the reader's profile
MIN_READERS = 3  # below this many readers with history, collaborative filtering has nothing to say
REFIT_AFTER_S = 60.0  # the community model is refitted at most this often (a reader's own row is always fresh)
BLEND_STATE = "recommend:blend"  # blend weights fitted on this instance's data by the ``refit`` job
MIN_FIT_READERS = 20  # below this many readers with two or more papers, the default weights stay
CATALOGUE_PAGE = 5_000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recommendation:
    paper: Paper
    score: float
    reason: str


@dataclass
class _Community:
    mark: tuple[int, ...]
    users: dict[int, int]
    papers: dict[int, int]
    matrix: sp.csr_matrix
    model: GraphFilter | None


@dataclass
class _Catalogue:
    """Every paper that has a vector or a reader, ascending by key, as the refit job sees them."""

    keys: np.ndarray
    vectors: np.ndarray
    features: PaperFeatures
    x: sp.csr_matrix  # papers x features
    columns: np.ndarray  # the community matrix's column j is paper keys[columns[j]]
    rank: int  # factors for the collective model

    def widen(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """A readers x community-papers matrix as readers x every paper here."""
        return sp.csr_matrix((matrix.data, self.columns[matrix.indices], matrix.indptr),
                             shape=(matrix.shape[0], len(self.keys)))  # fmt: skip


class ForYou:
    """Recommendations for one reader at a time over a store and its search engine's vectors."""

    def __init__(
        self, store: Store, engine: SearchEngine, blend: Blend | None = None, refit_after: float = REFIT_AFTER_S
    ) -> None:
        self.store, self.engine, self.blend, self.refit_after = store, engine, blend or Blend(), refit_after
        self._community: _Community | None = None
        self.collective: CollectiveModel | None = None
        self._collective_version: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def community(self) -> _Community:
        """The collaborative model, refitted when the community's upvotes and collections have changed (checked
        at most every REFIT_AFTER_S seconds)."""
        with self._lock:
            now = time.monotonic()
            if self._community is None or now - self._checked >= self.refit_after:
                self._checked = now
                mark = self.store.interactions_mark()
                if self._community is None or self._community.mark != mark:
                    self._community = _fit(self.store.interactions(), mark)
                stored = self.store.get_state(BLEND_STATE)
                if stored is not None:
                    self.blend = Blend({int(b): tuple(w) for b, w in stored["weights"].items()}, self.blend.default)
                self._load_collective()
            return self._community

    def _load_collective(self) -> None:
        """Take in the collective model the last ``refit`` saved, when it is newer than the one held."""
        version = self.store.artifact_version(ARTIFACT)
        if version == self._collective_version:
            return
        found = self.store.load_artifact(ARTIFACT)
        try:
            self.collective = CollectiveModel.from_bytes(found.data) if found is not None else None
        except ValueError as error:  # unreadable: serve without it
            log.warning("the saved collective model (version %s) is unreadable: %s", version, error)
            self.collective = None
        self._collective_version = version

    def refit(self, max_readers: int = 1_000, max_items: int = 20_000, seed: int = 0) -> str:
        """The nightly ``refit`` job: fit the collective model on every reader's upvotes and collections and every
        paper's words and concepts, and save it for every web process; then fit the blend weights (see
        :meth:`_fit_weights`). Returns what it did, in words."""
        started = time.perf_counter()
        community = _fit(self.store.interactions(), ())
        if community.matrix.shape[0] < MIN_READERS:
            return f"{community.matrix.shape[0]} readers with upvotes or collections: too few to fit a model"
        self.engine.refresh()
        cat = self._catalogue(community)
        model, _ = CollectiveModel.fit(cat.widen(community.matrix), cat.keys, cat.features, cat.x, seed, cat.rank)
        meta = {"readers": community.matrix.shape[0], "papers": len(cat.keys), "features": cat.features.size}
        version = self.store.save_artifact(ARTIFACT, meta, model.to_bytes())
        said = (f"collective model v{version} fitted on {meta['readers']:,} readers x {len(cat.keys):,} papers "
                f"with {cat.features.size:,} features in {time.perf_counter() - started:.0f} s")  # fmt: skip
        return f"{said}; {self._fit_weights(community, cat, max_readers, max_items, seed)}"

    def _fit_weights(self, community: _Community, cat: _Catalogue, max_readers: int, max_items: int, seed: int) -> str:
        """Fit the blend weights on this instance's history: one paper held out per reader (at most
        ``max_readers``), weights chosen for Recall@20 on them among at most ``max_items`` candidates (the held-out
        papers and the most upvoted others; see :func:`paperfeed.recommend.models.fit_blend`), so that the score
        matrices stay at a few hundred MB whatever the instance's size. Saved for every web process."""
        rng = np.random.default_rng(seed)
        sizes = np.diff(community.matrix.indptr)
        eligible = np.flatnonzero(sizes >= 2)
        if eligible.size < MIN_FIT_READERS:
            return f"{eligible.size} readers with two or more papers: too few to fit blend weights, defaults kept"
        readers = np.sort(rng.choice(eligible, size=min(max_readers, eligible.size), replace=False))
        history, held = _hold_out(community.matrix, readers, rng)
        degree = np.asarray(history.sum(axis=0), np.float32).ravel()
        cols = np.union1d(held.indices, np.argsort(-degree, kind="stable")[:max_items])  # every held-out paper
        train, test = history[readers], held[readers][:, cols]
        items = cat.vectors[cat.columns]  # the community's papers, in its column order
        profiles = np.asarray(train @ items)
        profiles /= np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-9)
        content = (profiles @ items[cols].T).astype(np.float32)
        k = max(1, min(64, min(history.shape) - 1))
        graph = GraphFilter(k=k, alpha=0.3).fit(history)
        collaborative = np.vstack([graph.score(train[i : i + 200])[:, cols] for i in range(0, readers.size, 200)])
        held_model, users = CollectiveModel.fit(cat.widen(history), cat.keys, cat.features, cat.x, seed, cat.rank)
        assert held_model.mf.item_factors is not None
        collective = users[readers] @ held_model.mf.item_factors[cat.columns[cols]].T
        popular = np.broadcast_to(np.log1p(degree[cols]), content.shape).copy()
        blend = fit_blend(train[:, cols], test, [content, collaborative, collective, popular], k=20)
        weights = {str(b): list(w) for b, w in blend.weights.items()}
        self.store.set_state(BLEND_STATE, {"weights": weights, "readers": int(readers.size)})
        return f"blend weights (content, graph, collective, popularity) fitted on {readers.size} readers: {weights}"

    def _catalogue(self, community: _Community) -> _Catalogue:
        texts: dict[int, str] = {}
        after = (0, 0)
        while batch := self.store.changed_papers(after, CATALOGUE_PAGE):
            texts.update((d.key, _text(d.title, d.abstract)) for d in batch)
            after = (batch[-1].seq, batch[-1].key)
        index = self.engine.vectors
        keys = np.union1d(index.keys, np.fromiter(community.papers, np.int64, len(community.papers)))
        vectors = np.zeros((len(keys), index.matrix.shape[1]), np.float32)  # a paper not embedded: zeros
        vectors[np.searchsorted(keys, index.keys)] = index.matrix
        features, x = PaperFeatures.fit_transform([texts.get(int(k), "") for k in keys], vectors)
        columns = np.searchsorted(keys, sorted(community.papers, key=community.papers.__getitem__))
        return _Catalogue(keys, vectors, features, x, columns, _rank(community.matrix))

    def _describe(self, keys: Sequence[int]) -> tuple[list[str], list[np.ndarray | None]]:
        papers = self.store.papers_by_key(list(keys))
        texts = [_text(p.title, p.abstract) if (p := papers.get(k)) is not None else "" for k in keys]
        return texts, [self.engine.vectors.vector(k) for k in keys]

    def recommend(self, user: User, window: str = "week", limit: int = 20) -> list[Recommendation]:
        """Up to ``limit`` papers for ``user`` from the latest day's or week's feed, or from every paper; never one
        the user upvoted, collected or dismissed."""
        if window not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)}")
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100")
        signals = self.store.signals(user.id)
        self.engine.refresh()
        vectors = self.engine.vectors
        liked = [k for k in signals.liked if vectors.vector(k) is not None]
        profile = _profile(vectors, liked, signals.dismissed)
        interests = self.engine.embedder.encode_query(signals.interests) if signals.interests.strip() else None
        if interests is not None:
            profile = profile + interests * max(1.0, len(liked) ** 0.5)
        seen = set(signals.liked) | set(signals.dismissed)
        keys, upvotes = self._candidates(window, profile)
        keys = [k for k in keys if k not in seen]
        if not keys:
            return []
        content = _content_scores(vectors, profile, keys) if np.any(profile) else None
        collaborative = self._collaborative(signals.liked, keys)
        # after _collaborative, whose community() call has taken in the newest saved collective model
        collective = self.collective.score(signals.liked, keys, self._describe) if self.collective else None
        popular = np.log1p(np.array([upvotes.get(k, 0) for k in keys], dtype=np.float32))[None, :]
        parts = [content, collaborative, collective, popular]
        mixed = self.blend.combine([len(signals.liked)], parts)[0] if any(p is not None for p in parts) else popular[0]
        order = np.argsort(-mixed)[:limit]
        papers = self.store.papers_by_key([keys[i] for i in order])
        reasons = _Reasons(self.store, vectors, liked, interests, signals.interests)
        return [
            Recommendation(papers[keys[i]], float(mixed[i]), reasons.why(keys[i], i, parts))
            for i in order
            if keys[i] in papers
        ]

    def _candidates(self, window: str, profile: np.ndarray) -> tuple[list[int], dict[int, int]]:
        if window == "all":
            found = [k for k, _ in self.engine.vectors.search(_unit(profile), POOL)] if np.any(profile) else []
            return found, self.store.upvotes_by_key(found)
        latest = self.store.latest_feed_date()
        if latest is None:
            return [], {}
        start = latest - timedelta(days=0 if window == "day" else 6)
        stats = self.store.vote_stats(start, latest)
        return [s.key for s in stats], {s.key: s.upvotes for s in stats}

    def _collaborative(self, liked: Sequence[int], keys: Sequence[int]) -> np.ndarray | None:
        community = self.community()
        known = [community.papers[k] for k in liked if k in community.papers]
        if community.model is None or not known:
            return None
        row = sp.csr_matrix(
            (np.ones(len(known), np.float32), ([0] * len(known), known)), shape=(1, len(community.papers))
        )
        scores = community.model.score(row)[0]
        return np.array(
            [[scores[community.papers[k]] if k in community.papers else 0.0 for k in keys]], dtype=np.float32
        )


def _fit(pairs: list[tuple[int, int]], mark: tuple[int, ...]) -> _Community:
    users = {u: i for i, u in enumerate(sorted({u for u, _ in pairs}))}
    papers = {p: i for i, p in enumerate(sorted({p for _, p in pairs}))}
    rows = [users[u] for u, _ in pairs]
    cols = [papers[p] for _, p in pairs]
    matrix = sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(users), len(papers)))
    model = None
    if len(users) >= MIN_READERS and len(papers) >= 2:
        k = min(64, min(matrix.shape) - 1)
        model = GraphFilter(k=k, alpha=0.3 if k >= 1 else 0.0).fit(matrix)
    return _Community(mark, users, papers, matrix, model)


def _rank(matrix: sp.csr_matrix) -> int:
    """Factors for the collective model: CollectiveMF's 200 (chosen on CiteULike-t's 5,551 readers), fewer on a
    small instance, where so many would only fit its noise (a guard, not a tuned value)."""
    return int(np.clip(min(matrix.shape) // 2, 2, CollectiveMF.factors))


def _text(title: str, abstract: str) -> str:
    return f"{title}\n{abstract}"


def _hold_out(
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


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def _profile(vectors: VectorIndex, liked: Sequence[int], dismissed: Sequence[int]) -> np.ndarray:
    """The sum of the liked papers' unit vectors minus the dismissed ones' (so cosine to it is the summed cosine)."""
    profile = np.zeros(384, dtype=np.float32)
    for key in liked:
        found = vectors.vector(key)
        if found is not None:
            profile += found
    for key in dismissed:
        found = vectors.vector(key)
        if found is not None:
            profile -= found
    return profile


def _content_scores(vectors: VectorIndex, profile: np.ndarray, keys: Sequence[int]) -> np.ndarray:
    found = vectors.scores(_unit(profile), keys)
    return np.array([[found.get(k, 0.0) for k in keys]], dtype=np.float32)


class _Reasons:
    """Why a paper is recommended: the part of the blend that put it there, in words."""

    def __init__(
        self, store: Store, vectors: VectorIndex, liked: Sequence[int], interests: np.ndarray | None, text: str
    ):
        self.vectors, self.liked, self.interests, self.text = vectors, list(liked)[:50], interests, text
        self.titles = {k: p.title for k, p in store.papers_by_key(self.liked).items()}

    def why(self, key: int, column: int, parts: Sequence[np.ndarray | None]) -> str:
        vector = self.vectors.vector(key)
        best, near = -1.0, None
        for liked in self.liked:
            other = self.vectors.vector(liked)
            if vector is not None and other is not None and float(vector @ other) > best:
                best, near = float(vector @ other), liked
        if self.interests is not None and vector is not None and float(vector @ self.interests) >= best:
            return f"matches your interests ({_short(self.text)})"
        graph, collective = parts[1], parts[2]
        if near is None or best < 0.5:  # not close to any of the reader's own papers: the readers' signal put it here
            if graph is not None and graph[0, column] > 0:
                return "popular with readers like you"
            if collective is not None and zscore(collective)[0, column] >= 1.0:
                return "read by readers whose papers are like yours"
        if near is not None:
            return f"close to “{_short(self.titles.get(near, ''))}”, which you liked"
        return "trending in this window"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def digest_picks(foryou: ForYou, limit: int = 50) -> Callable[[Subscription, str], list[Paper]]:
    """What the digests use for "for you" subscriptions: the account's recommendations from the window."""

    def picks(sub: Subscription, window: str) -> list[Paper]:
        if sub.user_id is None:
            return []
        return [r.paper for r in foryou.recommend(User(sub.user_id, ""), window=window, limit=limit)]

    return picks
