"""While papers have only provisional vectors, a query's best results are re-ranked with MiniLM embedded on the
spot (paperfeed.search.tiers.TieredVectors.refined): bounded, cached, skipped when busy or unavailable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from paperfeed.errors import PaperfeedError
from paperfeed.search.embed import Embedder, Resolved, Vectors
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import REFINED_NOTICE, SearchEngine, SearchMode
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.search.tiers import REFINE_BUDGET
from paperfeed.store import Store
from search_corpus import corpus

pytestmark = pytest.mark.timeout(300)  # the first-tier model is distilled once a session
# Paraphrases that share no telling word with their paper: the static first tier puts another paper first
PARAPHRASES = {
    "making pictures by removing noise step by step": "2501.00002",  # diffusion models for images
    "protecting individuals when many phones learn one model": "2501.00007",  # federated learning, privacy
}


class CountingEmbedder(Embedder):
    """MiniLM, counting the texts it embeds as documents (queries counted apart)."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.broken, self.documents, self.queries = broken, 0, 0

    def encode(self, texts: Sequence[str], precision: Resolved | None = None) -> Vectors:
        if self.broken:
            raise PaperfeedError("the model files are damaged")
        self.documents += len(texts)
        return super().encode(texts, precision)

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        self.queries += 1
        self.documents -= 1  # encode_query calls encode for its one text
        return super().encode_query(text, alone=alone)


def provisional(store: Store, engine: SearchEngine) -> list[str]:
    """The ids of the papers that have no MiniLM vector yet."""
    keys = store.paper_keys([p.arxiv_id for p in corpus()])
    return [arxiv_id for arxiv_id, key in keys.items() if engine.tiers.main.vector(key) is None]


def first_tier_engine(store: Store, folder: Path, static: StaticEmbedder, embedder: Embedder) -> SearchEngine:
    store.upsert_papers(corpus())
    embed_papers(store, static)
    return SearchEngine(store, folder / "index", embedder, first_tier=static)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_provisional_results_are_re_ranked_with_minilm(
    store: Store, tmp_path: Path, static: StaticEmbedder, mode: SearchMode
) -> None:
    counting = CountingEmbedder()
    engine = first_tier_engine(store, tmp_path, static, counting)
    for query, expected in PARAPHRASES.items():
        with engine.tiers._refining:  # another query is being refined: this one keeps the first tier's order
            alone = engine.search(query, mode=mode)
        assert REFINED_NOTICE not in alone.notices
        assert alone.hits[0].paper.arxiv_id != expected, "the first tier alone should miss this paraphrase"
        refined = engine.search(query, mode=mode)
        assert REFINED_NOTICE in refined.notices
        assert refined.hits[0].paper.arxiv_id == expected, query
        scores = [hit.score for hit in refined.hits]
        assert scores == sorted(scores, reverse=True)
    assert 0 < counting.documents <= min(REFINE_BUDGET, len(corpus()))  # each paper's text embedded once
    before = counting.documents
    engine.search("a different question about neural networks", mode=mode)
    assert counting.documents == before  # every paper's MiniLM vector came from the cache


def test_refinement_stops_once_minilm_covers_every_paper(store: Store, tmp_path: Path, static: StaticEmbedder) -> None:
    counting = CountingEmbedder()
    engine = first_tier_engine(store, tmp_path, static, counting)
    embed_papers(store, Embedder())
    engine.refresh()
    results = engine.search(next(iter(PARAPHRASES)))
    assert REFINED_NOTICE not in results.notices and counting.documents == 0


def test_a_broken_model_leaves_the_first_tier_ranking(store: Store, tmp_path: Path, static: StaticEmbedder) -> None:
    engine = first_tier_engine(store, tmp_path, static, CountingEmbedder(broken=True))
    for mode in ("semantic", "hybrid"):
        results = engine.search("making pictures by removing noise", mode=mode)
        assert results.used == mode and results.hits and REFINED_NOTICE not in results.notices


def test_a_search_beside_another_is_not_refined(store: Store, tmp_path: Path, static: StaticEmbedder) -> None:
    counting = CountingEmbedder()
    engine = first_tier_engine(store, tmp_path, static, counting)
    query = next(iter(PARAPHRASES))
    with engine._counted():  # another search is running in this process
        busy = engine.search(query)
    assert REFINED_NOTICE not in busy.notices and counting.documents == 0
    assert REFINED_NOTICE in engine.search(query).notices  # alone again: refined


def test_similar_papers_beside_another_request_use_the_cache_or_the_first_tier(
    store: Store, tmp_path: Path, static: StaticEmbedder
) -> None:
    counting = CountingEmbedder()
    engine = first_tier_engine(store, tmp_path, static, counting)
    embed_papers(store, Embedder(), limit=2)  # two papers have MiniLM: the first tier holds most of them
    engine.refresh()
    busy_id, cached_id = provisional(store, engine)[:2]
    engine.similar(cached_id)  # alone: embedded now and cached
    assert counting.queries == 1
    with engine._counted():  # another request is running in this process
        busy = engine.similar(busy_id)
        assert busy.hits and counting.queries == 1  # the first tier alone answered
        engine.similar(cached_id)
        assert counting.queries == 1  # from the cache
    alone = engine.similar(busy_id)
    assert counting.queries == 2 and alone.hits
    assert {h.paper.arxiv_id for h in alone.hits} != {h.paper.arxiv_id for h in busy.hits}  # MiniLM took part


def test_similar_papers_are_embedded_when_busy_once_most_papers_have_minilm(
    store: Store, tmp_path: Path, static: StaticEmbedder
) -> None:
    counting = CountingEmbedder()
    engine = first_tier_engine(store, tmp_path, static, counting)
    embed_papers(store, Embedder(), limit=len(corpus()) - 2)  # two provisional papers left
    engine.refresh()
    with engine._counted():
        busy = engine.similar(provisional(store, engine)[0])
    # the first tier's pool is two papers: too few to find neighbours in, so MiniLM embeds the paper anyway
    assert counting.queries == 1 and len(busy.hits) > 2
