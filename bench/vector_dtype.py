"""The HNSW graph's copy of the vectors, float16 against int8, over the 120k arXiv papers: recall@20 against
exact search (after the exact re-scoring of the candidates), query time and the graph file's size.

    .venv/bin/python bench/vector_dtype.py [--cache ~/.cache/paperfeed-bench]

Needs the embedded store that bench/search_latency.py builds under --cache. Each variant builds its own base
(vectors and graph) in a temporary folder; the queries are search_latency.py's 200, embedded by MiniLM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

from paperfeed.search.embed import Embedder  # noqa: E402
from paperfeed.search.vectors import VectorIndex  # noqa: E402
from paperfeed.store import open_store  # noqa: E402
from search_latency import percentiles, queries  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    args = parser.parse_args()
    store = open_store(f"sqlite:///{args.cache / 'arxiv.db'}")
    embedder = Embedder()
    vectors = [embedder.encode_query(q) for q in queries(store)]
    print(f"{len(vectors)} queries; {'graph':<5} {'build s':>8} {'graph MB':>9} {'recall@20':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
    for dtype in ("f16", "i8"):
        with tempfile.TemporaryDirectory() as folder:
            index = VectorIndex(Path(folder), graph_dtype=dtype)  # type: ignore[arg-type]
            started = time.perf_counter()
            index.sync(store)
            built = time.perf_counter() - started
            size = sum(p.stat().st_size for p in Path(folder).glob("*.usearch")) / 1024**2
            exact = [{k for k, _ in index.search(v, 20, exact=True)} for v in vectors]
            times, found = [], []
            for v, truth in zip(vectors, exact, strict=True):
                t = time.perf_counter()
                hits = index.search(v, 20)
                times.append((time.perf_counter() - t) * 1000)
                found.append(len({k for k, _ in hits} & truth) / 20)
            p50, _, p99 = percentiles(times)
            print(f"{'':<12} {dtype:<5} {built:>8.1f} {size:>9.0f} {statistics.fmean(found):>10.4f} "
                  f"{p50:>7.2f} {p99:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
