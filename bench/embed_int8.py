"""MiniLM in int8 (torch's dynamic quantisation, per output channel) against fp32: speed on this CPU, agreement of
the vectors, and what it does to search quality on both collections (SciFact train, CACM).

    cd bench && ../.venv/bin/python embed_int8.py [--data ../shared/data] [--cache ~/.cache/paperfeed-bench]

For each collection the documents are embedded in int8 into a store of their own (cached as <slug>-int8.db) and
searched with the same code path as bench/search_quality.py; the fp32 rows are that script's cached stores. The
speed check embeds 256 abstracts of the 120k arXiv store (when bench/search_latency.py has built it) or of
SciFact in each precision, after a warm-up. Prints abstracts/s, the mean and lowest cosine between the two
precisions' vectors, and nDCG@10 of semantic and hybrid search in each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ir_collections import load
from paperfeed.search.embed import Embedder, Resolved, paper_text
from paperfeed.search.embed_job import embed_papers
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from search_quality import engine_for, evaluate, run

ROOT = Path(__file__).resolve().parents[1]


def speed(texts: list[str]) -> dict[Resolved, tuple[float, np.ndarray]]:
    out: dict[Resolved, tuple[float, np.ndarray]] = {}
    for precision in ("fp32", "int8"):
        embedder = Embedder(precision=precision)
        embedder.encode(texts[:8])
        started = time.perf_counter()
        vectors = embedder.encode(texts)
        out[precision] = (len(texts) / (time.perf_counter() - started), vectors)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    args = parser.parse_args()
    collections = load(args.data)
    sample = [paper_text(p.title, p.abstract) for p in collections[0].papers[:256]]
    timed = speed(sample)
    cosines = (timed["fp32"][1] * timed["int8"][1]).sum(axis=1)
    print(f"{len(sample)} SciFact abstracts: fp32 {timed['fp32'][0]:.1f}/s, int8 {timed['int8'][0]:.1f}/s "
          f"({timed['int8'][0] / timed['fp32'][0]:.2f}x); cosine int8 vs fp32 mean {cosines.mean():.4f}, "
          f"lowest {cosines.min():.4f}")  # fmt: skip
    print(f"\n{'collection':<10} {'mode':<9} {'fp32':>8} {'int8':>8} {'change':>8}")
    for col in collections:
        fp32 = engine_for(col, args.cache)
        store = open_store(f"sqlite:///{args.cache / (col.slug + '-int8.db')}")
        store.migrate()
        for start in range(0, len(col.papers), 1000):
            store.upsert_papers(col.papers[start : start + 1000])
        embed_papers(store, Embedder(precision="int8"))
        int8 = SearchEngine(store, args.cache / f"{col.slug}-int8-index", Embedder(precision="int8"))
        int8.refresh()
        for mode in ("semantic", "hybrid"):
            a = evaluate(col.qrels, run(fp32, mode, col.queries))[0]
            b = evaluate(col.qrels, run(int8, mode, col.queries))[0]
            print(f"{col.slug:<10} {mode:<9} {a:>8.4f} {b:>8.4f} {b - a:>+8.4f}", flush=True)


if __name__ == "__main__":
    main()
