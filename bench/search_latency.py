"""Search latency over the 120,045 arXiv papers, HNSW recall, and embedding throughput.

    .venv/bin/python bench/search_latency.py [--file ../shared/data/arxiv/arxiv_daily.jsonl.gz]
                                             [--cache ~/.cache/paperfeed-bench] [--sample 512]

The papers are imported into a store under --cache and embedded there by `paperfeed embed`'s job (once per
machine: about 40 minutes on two cores; later runs find them done). Then 200 queries (100 truncated titles of
random papers, 100 short topical queries) run in each mode after a warm-up, and for each mode the script prints
p50 / p95 / p99 of:

* ``rank``: the ranked keys, as SearchEngine.rank returns them (query parsing, query embedding, retrieval and
  fusion; the top 20, or 100 per retriever before fusing in hybrid mode);
* ``page``: a whole result page, SearchEngine.search(limit=20): the above plus loading the 20 papers from
  SQLite and their snippets.

Then recall@20 of the HNSW index against exact search for the 200 query vectors, and embedding throughput:
--sample abstracts through a default sentence-transformers ``encode`` and through paperfeed's embedder, in the
same run, alternated for --rounds rounds (best of each), with the mean cosine between the two sets of vectors.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from paperfeed.ingest.pipeline import import_file
from paperfeed.search.embed import Embedder, model_dir, paper_text
from paperfeed.search.embed_job import EmbedReport, embed_papers
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"keyword": (2.0, 10.0), "hybrid": (15.0, 50.0)}  # p50, p99 ms
TOPICS = """graph neural networks; diffusion models for video; large language model reasoning; retrieval augmented
generation; vision transformers; contrastive learning; reinforcement learning from human feedback; speech
recognition; machine translation low resource; protein structure prediction; federated learning privacy;
adversarial robustness; knowledge distillation; neural radiance fields; 3d gaussian splatting; object detection;
semantic segmentation; image captioning; visual question answering; text to image generation; code generation;
mathematical reasoning benchmarks; chain of thought prompting; in-context learning; instruction tuning; mixture of
experts; state space models; long context transformers; efficient attention; quantization of llms; model pruning;
parameter efficient fine-tuning; lora adapters; hallucination detection; fact verification; question answering;
dialogue systems; recommender systems; time series forecasting; anomaly detection; causal inference; bayesian
optimization; uncertainty estimation; continual learning; meta learning; few-shot classification; domain
adaptation; self-supervised learning; masked autoencoders; multimodal large language models; video understanding;
action recognition; pose estimation; autonomous driving perception; lidar point clouds; robot manipulation;
imitation learning; world models; multi-agent reinforcement learning; tool use agents; web agents; llm evaluation;
benchmark contamination; alignment and safety; jailbreak attacks; watermarking generated text; membership
inference; differential privacy training; medical image segmentation; radiology report generation; drug discovery
molecules; weather forecasting deep learning; climate modelling; optimal transport; neural operators pdes; physics
informed neural networks; graph transformers; knowledge graphs completion; named entity recognition; sentiment
analysis; summarization; information retrieval dense; reranking with llms; embedding models; tokenization;
scaling laws; pretraining data curation; synthetic data generation; curriculum learning; speculative decoding;
kv cache compression; edge deployment; spiking neural networks; neuromorphic computing; quantum machine learning;
explainable ai; fairness in machine learning; interpretability circuits; sparse autoencoders features; audio
generation music; sign language translation; remote sensing images; document understanding ocr"""


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94], cuts[98]


def queries(store: Store, count: int = 100) -> list[str]:
    """100 truncated titles of random papers (first 3-8 words) and 100 topical queries."""
    rng = random.Random(20251118)
    keys = rng.sample(range(1, store.stats().papers + 1), count)
    titles = [" ".join(p.title.split()[: max(3, min(8, len(p.title.split()) * 2 // 3))])
              for p in store.papers_by_key(keys).values()]  # fmt: skip
    topics = [t.strip() for t in TOPICS.replace("\n", " ").split(";")]
    return titles[:count] + topics[:count]


def timed(function: Callable[[str], object], items: list[str]) -> list[float]:
    out = []
    for item in items:
        started = time.perf_counter()
        function(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def prepare(file: Path, cache: Path) -> Store:
    cache.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{cache / 'arxiv.db'}")
    store.migrate()
    if store.stats().papers == 0:
        print(f"importing {file} ...")
        import_file(store, file, batch_size=2000)
    backlog = store.embedding_backlog("all-MiniLM-L6-v2")
    if backlog:
        print(f"embedding {backlog:,} papers (once per machine; resumable) ...")

        def tell(report: EmbedReport) -> None:
            print(f"  {report.embedded + report.unchanged:,}/{report.backlog:,}  {report.rate:.1f}/s", flush=True)

        embed_papers(store, Embedder(), progress=tell)
    return store


def latency(engine: SearchEngine, qs: list[str]) -> None:
    for q in qs[:20]:  # warm-up: model loads, caches fill
        for mode in ("keyword", "semantic", "hybrid"):
            engine.search(q, mode=mode)
    print(f"\n{len(qs)} queries, {len(engine.vectors):,} papers; milliseconds")
    print(f"{'mode':<9} {'what':<5} {'p50':>7} {'p95':>7} {'p99':>7}   goal (p50 / p99)")
    for mode in ("keyword", "semantic", "hybrid"):
        for what, call in (
            ("rank", lambda q, m=mode: engine.rank(q, mode=m, depth=20)),
            ("page", lambda q, m=mode: engine.search(q, mode=m, limit=20)),
        ):
            p50, p95, p99 = percentiles(timed(call, qs))
            goal = GOALS.get(mode)
            verdict = ""
            if goal and what == "rank":
                verdict = f"{goal[0]:g} / {goal[1]:g}  " + ("met" if p50 <= goal[0] and p99 <= goal[1] else "MISSED")
            print(f"{mode:<9} {what:<5} {p50:>7.2f} {p95:>7.2f} {p99:>7.2f}   {verdict}")


def recall(engine: SearchEngine, qs: list[str], k: int = 20) -> None:
    vectors = [engine.embedder.encode_query(q) for q in qs]
    found = []
    for v in vectors:
        exact = {key for key, _ in engine.vectors.search(v, k, exact=True)}
        approx = {key for key, _ in engine.vectors.search(v, k)}
        found.append(len(exact & approx) / k)
    kind = "HNSW" if engine.vectors.approximate else "exact (below threshold)"
    print(f"\nvector index: {kind}; recall@{k} against exact: {statistics.fmean(found):.4f} (goal >= 0.98)")


def throughput(file: Path, sample: int, rounds: int) -> None:
    texts = []
    with gzip.open(file, "rt") as f:
        for line in f:
            record = json.loads(line)
            texts.append(paper_text(record["title"], record["abstract"]))
            if len(texts) == sample:
                break
    from sentence_transformers import SentenceTransformer

    default = SentenceTransformer(str(model_dir()), device="cpu")
    ours = Embedder()
    default.encode(texts[:8])
    ours.encode(texts[:8])
    default_rate = our_rate = 0.0
    for _ in range(rounds):  # alternated, best of each: this machine's speed drifts by 20% over a minute
        started = time.perf_counter()
        reference = default.encode(texts, normalize_embeddings=True)
        default_rate = max(default_rate, len(texts) / (time.perf_counter() - started))
        started = time.perf_counter()
        vectors = ours.encode(texts)
        our_rate = max(our_rate, len(texts) / (time.perf_counter() - started))
    cosine = float(np.mean(np.sum(reference * vectors, axis=1)))
    print(f"\nembedding {len(texts)} abstracts (title + abstract, up to 256 tokens) on this CPU, best of {rounds}:")
    print(f"  sentence-transformers encode (fp32, batch 32): {default_rate:7.1f} abstracts/s")
    print(
        f"  paperfeed Embedder ({ours.precision}, length-sorted batches of {ours.batch_size}): "
        f"{our_rate:7.1f} abstracts/s"
    )
    print(f"  speed-up {our_rate / default_rate:.2f}x (goal >= 3x); mean cosine to the default's vectors {cosine:.6f}"
          " (goal >= 0.99)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=ROOT / "../shared/data/arxiv/arxiv_daily.jsonl.gz")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--sample", type=int, default=512, help="abstracts for the throughput comparison")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of the throughput comparison")
    args = parser.parse_args()
    store = prepare(args.file, args.cache)
    engine = SearchEngine(store, args.cache / "arxiv-index", Embedder())
    started = time.perf_counter()
    indexed, vectors = engine.refresh()
    print(f"indexes ready in {time.perf_counter() - started:.1f} s ({indexed:,} papers indexed, {vectors:,} vectors)")
    qs = queries(store)
    latency(engine, qs)
    recall(engine, qs)
    throughput(args.file, args.sample, args.rounds)


if __name__ == "__main__":
    main()
