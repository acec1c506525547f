"""Serving the "for you" feed: four models blended by how much history the reader has; every recommendation
says why. (Training is paperfeed.recommend.refit, the nightly job whose saved model and weights this loads.)

- content: the reader's papers and interests, over sentence embeddings; while most candidates have no vector yet
  (a new instance), the reader's words and categories over the keyword index instead
  (:mod:`paperfeed.recommend.lexical`), so that "for you" is personal from the first upvote;
- graph: what readers with the same papers liked (a graph filter over this instance's upvotes and collections),
  refitted in each process when readers' upvotes or collections change (a refit over 10,000 readers: seconds);
- collective: matrix factorisation of the upvotes and collections together with every paper's words and concepts
  (:mod:`paperfeed.recommend.collective`), fitted by the nightly ``refit`` job and loaded by every process; it
  places papers nobody has read yet, and readers and papers that are newer than the fit are folded in;
- popularity.

What the other processes change (upvotes, the refit job's model and weights) is taken in by an explicit
:meth:`ForYou.reload`, which :meth:`ForYou.recommend` calls first (at most every ``refit_after`` seconds it
looks). Shared by the pages, the API and the digests.
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

from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.models import Paper, Subscription, User
from paperfeed.recommend import lexical
from paperfeed.recommend.algorithms import Blend, zscore
from paperfeed.recommend.collective import ARTIFACT, CollectiveModel
from paperfeed.recommend.interactions import Interactions, fit_interactions, recommend_text
from paperfeed.recommend.refit import BLEND_STATE
from paperfeed.search.embed import DIM, paper_text
from paperfeed.search.engine import SearchEngine
from paperfeed.search.tiers import QueryVectors
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store

WINDOWS = ("day", "week", "all")
POOL = 500  # candidates from the whole store: the nearest to the reader's profile
REFIT_AFTER_S = 60.0  # the graph filter is refitted at most this often (a reader's own row is always fresh)
WARM = 0.5  # below this share of candidates with a MiniLM vector, the content model is the lexical one

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recommendation:
    paper: Paper
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Scored:
    """A recommended paper with its score by each model variant (``blend``, ``content``)."""

    paper: Paper
    scores: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Ranked:
    keys: list[int]
    parts: list[np.ndarray | None]  # content, graph, collective, popularity: 1 x len(keys) each
    mixed: np.ndarray
    liked: list[int]
    interests: np.ndarray | None
    text: str
    words: lexical.LexicalProfile


class ForYou:
    """Recommendations for one reader at a time over a store and its search engine's vectors."""

    def __init__(
        self, store: Store, engine: SearchEngine, blend: Blend | None = None, refit_after: float = REFIT_AFTER_S
    ) -> None:
        self.store, self.engine, self.blend, self.refit_after = store, engine, blend or Blend(), refit_after
        self._interactions: Interactions | None = None
        self.collective: CollectiveModel | None = None
        self._collective_version: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def reload(self) -> Interactions:
        """Take in what changed elsewhere, looking at most every ``refit_after`` seconds: the graph filter is
        refitted when readers' upvotes or collections changed, and the blend weights and the collective model the
        last ``refit`` job saved are read. Returns the interactions to recommend from."""
        with self._lock:
            now = time.monotonic()
            if self._interactions is None or now - self._checked >= self.refit_after:
                self._checked = now
                mark = self.store.interactions_mark()
                if self._interactions is None or self._interactions.mark != mark:
                    self._interactions = fit_interactions(self.store.interactions(), mark)
                stored = self.store.get_state(BLEND_STATE)
                if stored is not None:
                    self.blend = Blend({int(b): tuple(w) for b, w in stored["weights"].items()}, self.blend.default)
                self._load_collective()
            return self._interactions

    def _load_collective(self) -> None:
        """Take in the collective model the last ``refit`` saved, when it is newer than the one held."""
        version = self.store.artifact_version(ARTIFACT)
        if version == self._collective_version:
            return
        found = self.store.load_artifact(ARTIFACT)
        try:
            folder = self.engine.vectors.folder.parent / "collective"  # beside the vector base, mapped alike
            self.collective = CollectiveModel.from_bytes(found.data, folder) if found is not None else None
        except ValueError as error:  # unreadable: serve without it
            log.warning("the saved collective model (version %s) is unreadable: %s", version, error)
            self.collective = None
        self._collective_version = version

    def _describe(self, keys: Sequence[int]) -> tuple[list[str], list[np.ndarray | None]]:
        papers = self.store.papers_by_key(list(keys))
        texts = [recommend_text(p.title, p.abstract) if (p := papers.get(k)) is not None else "" for k in keys]
        return texts, [self.engine.vectors.vector(k) for k in keys]

    def recommend(self, user: User, window: str = "week", limit: int = 20) -> list[Recommendation]:
        """Up to ``limit`` papers for ``user`` from the latest day's or week's feed, or from every paper; never one
        the user upvoted, collected or dismissed."""
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100")
        ranked = self._rank(user, window)
        if ranked is None:
            return []
        order, papers = self._top(ranked, limit)
        reasons = _Reasons(self.store, self.engine.vectors, ranked.liked, ranked.interests, ranked.text, ranked.words)
        return [
            Recommendation(papers[k], float(ranked.mixed[i]), reasons.why(papers[k], k, i, ranked.parts))
            for i in order
            if (k := ranked.keys[i]) in papers
        ]

    def scored(self, user: User, window: str = "week", limit: int = 100) -> list[Scored]:
        """Like :meth:`recommend`, with each paper's score by every model variant (for conformal digests):
        ``blend`` (the mix) and, when the content model has data, ``content`` (its z-scored part)."""
        if not 1 <= limit <= 200:
            raise BadRequest("limit must be between 1 and 200")
        ranked = self._rank(user, window)
        if ranked is None:
            return []
        order, papers = self._top(ranked, limit)
        content = zscore(ranked.parts[0])[0] if ranked.parts[0] is not None else None
        out = []
        for i in order:
            if (k := ranked.keys[i]) in papers:
                scores = {"blend": float(ranked.mixed[i])} | (
                    {"content": float(content[i])} if content is not None else {}
                )
                out.append(Scored(papers[k], scores))
        return out

    def _top(self, ranked: _Ranked, limit: int) -> tuple[np.ndarray, dict[int, Paper]]:
        """The ``limit`` best candidates' positions, best first, and their papers by key."""
        order = np.argsort(-ranked.mixed)[:limit]
        return order, self.store.papers_by_key([ranked.keys[i] for i in order])

    def _rank(self, user: User, window: str) -> _Ranked | None:
        """Every candidate's blended score and the models' parts; None when there is no candidate."""
        if window not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)}")
        interactions = self.reload()
        signals = self.store.signals(user.id)
        self.engine.refresh()
        vectors = self.engine.vectors
        liked = [k for k in signals.liked if vectors.vector(k) is not None]
        profile = _profile(vectors, liked, signals.dismissed)
        words_of_reader = lexical.without_categories(signals.interests)
        interests = self.engine.embedder.encode_query(words_of_reader) if words_of_reader and len(vectors) else None
        if interests is not None:
            profile = profile + interests * max(1.0, len(liked) ** 0.5)
        seen = set(signals.liked) | set(signals.dismissed)
        mine = list(self.store.papers_by_key(list(signals.liked)[-50:]).values())
        words = lexical.profile(self.engine.keyword, mine, signals.interests)
        keys, upvotes = self._candidates(window, profile, words)
        keys = [k for k in keys if k not in seen]
        if not keys:
            return None
        content = _content_scores(vectors, profile, keys) if np.any(profile) else None
        warming = int(vectors.known(keys).sum()) < WARM * len(keys)
        if content is None or warming:  # most candidates have no MiniLM vector yet: words and provisional vectors
            tiered = self._tiered_content(profile, mine, words_of_reader, keys)
            lexical_part = lexical.scores(self.engine.keyword, words, keys) if not words.empty else None
            content = (
                _mean_of_standardised([tiered, lexical_part])
                if tiered is not None or lexical_part is not None
                else content
            )
        collaborative = _collaborative(interactions, signals.liked, keys)
        collective = self.collective.score(signals.liked, keys, self._describe) if self.collective else None
        popular = np.log1p(np.array([upvotes.get(k, 0) for k in keys], dtype=np.float32))[None, :]
        parts = [content, collaborative, collective, popular]
        mixed = self.blend.combine([len(signals.liked)], parts)[0] if any(p is not None for p in parts) else popular[0]
        return _Ranked(keys, parts, mixed, liked, interests, words_of_reader, words)

    def _tiered_content(
        self, profile: np.ndarray, mine: Sequence[Paper], interests: str, keys: Sequence[int]
    ) -> np.ndarray | None:
        """The content model over both vector tiers (paperfeed.search.tiers): each candidate scored in the tier it
        has, the first tier's profile made from the liked papers' texts by the static model. None when fewer
        than WARM of the candidates have a vector in either tier."""
        tiers, first = self.engine.tiers, self.engine.first_tier
        if first is None or not tiers.coverage().first:
            return None
        texts = [paper_text(p.title, p.abstract) for p in mine] + ([interests] if interests else [])
        if not texts:
            return None
        try:
            first_profile = _unit(np.sum(first.encode(texts), axis=0))
        except PaperfeedError:  # the static model cannot load: the words alone
            return None
        main = _unit(profile) if np.any(profile) and len(tiers.main) else None
        scores = tiers.z_scores(QueryVectors(main, first_profile), keys)
        if len(scores) < WARM * len(keys):
            return None
        return np.array([[scores.get(k, 0.0) for k in keys]], dtype=np.float32)

    def _candidates(
        self, window: str, profile: np.ndarray, words: lexical.LexicalProfile
    ) -> tuple[list[int], dict[int, int]]:
        if window == "all":
            found = [k for k, _ in self.engine.vectors.search(_unit(profile), POOL)] if np.any(profile) else []
            found = found or lexical.candidates(self.engine.keyword, words, POOL)
            return found, self.store.upvotes_by_key(found)
        latest = self.store.latest_feed_date()
        if latest is None:
            return [], {}
        start = latest - timedelta(days=0 if window == "day" else 6)
        upvotes = self.store.upvotes_between(start, latest)
        return list(upvotes), upvotes


def _collaborative(interactions: Interactions, liked: Sequence[int], keys: Sequence[int]) -> np.ndarray | None:
    """The graph filter's scores of ``keys`` for a reader who liked ``liked`` (None without a model)."""
    known = [interactions.papers[k] for k in liked if k in interactions.papers]
    if interactions.model is None or not known:
        return None
    row = sp.csr_matrix(
        (np.ones(len(known), np.float32), ([0] * len(known), known)), shape=(1, len(interactions.papers))
    )
    scores = interactions.model.score(row)[0]
    papers = interactions.papers
    return np.array([[scores[papers[k]] if k in papers else 0.0 for k in keys]], dtype=np.float32)


def _mean_of_standardised(parts: Sequence[np.ndarray | None]) -> np.ndarray:
    """The mean of the parts' z-scores (1 x n each), over those that exist."""
    present = [zscore(p) for p in parts if p is not None]
    out: np.ndarray = np.mean(present, axis=0).astype(np.float32)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def _profile(vectors: VectorIndex, liked: Sequence[int], dismissed: Sequence[int]) -> np.ndarray:
    """The sum of the liked papers' unit vectors minus the dismissed ones' (so cosine to it is the summed cosine)."""
    profile = np.zeros(DIM, dtype=np.float32)
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
        self, store: Store, vectors: VectorIndex, liked: Sequence[int], interests: np.ndarray | None, text: str,
        words: lexical.LexicalProfile,
    ):  # fmt: skip
        self.vectors, self.liked, self.interests, self.text = vectors, list(liked)[:50], interests, text
        self.titles = {k: p.title for k, p in store.papers_by_key(self.liked).items()}
        self.words = words

    def why(self, paper: Paper, key: int, column: int, parts: Sequence[np.ndarray | None]) -> str:
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
        return lexical.why(paper, self.words) or "trending in this window"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def digest_picks(foryou: ForYou, limit: int = 200) -> Callable[[Subscription, str], list[Scored]]:
    """What the digests use for "for you" subscriptions: the account's scored recommendations from the window."""

    def picks(sub: Subscription, window: str) -> list[Scored]:
        if sub.user_id is None:
            return []
        return foryou.scored(User(sub.user_id, ""), window=window, limit=limit)

    return picks
