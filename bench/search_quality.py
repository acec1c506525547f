"""Search quality on SciFact (train split): nDCG@10 and Recall@100 for keyword, semantic and hybrid search.

    .venv/bin/python bench/search_quality.py [--data ../shared/data/scifact] [--cache ~/.cache/paperfeed-bench]
                                             [--tune]

The corpus goes through paperfeed itself: papers in a store, the tantivy index, `paperfeed embed`'s job and
the SearchEngine, each query asked as a reader would (``SearchEngine.search(q, mode=..., limit=100)``).
The store and its embeddings are cached under --cache, so a second run embeds nothing. Metrics come from
pytrec_eval (trec_eval's implementation). ``--tune`` also prints the hybrid blend weight and title boost grids
that the defaults were chosen from; tuning uses this train split only (there is no other split here).
Reference points on this split: BM25 0.696, MiniLM 0.660, a tuned z-score blend 0.737.

A second table runs the same queries over a store whose papers have first-tier vectors only (the static model
distilled from MiniLM, what a new instance has in its first minutes), and ``--tune`` adds the grid of the first
tier's fusion weight (paperfeed.search.tiers.FIRST_TIER_WEIGHT).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytrec_eval

from paperfeed.models import Paper
from paperfeed.search import engine as engine_module
from paperfeed.search import keyword as keyword_module
from paperfeed.search import tiers as tiers_module
from paperfeed.search.embed import Embedder, Precision
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import SearchEngine
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = {"keyword": 0.696, "semantic": 0.660, "hybrid": 0.74}


def corpus(path: Path) -> Iterator[Paper]:
    with gzip.open(path / "corpus.jsonl.gz", "rt") as f:
        for line in f:
            doc = json.loads(line)
            yield Paper(arxiv_id=str(doc["_id"]), title=doc["title"], abstract=doc["text"], source="scifact")


def load_queries(path: Path) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with (path / "qrels" / "train.tsv").open() as f:
        next(f)
        for line in f:
            qid, doc, score = line.split("\t")
            qrels.setdefault(qid, {})[doc] = int(score)
    queries = {}
    with (path / "queries_train.jsonl").open() as f:
        for line in f:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return queries, qrels


def prepare(data: Path, cache: Path, first_tier: StaticEmbedder | None = None, name: str = "scifact") -> Store:
    """The collection in a cached store, embedded by MiniLM, or by ``first_tier`` only when given."""
    cache.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{cache / (name + ('-first' if first_tier else '') + '.db')}")
    store.migrate()
    papers = list(corpus(data))
    for start in range(0, len(papers), 1000):
        store.upsert_papers(papers[start : start + 1000])
    started = time.perf_counter()
    if first_tier is not None:
        first_tier.prepare()
    report = embed_papers(store, first_tier or Embedder())
    if report.embedded:
        print(f"embedded {report.embedded:,} abstracts in {time.perf_counter() - started:.1f} s "
              f"({report.precision}; cached for next time)")  # fmt: skip
    return store


def first_tier_engine(data: Path, cache: Path, query_precision: Precision = "auto") -> SearchEngine:
    """A search engine over the collection with first-tier (static) vectors only."""
    first = StaticEmbedder(cache / "models")
    store = prepare(data, cache, first)
    engine = SearchEngine(store, cache / "scifact-first-index", Embedder(query_precision=query_precision),
                          first_tier=first)  # fmt: skip
    engine.refresh()
    return engine


def run(engine: SearchEngine, mode: str, queries: dict[str, str]) -> dict[str, dict[str, float]]:
    runs: dict[str, dict[str, float]] = {}
    for qid, text in queries.items():
        hits = engine.search(text, mode=mode, limit=100).hits
        # rank, not raw score, so that ties and fused scores are judged in the order a reader sees them
        runs[qid] = {hit.paper.arxiv_id: float(len(hits) - rank) for rank, hit in enumerate(hits)}
    return runs


def evaluate(qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, float]]) -> tuple[float, float]:
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    per_query = evaluator.evaluate(runs)
    n = len(qrels)  # queries with no result count as zero
    ndcg = sum(m["ndcg_cut_10"] for m in per_query.values()) / n
    recall = sum(m["recall_100"] for m in per_query.values()) / n
    return ndcg, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/scifact")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--tune", action="store_true", help="also print the grids the defaults come from")
    parser.add_argument("--query-precision", choices=("auto", "bf16", "fp32"), default="auto")
    args = parser.parse_args()
    queries, qrels = load_queries(args.data)
    store = prepare(args.data, args.cache)
    engine = SearchEngine(store, args.cache / "scifact-index", Embedder(query_precision=args.query_precision))
    engine.refresh()
    precision = engine.embedder._resolve(engine.embedder.query_requested)
    if args.query_precision == "auto":
        precision = f"{precision} (hybrid) and fp32 (semantic)"
    print(f"SciFact train: {len(queries)} queries, {len(qrels)} with judgements, {store.stats().papers:,} abstracts; "
          f"queries embedded in {precision}")  # fmt: skip
    print(f"{'mode':<10} {'nDCG@10':>8} {'R@100':>7} {'goal':>6}  {'s/query':>8}")
    for mode in ("keyword", "semantic", "hybrid"):
        started = time.perf_counter()
        ndcg, recall = evaluate(qrels, run(engine, mode, queries))
        per_query = (time.perf_counter() - started) / len(queries)
        verdict = "met" if ndcg >= REFERENCE[mode] else "MISSED"
        print(f"{mode:<10} {ndcg:>8.4f} {recall:>7.4f} {REFERENCE[mode]:>6.3f}  {per_query * 1000:>6.1f}ms  {verdict}")
    first = first_tier_engine(args.data, args.cache, args.query_precision)
    mixed = mixed_engine(args.data, args.cache, first.first_tier)
    covered = mixed.tiers.coverage()
    print(f"\nwhile MiniLM is half-way ({covered.main:,} papers with MiniLM, {covered.first:,} provisional) and with "
          "first-tier vectors only")  # fmt: skip
    print(f"{'mode':<10} {'half-way':>8} {'first only':>10}")
    for mode in ("semantic", "hybrid"):
        half, alone = evaluate(qrels, run(mixed, mode, queries))[0], evaluate(qrels, run(first, mode, queries))[0]
        print(f"{mode:<10} {half:>8.4f} {alone:>10.4f}")
    if args.tune:
        tune(engine, queries, qrels)
        grid(mixed, "FIRST_TIER_WEIGHT", (0.6, 1.0, 1.3, 1.6, 2.0), "half-way", queries, qrels)
        grid(first, "FIRST_TIER_ALONE", (0.2, 0.4, 0.6, 0.8), "first-tier vectors only", queries, qrels)


def grid(engine: SearchEngine, name: str, values: tuple[float, ...], what: str, queries: dict[str, str],
         qrels: dict[str, dict[str, int]]) -> None:  # fmt: skip
    print(f"\n{name} ({what}): nDCG@10 semantic / hybrid")
    default = getattr(tiers_module, name)
    for value in values:
        setattr(tiers_module, name, value)
        semantic, hybrid = (evaluate(qrels, run(engine, mode, queries))[0] for mode in ("semantic", "hybrid"))
        print(f"  {value:.1f}  {semantic:.4f} / {hybrid:.4f}")
    setattr(tiers_module, name, default)


def mixed_engine(data: Path, cache: Path, first: StaticEmbedder | None) -> SearchEngine:
    """The collection half-way through the MiniLM job: the first half of the papers (in the job's key order)
    with their MiniLM vectors, copied from the MiniLM store, the other half with first-tier vectors."""
    path = cache / "scifact-mixed.db"
    if not path.exists():
        shutil.copy(cache / "scifact.db", path)
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            half = conn.execute("SELECT count(*) FROM papers").fetchone()[0] // 2
            conn.execute("DELETE FROM paper_embeddings WHERE paper_id NOT IN "
                         "(SELECT id FROM papers ORDER BY id LIMIT ?)", (half,))  # fmt: skip
    store = open_store(f"sqlite:///{path}")
    assert first is not None
    embed_papers(store, first)
    engine = SearchEngine(store, cache / "scifact-mixed-index", Embedder(), first_tier=first)
    engine.refresh()
    return engine


def tune(engine: SearchEngine, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> None:
    default_weight, default_boost = engine_module.KEYWORD_WEIGHT, keyword_module.TITLE_BOOST
    print("\nhybrid keyword weight (z-score blend): nDCG@10")
    for weight in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        engine_module.KEYWORD_WEIGHT = weight
        print(f"  {weight:.2f}  {evaluate(qrels, run(engine, 'hybrid', queries))[0]:.4f}")
    engine_module.KEYWORD_WEIGHT = default_weight
    print("\nkeyword title boost: nDCG@10 keyword / hybrid")
    for boost in (1.0, 1.5, 2.0, 3.0):
        keyword_module.TITLE_BOOST = boost
        kw = evaluate(qrels, run(engine, "keyword", queries))[0]
        hy = evaluate(qrels, run(engine, "hybrid", queries))[0]
        print(f"  {boost:.1f}  {kw:.4f} / {hy:.4f}")
    keyword_module.TITLE_BOOST = default_boost


if __name__ == "__main__":
    main()
