"""Search as readers use it: keyword, semantic and hybrid modes, filters, sorting, similar papers.

Hybrid (the default) fuses the two retrievers with a normalised linear blend. Each retriever's top 100 are
pooled; every pooled paper gets its exact BM25 score (from the query's top 1,000, computed while the query
is embedded, or asked for when the query has more matches) and its exact cosine. BM25 is standardised
against those 1,000 scores and cosine against a fixed sample of the corpus (z-scores), and the blend is
``KEYWORD_WEIGHT * z_bm25 + (1 - KEYWORD_WEIGHT) * z_cos``. This beat standardising each against its own
top 100, min-max and reciprocal-rank fusion on SciFact; the weight is chosen by cross-validation over SciFact
train and CACM together, and neither a weight that follows the query (its length, the retrievers' score
spread) nor pseudo-relevance feedback helped on both (bench/search_quality.py --tune; docs/decisions.md).
While the MiniLM vectors are still being computed, papers without one take part through their first-tier
vector (paperfeed.search.tiers), and a search that runs alone has its best 20 results re-ranked with MiniLM
embedded for it (:meth:`SearchEngine._refined`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal, get_args

from paperfeed.errors import BadRequest, Conflict, NotFound, PaperfeedError
from paperfeed.models import Paper
from paperfeed.search.embed import Embedder, Vectors, paper_text
from paperfeed.search.keyword import Hit, Snippet
from paperfeed.search.keyword_shards import keyword_index
from paperfeed.search.query import MAX_QUERY_CHARS, PROSE_NOTICE, ParsedQuery, parse_query
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.search.tiers import REFINE_DEPTH, QueryVectors, TieredVectors, zscorer
from paperfeed.search.vectors import GraphDtype, VectorIndex
from paperfeed.store import Store

Mode = Literal["hybrid", "keyword", "semantic"]
Sort = Literal["relevance", "newest", "oldest", "upvotes"]
SearchMode = Literal["hybrid", "keyword", "semantic"]
SearchSort = Literal["relevance", "newest", "oldest", "upvotes"]
MODES: tuple[SearchMode, ...] = get_args(SearchMode)
SORTS: tuple[SearchSort, ...] = get_args(SearchSort)


def parse_mode(value: str) -> SearchMode:
    """A search mode from a caller's text, or BadRequest naming the choices (parsed once, at the edge)."""
    for choice in MODES:
        if value == choice:
            return choice
    raise BadRequest(f"mode must be one of {', '.join(MODES)} (got {value[:40]!r})")


def parse_sort(value: str) -> SearchSort:
    """A search sort order from a caller's text, or BadRequest naming the choices."""
    for choice in SORTS:
        if value == choice:
            return choice
    raise BadRequest(f"sort must be one of {', '.join(SORTS)} (got {value[:40]!r})")


MAX_LIMIT = 100
MAX_DEPTH = 1_000  # deepest result reachable by paging (offset + limit)
KEYWORD_WEIGHT = 0.45
FUSION_DEPTH = 100  # candidates taken from each retriever before fusing
BM25_STATS_DEPTH = 1_000  # BM25 scores are standardised against this many of the query's best matches
SORT_POOL = 500  # the most relevant results that a date or upvote sort orders
EXACT_FILTERED = 20_000  # filtered semantic search is exact when at most this many papers pass the filter
REFINED_NOTICE = f"The best {REFINE_DEPTH} results were re-ranked with full-quality vectors computed for this search"
NO_EMBEDDINGS = "no paper has a vector yet (the worker computes them after an import; `paperfeed stats` shows how far)"


@dataclass(frozen=True)
class SearchHit:
    paper: Paper
    score: float
    found_by: tuple[str, ...]  # "keyword", "semantic"
    title: Snippet
    snippet: Snippet


@dataclass(frozen=True, slots=True)
class PageAsk:
    """Which page of results a caller wants, and how it asked (echoed in the results)."""

    q: str
    mode: SearchMode
    sort: SearchSort = "relevance"
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class SearchResults:
    query: str
    mode: SearchMode  # what was asked for
    used: str  # what ran: a mode, or "filter" for a query of filters only
    sort: SearchSort
    hits: list[SearchHit]
    offset: int
    limit: int
    has_more: bool
    total: int | None = None  # matching papers, where countable (keyword matches)
    notices: tuple[str, ...] = ()
    total_exact: bool = True  # False: ``total`` is an estimate (a keyword query matching a large share of papers)


@dataclass
class Ranking:
    """What :meth:`SearchEngine.rank` found, before the papers are loaded."""

    parsed: ParsedQuery
    used: str
    hits: list[Hit] = field(default_factory=list)
    total: int | None = None
    notices: list[str] = field(default_factory=list)
    found_by: dict[int, tuple[str, ...]] = field(default_factory=dict)
    total_exact: bool = True


@dataclass(frozen=True)
class Window:
    since: date | None = None
    until: date | None = None
    category: str | None = None


class SearchEngine:
    """Keyword index + vector index + embedder over one store. Safe to share between threads."""

    def __init__(
        self, store: Store, folder: Path, embedder: Embedder, *, exact_below: int = 20_000,
        first_tier: StaticEmbedder | None = None, graph_dtype: GraphDtype = "i8", keyword_shards: int = 1,
    ) -> None:  # fmt: skip
        self.store, self.embedder, self.first_tier = store, embedder, first_tier
        self.keyword = keyword_index(folder, keyword_shards)
        self.vectors = VectorIndex(folder / "vectors", exact_below=exact_below, graph_dtype=graph_dtype)
        self.tiers = TieredVectors(self.vectors, embedder, folder, first_tier)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperfeed-search")
        # searches and similar-paper lookups running now (see _refined)
        self._in_flight, self._in_flight_lock = 0, threading.Lock()

    def close(self) -> None:
        """Stop the search thread pool (searches in flight finish; none may start after)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.keyword.close()

    def refresh(self) -> tuple[int, int]:
        """Bring both indexes up to date with the store; return (papers indexed, vectors added)."""
        return self.keyword.sync(self.store), self.tiers.sync(self.store)

    def catch_up(self) -> None:
        """Take in what was committed since the last look (cheap when nothing was): before every query, and
        every few seconds from a web process's IndexKeeper."""
        if self.keyword.pending(self.store):
            self.keyword.sync(self.store)
        self.tiers.sync(self.store, background=True)  # a new vector base is written aside, not in this query

    def warm(self) -> None:
        """Load the models that queries need now (each tier's query embedder, once it holds vectors), so that
        no reader's request pays for loading them."""
        self.tiers.warm()

    # -- entry points -----------------------------------------------------------------------------------

    def search(
        self, q: str, *, mode: SearchMode = "hybrid", window: Window = Window(), sort: SearchSort = "relevance",
        limit: int = 20, offset: int = 0,
    ) -> SearchResults:  # fmt: skip
        """Search every paper. Raises BadRequest for a bad page or date; Conflict for semantic mode before any
        embedding exists."""
        ask = PageAsk(q, mode, sort, offset, limit)
        _check_page(ask)
        depth = SORT_POOL if sort != "relevance" else offset + limit + 1
        return self._page(ask, self.rank(q, mode=mode, window=window, depth=depth))

    def rank(self, q: str, *, mode: SearchMode = "hybrid", window: Window = Window(), depth: int = 21) -> Ranking:
        """The ``depth`` best (key, score) pairs for a query, without loading the papers. When no paper has a
        quoted phrase, the phrase's words are searched instead and a notice says so (as search boxes do)."""
        parsed = _with_window(parse_query(q), window)
        if parsed.is_empty:
            raise BadRequest("q is empty: give words to search for, or a filter such as cat:cs.LG or since:2025-03")
        self.catch_up()
        with self._counted():
            r = self._rank(parsed, mode, depth)
        if parsed.unquoted:
            r.notices.insert(0, PROSE_NOTICE)
        if r.hits or not parsed.phrases:
            return r
        with self._counted():
            loosened = self._rank(parsed.phrases_as_words(), mode, depth)
        if loosened.hits:
            quoted = " or ".join(f'"{phrase}"' for phrase in parsed.phrases)
            loosened.notices.insert(0, f"No paper has the exact phrase {quoted}: showing papers with its words")
            return loosened
        return r

    def _rank(self, parsed: ParsedQuery, mode: SearchMode, depth: int) -> Ranking:
        r = Ranking(parsed, used="filter")
        lexical = None
        if parsed.text and mode == "hybrid":  # BM25 on the other core while the query is embedded and searched
            lexical = self._pool.submit(
                self.keyword.search, parsed, max(depth, FUSION_DEPTH, BM25_STATS_DEPTH), count=False
            )
        vector = self._query_vectors(parsed.text, mode, r.notices) if parsed.text and mode != "keyword" else None
        if not parsed.text:
            r.hits = self._filtered(parsed, depth)
        elif vector is None:
            (r.hits, total), r.used = self.keyword.search_with_total(parsed, depth), "keyword"
            r.total, r.total_exact = total.value, total.exact
            if lexical is not None:
                lexical.cancel()
        elif mode == "semantic":
            r.used, r.hits = "semantic", self._nearest(vector, parsed, depth)
            if self.tiers.provisional:
                r.hits = self._refined(parsed.text, vector, r.hits, lambda key, z: z, r.notices)
        else:
            if lexical is None:  # (hybrid always submits it above; this keeps the branch total)
                lexical = self._pool.submit(self.keyword.search, parsed, BM25_STATS_DEPTH, count=False)
            fused = self._hybrid(vector, parsed, max(depth, FUSION_DEPTH), lexical, r.notices)
            r.used, (r.hits, r.found_by) = "hybrid", fused
        if r.used in ("semantic", "hybrid"):  # what is warming up, then what was done about it
            at = r.notices.index(REFINED_NOTICE) if REFINED_NOTICE in r.notices else len(r.notices)
            r.notices[at:at] = self._warming_up()
        return r

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _warming_up(self) -> list[str]:
        """What a reader should know while vectors are still being computed."""
        papers, covered = self.keyword.size(), self.tiers.coverage()
        notices = []
        if covered.first and papers:
            notices.append(
                f"Semantic ranking is still warming up: {covered.main / papers:.0%} of papers have their full-quality "
                f"vector so far, {covered.first / papers:.0%} a provisional one (replaced as the worker goes on)"
            )
        unembedded = papers - covered.main - covered.first
        if unembedded > 0:
            notices.append(f"{unembedded:,} papers have no vector yet: semantic ranking skips them until the worker "
                           "has embedded them")  # fmt: skip
        return notices

    def similar(self, arxiv_id: str, *, window: Window = Window(), limit: int = 10) -> SearchResults:
        """The papers nearest in meaning to one paper (itself left out), optionally within a window."""
        ask = PageAsk(f"similar:{arxiv_id}", "semantic", limit=limit)
        _check_page(ask)
        key = self.store.paper_keys([arxiv_id]).get(arxiv_id)
        if key is None:
            raise NotFound(f"paper {arxiv_id} is not in this instance")
        self.catch_up()
        if len(self.tiers) == 0:
            raise Conflict(f"similar papers need vectors, and {NO_EMBEDDINGS}")
        paper = self.store.papers_by_key([key])[key]
        with self._counted():
            busy = self._in_flight > 1
            vectors = self.tiers.for_paper(key, paper_text(paper.title, paper.abstract), busy=busy)
            parsed = _with_window(ParsedQuery(), window)
            hits = [h for h in self._nearest(vectors, parsed, limit + 1) if h[0] != key][:limit]
        return self._page(ask, Ranking(parsed, "semantic", hits))

    def similar_text(self, text: str, *, window: Window = Window(), limit: int = 10) -> SearchResults:
        """The papers nearest in meaning to a piece of text (an abstract, a paragraph)."""
        ask = PageAsk("similar text", "semantic", limit=limit)
        _check_page(ask)
        if not text.strip():
            raise BadRequest("text is empty: paste an abstract or a few sentences")
        if len(text) > MAX_QUERY_CHARS:
            raise BadRequest(f"text must be at most {MAX_QUERY_CHARS:,} characters (got {len(text):,})")
        self.catch_up()
        if len(self.tiers) == 0:
            raise Conflict(f"similar papers need vectors, and {NO_EMBEDDINGS}")
        parsed = _with_window(ParsedQuery(), window)
        hits = self._nearest(self.tiers.query(text, alone=True), parsed, limit)
        return self._page(ask, Ranking(parsed, "semantic", hits))

    # -- retrieval --------------------------------------------------------------------------------------

    def _query_vectors(self, text: str, mode: SearchMode, notices: list[str]) -> QueryVectors | None:
        """The query embedded in each tier; None when no paper has a vector yet, or the model cannot load
        (both modes then fall back to keyword results, and a notice says why)."""
        if len(self.tiers) == 0:
            notices.append(f"Keyword results only: {NO_EMBEDDINGS}")
            return None
        try:
            vectors = self.tiers.query(text, alone=mode == "semantic")
        except PaperfeedError as exc:
            notices.append(f"Keyword results only: the embedding model is unavailable ({exc.message})")
            return None
        return None if vectors.empty else vectors

    def _filtered(self, parsed: ParsedQuery, depth: int) -> list[Hit]:
        return [(key, 0.0) for key in self.keyword.matching_keys(parsed, depth)]

    def _nearest(self, vectors: QueryVectors, parsed: ParsedQuery, k: int) -> list[Hit]:
        """The ``k`` papers nearest in meaning that pass the query's filters, over both vector tiers."""
        return self.tiers.search(vectors, k, lambda index, vector, n: self._semantic(index, vector, parsed, n))

    def _semantic(self, index: VectorIndex, vector: Vectors, parsed: ParsedQuery, k: int) -> list[Hit]:
        if not parsed.has_constraints:
            return index.search(vector, k)
        allowed = self.keyword.count_matching(parsed)
        if allowed <= EXACT_FILTERED:
            return index.search(vector, k, within=self.keyword.matching_keys(parsed, max(allowed, 1)))
        candidates = index.search(vector, 10 * k)  # a broad filter: most near papers pass it
        among = [key for key, _ in candidates]
        passing = set(self.keyword.matching_keys(parsed, len(among), within=among))
        hits = [hit for hit in candidates if hit[0] in passing][:k]
        if len(hits) < k:  # the filter is broad but these neighbours missed it: go exact over all that pass
            hits = index.search(vector, k, within=self.keyword.matching_keys(parsed, allowed))
        return hits

    def _hybrid(
        self, vectors: QueryVectors, parsed: ParsedQuery, depth: int, bm25_leg: Future[tuple[list[Hit], int]],
        notices: list[str],
    ) -> tuple[list[Hit], dict[int, tuple[str, ...]]]:  # fmt: skip
        """Fuse the query's BM25 ranking (``bm25_leg``: up to BM25_STATS_DEPTH deep, running on the pool) with
        semantic retrieval, which runs here meanwhile: the two legs overlap instead of adding up."""
        semantic = self._nearest(vectors, parsed, depth)
        scored = bm25_leg.result()[0]
        lexical = scored[:depth]
        ranked = dict(scored)
        bm25, cosine = dict(lexical), dict(semantic)
        lexical_keys, semantic_keys = set(bm25), set(cosine)
        pooled = list(dict.fromkeys([*bm25, *cosine]))
        bm25.update({key: ranked[key] for key in pooled if key not in bm25 and key in ranked})
        outside = [key for key in pooled if key not in bm25]
        if outside and len(scored) >= BM25_STATS_DEPTH:  # more matches than ranked: score these exactly
            bm25.update(self.keyword.search(parsed, len(outside), within=outside, count=False)[0])
        # else the ranking holds every match, and a paper outside it matches no query word: BM25 0 (the default)
        # BM25 against the query's own score distribution; cosine against the corpus's (a fixed sample, per tier)
        z_bm25, z_cos = zscorer([s for _, s in scored]), self.tiers.z_scores(vectors, pooled)
        floor = min(z_cos.values(), default=0.0)
        fused = {
            key: KEYWORD_WEIGHT * z_bm25(bm25.get(key, 0.0)) + (1 - KEYWORD_WEIGHT) * z_cos.get(key, floor)
            for key in pooled
        }
        found_by = {key: _found(key in lexical_keys, key in semantic_keys) for key in pooled}
        ranking = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        if self.tiers.provisional:
            ranking = self._refined(parsed.text, vectors, ranking, lambda key, z: KEYWORD_WEIGHT * z_bm25(
                bm25.get(key, 0.0)) + (1 - KEYWORD_WEIGHT) * z, notices)  # fmt: skip
        return ranking, found_by

    def _refined(
        self, text: str, vectors: QueryVectors, ranking: list[Hit], blend: Callable[[int, float], float],
        notices: list[str],
    ) -> list[Hit]:  # fmt: skip
        """``ranking`` with its best REFINE_DEPTH re-scored by ``blend(key, MiniLM z-score)`` where MiniLM could
        be had now (paperfeed.search.tiers.TieredVectors.refined); the rest keep their order below them. Adds
        REFINED_NOTICE to ``notices`` when it did. Only a search that runs alone in this process is refined:
        under load the MiniLM runs would take the CPU from the other searches (and from the worker)."""
        if self._in_flight > 1:
            return ranking
        top, rest = ranking[:REFINE_DEPTH], ranking[REFINE_DEPTH:]
        papers = self.store.papers_by_key([key for key, _ in top])
        z = self.tiers.refined(text, vectors, {key: paper_text(p.title, p.abstract) for key, p in papers.items()})
        if not z:
            return ranking
        notices.append(REFINED_NOTICE)
        rescored = sorted(((key, blend(key, z[key]) if key in z else score) for key, score in top),
                          key=lambda item: (-item[1], item[0]))  # fmt: skip
        lift = max(0.0, rest[0][1] - rescored[-1][1]) if rest and rescored else 0.0  # keep scores descending
        return [(key, score + lift) for key, score in rescored] + rest

    # -- results ----------------------------------------------------------------------------------------

    def _page(self, ask: PageAsk, r: Ranking) -> SearchResults:
        """The asked-for page of a ranking, with its papers loaded and its snippets marked."""
        sort, offset, limit = ask.sort, ask.offset, ask.limit
        papers = self.store.papers_by_key([key for key, _ in r.hits] if sort != "relevance" else [])
        ordered = list(r.hits)
        if sort != "relevance":
            ordered = _sorted(ordered, papers, sort)
        page = ordered[offset : offset + limit]
        if sort == "relevance":
            papers = self.store.papers_by_key([key for key, _ in page])
        marks = self.keyword.snippets(r.parsed, [key for key, _ in page])
        default = (r.used,) if r.used in ("keyword", "semantic") else ()
        results = []
        for key, score in page:
            if key not in papers:  # removed since it was indexed
                continue
            paper = papers[key]
            title, snippet = marks.get(key, (Snippet(paper.title), Snippet(paper.abstract[:240])))
            results.append(SearchHit(paper, round(score, 6), r.found_by.get(key, default), title, snippet))
        has_more = len(ordered) > offset + limit or (r.total is not None and r.total > offset + limit)
        has_more = has_more and offset + limit < MAX_DEPTH
        return SearchResults(ask.q, ask.mode, r.used, sort, results, offset, limit, has_more, r.total, tuple(r.notices),
                             r.total_exact)  # fmt: skip


def _check_page(ask: PageAsk) -> None:
    """Paging checked in one place: BadRequest naming ``limit`` or ``offset``."""
    limit, offset = ask.limit, ask.offset
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0 or offset + limit > MAX_DEPTH:
        raise BadRequest(f"offset must be between 0 and {MAX_DEPTH - limit} for limit {limit}")


def _with_window(parsed: ParsedQuery, window: Window) -> ParsedQuery:
    since = max(filter(None, (parsed.since, window.since)), default=None)
    until = min(filter(None, (parsed.until, window.until)), default=None)
    if since and until and since > until:
        raise BadRequest(f"the date range is empty: since {since} is after until {until}")
    categories = [*parsed.categories, *([window.category.lower()] if window.category else [])]
    return replace(parsed, since=since, until=until, categories=categories)


def _found(lexical: bool, semantic: bool) -> tuple[str, ...]:
    return (*(("keyword",) if lexical else ()), *(("semantic",) if semantic else ()))


def _sorted(hits: list[Hit], papers: dict[int, Paper], sort: SearchSort) -> list[Hit]:
    def key(hit: Hit) -> tuple[object, ...]:
        paper = papers.get(hit[0])
        day = paper.feed_date.toordinal() if paper and paper.feed_date else 0
        if sort == "upvotes":
            return (-(paper.upvotes if paper else 0), -day, hit[0])
        return (-day, -hit[0]) if sort == "newest" else (day, hit[0])

    return sorted(hits, key=key)
