"""Search quality on two very different collections: SciFact (train split) and CACM, with one code path.

    .venv/bin/python bench/search_quality.py [--data ../shared/data] [--cache ~/.cache/paperfeed-bench]
                                             [--only scifact|cacm] [--tune] [--skip-tiers] [--keyword-shards N]

For each collection, a line naming it, then one row per method: nDCG@10 first, then Recall@100, the per-query
wins / ties / losses against a plain BM25 baseline (bm25s, its default parameters, English stop words and the
Snowball stemmer, over the same title + abstract text) and a paired Wilcoxon signed-rank test on those
per-query differences. The collections go through paperfeed itself: papers in a store, the tantivy index,
`paperfeed embed`'s job and the SearchEngine, each query asked as a reader would
(``SearchEngine.search(q, mode=..., limit=100)``). Stores and embeddings are cached under --cache.
Metrics come from pytrec_eval (trec_eval's implementation).

A second table per collection runs the same queries while MiniLM is half-way and with first-tier vectors only
(the static model distilled from MiniLM, what a new instance has in its first minutes).

``--tune`` prints the grids the defaults come from. Every parameter is chosen by cross-validation over both
collections together: the queries of each collection are cut into five folds; for each fold the value that
maximises the mean of the two collections' nDCG@10 on the other folds is chosen and scored on the held-out
fold. The grid, each fold's winner and the cross-validated score are printed; no value is chosen on one
collection alone (the mean weighs both collections equally, so SciFact's 809 queries do not drown CACM's 52).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import bm25s
import numpy as np
import pytrec_eval
import Stemmer
from scipy.stats import wilcoxon

from ir_collections import Collection, Qrels, load
from paperfeed.search import engine as engine_module
from paperfeed.search import keyword as keyword_module
from paperfeed.search import tiers as tiers_module
from paperfeed.search.embed import Embedder, Precision
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import SearchEngine, SearchMode
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("keyword", "semantic", "hybrid")
# Goals (issue "Search and recommendation that hold on data they were not tuned on"); "bm25" means at least
# the plain BM25 baseline of the same run
GOALS: dict[str, dict[str, float | str]] = {
    "scifact": {"hybrid": 0.76},
    "cacm": {"keyword": "bm25", "semantic": 0.40, "hybrid": 0.56},
}
FOLDS = 5
PerQuery = dict[str, float]
Runs = dict[str, dict[str, float]]


def prepare(col: Collection, cache: Path, first_tier: StaticEmbedder | None = None) -> Store:
    """The collection in a cached store, embedded by MiniLM, or by ``first_tier`` only when given."""
    cache.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{cache / (col.slug + ('-first' if first_tier else '') + '.db')}")
    store.migrate()
    for start in range(0, len(col.papers), 1000):
        store.upsert_papers(col.papers[start : start + 1000])
    started = time.perf_counter()
    if first_tier is not None:
        first_tier.prepare()
    report = embed_papers(store, first_tier or Embedder())
    if report.embedded:
        print(f"{col.name}: embedded {report.embedded:,} abstracts in {time.perf_counter() - started:.1f} s "
              f"({report.precision}; cached for next time)")  # fmt: skip
    return store


def engine_for(
    col: Collection, cache: Path, query_precision: Precision = "auto", keyword_shards: int = 1
) -> SearchEngine:
    """A search engine over the collection with every paper's MiniLM vector (and its keyword index in
    ``keyword_shards`` shards)."""
    engine = SearchEngine(prepare(col, cache), cache / f"{col.slug}-index", Embedder(query_precision=query_precision),
                          keyword_shards=keyword_shards)  # fmt: skip
    engine.refresh()
    return engine


def first_tier_engine(col: Collection, cache: Path, query_precision: Precision = "auto") -> SearchEngine:
    """A search engine over the collection with first-tier (static) vectors only."""
    first = StaticEmbedder(cache / "models")
    store = prepare(col, cache, first)
    engine = SearchEngine(store, cache / f"{col.slug}-first-index", Embedder(query_precision=query_precision),
                          first_tier=first)  # fmt: skip
    engine.refresh()
    return engine


def mixed_engine(col: Collection, cache: Path, first: StaticEmbedder | None) -> SearchEngine:
    """The collection half-way through the MiniLM job: the first half of the papers (in the job's key order)
    with their MiniLM vectors, copied from the MiniLM store, the other half with first-tier vectors."""
    path = cache / f"{col.slug}-mixed.db"
    if not path.exists():
        prepare(col, cache)
        shutil.copy(cache / f"{col.slug}.db", path)
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            half = conn.execute("SELECT count(*) FROM papers").fetchone()[0] // 2
            conn.execute("DELETE FROM paper_embeddings WHERE paper_id NOT IN "
                         "(SELECT id FROM papers ORDER BY id LIMIT ?)", (half,))  # fmt: skip
    store = open_store(f"sqlite:///{path}")
    assert first is not None
    embed_papers(store, first)
    engine = SearchEngine(store, cache / f"{col.slug}-mixed-index", Embedder(), first_tier=first)
    engine.refresh()
    return engine


def run(engine: SearchEngine, mode: SearchMode, queries: dict[str, str]) -> Runs:
    runs: Runs = {}
    for qid, text in queries.items():
        hits = engine.search(text, mode=mode, limit=100).hits
        # rank, not raw score, so that ties and fused scores are judged in the order a reader sees them
        runs[qid] = {hit.paper.arxiv_id: float(len(hits) - rank) for rank, hit in enumerate(hits)}
    return runs


def per_query(qrels: Qrels, runs: Runs, measure: str = "ndcg_cut_10") -> PerQuery:
    """Each judged query's score (a query with no result scores 0)."""
    name = {"ndcg_cut_10": "ndcg_cut.10", "recall_100": "recall.100"}[measure]
    found = pytrec_eval.RelevanceEvaluator(qrels, {name}).evaluate({q: r for q, r in runs.items() if r})
    return {qid: found.get(qid, {}).get(measure, 0.0) for qid in qrels}


def evaluate(qrels: Qrels, runs: Runs) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@100 over the judged queries."""
    return (float(np.mean(list(per_query(qrels, runs).values()))),
            float(np.mean(list(per_query(qrels, runs, "recall_100").values()))))  # fmt: skip


def bm25_baseline(col: Collection) -> Runs:
    """Plain BM25 (bm25s defaults: Lucene's variant, k1 1.5, b 0.75) over title + abstract, stemmed, with
    English stop words; every query word counts as often as it occurs."""
    stemmer = Stemmer.Stemmer("english")
    texts = [f"{p.title}\n{p.abstract}" for p in col.papers]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    qids = list(col.queries)
    tokens = bm25s.tokenize([col.queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=100, show_progress=False)
    ids = [p.arxiv_id for p in col.papers]
    return {q: {ids[d]: float(s) for d, s in zip(docs[i], scores[i], strict=True) if s > 0} for i, q in enumerate(qids)}


def paired(ours: PerQuery, base: PerQuery) -> str:
    """Wins / ties / losses of ``ours`` against ``base`` per query, and the Wilcoxon signed-rank p-value."""
    diffs = np.array([ours[q] - base[q] for q in base])
    wins, losses = int((diffs > 1e-9).sum()), int((diffs < -1e-9).sum())
    p = wilcoxon(diffs[np.abs(diffs) > 1e-9]).pvalue if wins + losses else 1.0
    return f"{wins:>4} /{len(diffs) - wins - losses:>4} /{losses:>4}  p={p:.3f}"


def table(col: Collection, engine: SearchEngine) -> dict[str, PerQuery]:
    """The collection's table: BM25, then each mode, with the paired comparison and the goal."""
    base_runs = bm25_baseline(col)
    base = per_query(col.qrels, base_runs)
    bm25_ndcg = float(np.mean(list(base.values())))
    judged = sum(len(v) for v in col.qrels.values())
    print(f"\n{col.name}: {len(col.queries)} queries, {judged:,} judgements, {len(col.papers):,} documents; "
          f"mean query {np.mean([len(t.split()) for t in col.queries.values()]):.1f} words")  # fmt: skip
    print(f"{'method':<12} {'nDCG@10':>8} {'R@100':>7}  {'vs BM25: W / T / L, Wilcoxon':<30} {'goal':>6}  ms/query")
    print(f"{'bm25':<12} {bm25_ndcg:>8.4f} {evaluate(col.qrels, base_runs)[1]:>7.4f}")
    out = {"bm25": base}
    for mode in MODES:
        started = time.perf_counter()
        runs = run(engine, mode, col.queries)
        ms = (time.perf_counter() - started) / len(col.queries) * 1000
        ndcg, recall = evaluate(col.qrels, runs)
        out[mode] = per_query(col.qrels, runs)
        goal = GOALS[col.slug].get(mode)
        target = bm25_ndcg if goal == "bm25" else goal
        verdict = "" if target is None else ("met" if ndcg >= float(target) - 5e-5 else "MISSED")
        shown = "" if target is None else f"{float(target):.3f}"
        print(f"{mode:<12} {ndcg:>8.4f} {recall:>7.4f}  {paired(out[mode], base):<30} {shown:>6}  {ms:>6.1f}  "
              f"{verdict}")  # fmt: skip
    return out


def tier_engines(col: Collection, cache: Path, precision: Precision = "auto") -> dict[str, SearchEngine]:
    first = first_tier_engine(col, cache, precision)
    return {"half-way": mixed_engine(col, cache, first.first_tier), "first-tier only": first}


@contextmanager
def unrefined() -> Iterator[None]:
    """Search without re-ranking the best results with MiniLM (what the first tier alone gives)."""
    depth = getattr(engine_module, "REFINE_DEPTH")  # noqa: B009 (imported from tiers: not re-exported)
    setattr(engine_module, "REFINE_DEPTH", 0)  # noqa: B010
    try:
        yield
    finally:
        setattr(engine_module, "REFINE_DEPTH", depth)  # noqa: B010


def tier_scores(col: Collection, engines: dict[str, SearchEngine], mode: SearchMode) -> list[float]:
    """nDCG@10 half-way and first-tier only, each with the best results re-ranked (as served) and without."""
    out = []
    for engine in engines.values():
        out.append(evaluate(col.qrels, run(engine, mode, col.queries))[0])
        with unrefined():
            out.append(evaluate(col.qrels, run(engine, mode, col.queries))[0])
    return out


def tier_table(col: Collection, cache: Path, precision: Precision) -> None:
    engines = tier_engines(col, cache, precision)
    covered = engines["half-way"].tiers.coverage()
    print(f"{col.name} while MiniLM is half-way ({covered.main:,} papers with MiniLM, {covered.first:,} "
          "provisional) and with first-tier vectors only; \"unrefined\": the best results not re-ranked")  # fmt: skip
    print(f"{'mode':<12} {'half-way':>8} {'unrefined':>9} {'first only':>10} {'unrefined':>9}")
    for mode in ("semantic", "hybrid"):
        a, b, c, d = tier_scores(col, engines, mode)
        print(f"{mode:<12} {a:>8.4f} {b:>9.4f} {c:>10.4f} {d:>9.4f}")


# -- tuning: cross-validated over both collections ------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """A module-level parameter and the values to try, judged by one mode."""

    module: ModuleType
    name: str
    values: tuple[float, ...]
    mode: SearchMode
    vectors: str = "minilm"  # which engines judge it: "minilm", "half-way" or "first-tier only"


def knobs() -> list[Knob]:
    return [
        Knob(keyword_module, "QUERY_TF_POWER", (0.0, 0.5, 1.0), "keyword"),
        Knob(keyword_module, "TITLE_BOOST", (0.0, 0.1, 0.2, 0.3, 0.5), "keyword"),
        Knob(keyword_module, "AUTHORS_BOOST", (0.0, 0.5, 1.0, 1.5), "keyword"),
        Knob(engine_module, "KEYWORD_WEIGHT", (0.3, 0.35, 0.4, 0.45, 0.5, 0.55), "hybrid"),
        Knob(tiers_module, "FIRST_TIER_WEIGHT", (0.6, 1.0, 1.3, 1.6, 2.0), "hybrid", "half-way"),
        Knob(tiers_module, "FIRST_TIER_ALONE", (0.2, 0.4, 0.6, 0.8), "hybrid", "first-tier only"),
    ]


def folds_of(qids: list[str]) -> dict[str, int]:
    return {qid: i % FOLDS for i, qid in enumerate(sorted(qids, key=lambda q: (len(q), q)))}


def cross_validate(scores: dict[float, list[PerQuery]]) -> tuple[list[float], list[float]]:
    """For each fold, the value best on the other folds (by the mean of the collections' means); return the
    winners and each collection's mean over its held-out queries."""
    values = list(scores)
    per_collection = range(len(scores[values[0]]))
    folds = [folds_of(list(scores[values[0]][c])) for c in per_collection]
    winners: list[float] = []
    held: list[list[float]] = [[] for _ in per_collection]

    def train(value: float, fold: int) -> float:
        per = scores[value]
        return float(np.mean([np.mean([s for q, s in per[c].items() if folds[c][q] != fold]) for c in per_collection]))

    for fold in range(FOLDS):
        best = max(values, key=lambda value: train(value, fold))
        winners.append(best)
        for c in per_collection:
            held[c].extend(s for q, s in scores[best][c].items() if folds[c][q] == fold)
    return winners, [float(np.mean(h)) for h in held]


def grid(knob: Knob, engines: list[tuple[Collection, SearchEngine]]) -> None:
    default = getattr(knob.module, knob.name)
    scores: dict[float, list[PerQuery]] = {}
    print(f"\n{knob.name} ({knob.mode}; default {default}): nDCG@10 " + " / ".join(c.name for c, _ in engines)
          + " / mean")  # fmt: skip
    try:
        for value in knob.values:
            setattr(knob.module, knob.name, value)
            scores[value] = [per_query(c.qrels, run(e, knob.mode, c.queries)) for c, e in engines]
            means = [float(np.mean(list(s.values()))) for s in scores[value]]
            mark = "  <- default" if value == default else ""
            print(f"  {value:<6} " + " / ".join(f"{m:.4f}" for m in means) + f" / {np.mean(means):.4f}{mark}")
    finally:
        setattr(knob.module, knob.name, default)
    winners, held = cross_validate(scores)
    print(f"  fold winners {winners}; cross-validated: " + " / ".join(f"{h:.4f}" for h in held))


def tune(engines: list[tuple[Collection, SearchEngine]], cache: Path, extra: list[Knob] | None = None) -> None:
    by_vectors = {"minilm": engines}
    for knob in [*knobs(), *(extra or [])]:
        if knob.vectors not in by_vectors:
            by_vectors[knob.vectors] = [(c, tier_engines(c, cache)[knob.vectors]) for c, _ in engines]
        grid(knob, by_vectors[knob.vectors])


def main(extra_knobs: Callable[[], list[Knob]] | None = None) -> None:
    """The tables (and with --tune the grids); ``extra_knobs`` adds grids (for experiments)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--only", choices=("scifact", "cacm"), help="one collection (tuning needs both)")
    parser.add_argument("--tune", action="store_true", help="also print the grids the defaults come from")
    parser.add_argument("--skip-tiers", action="store_true", help="leave out the first-tier tables")
    parser.add_argument("--query-precision", choices=("auto", "bf16", "fp32", "int8"), default="auto")
    parser.add_argument("--keyword-shards", type=int, default=1, help="the keyword index in N shards (as served "
                        "with PAPERFEED_KEYWORD_SHARDS=N): each scores with its own statistics")  # fmt: skip
    args = parser.parse_args()
    collections = [c for c in load(args.data) if args.only in (None, c.slug)]
    engines = [(c, engine_for(c, args.cache, args.query_precision, args.keyword_shards)) for c in collections]
    precision = engines[0][1].embedder._resolve(engines[0][1].embedder.query_requested)
    if args.query_precision == "auto":
        precision = f"{precision} (hybrid) and fp32 (semantic)"
    print(f"queries embedded in {precision}")
    for col, engine in engines:
        table(col, engine)
    if not args.skip_tiers:
        print()
        for col in collections:
            tier_table(col, args.cache, args.query_precision)
    if args.tune:
        if len(engines) < 2:
            sys.exit("--tune needs both collections (no parameter is chosen on one alone)")
        tune(engines, args.cache, extra_knobs() if extra_knobs else None)


if __name__ == "__main__":
    main()
