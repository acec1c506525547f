"""How far BM25 + MiniLM fusion can go on SciFact train and CACM: the measurements behind issue 18's last goal.

    .venv/bin/python bench/fusion_study.py [--data ../shared/data] [--cache ~/.cache/paperfeed-bench]
                                           [--skip-passages]

Uses bench/search_quality.py's cached stores (run it once first). For every query of both collections it takes
paperfeed's own BM25 scores (the query's best 1,000 from the tantivy index) and the MiniLM cosine of every
document, then replays hybrid fusion in numpy (the same pooling and standard scores as SearchEngine._hybrid;
the first row checks that the replay matches the engine's score) and prints nDCG@10 per collection, and their
mean, for each alternative:

* the fixed keyword weight (what ships) and the per-query best weight: an oracle, a ceiling that no rule
  reaches, and how many queries' order depends on the weight at all;
* a weight that follows one query feature (its length, the gap between the best two BM25 or cosine scores,
  the overlap of the two top tens): ``w = a + b * standardised feature``, with (a, b) chosen by five-fold
  cross-validation over both collections together, scored on the held-out folds;
* a learned fusion: logistic regression over nine features of each pooled paper (standard scores, scores
  over the query's best, reciprocal ranks, their product, log BM25, whether it matched), cross-validated the
  same way, each collection weighing equally;
* neighbour smoothing: each of the fused top 50 moves towards its nearest pooled neighbours (cluster
  hypothesis);
* plain BM25 (bm25s) over a grid of k1 and b, since tantivy's are fixed (1.2, 0.75);
* passage vectors (unless --skip-passages; the first run embeds about 13,600 passages, some 8 minutes on two
  cores, cached under --cache): each abstract cut into 256-token windows with its title, overlapping by 64
  tokens; the paper's cosine is the mean vector's or the best passage's.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from sklearn.linear_model import LogisticRegression

from ir_collections import Collection, load
from paperfeed.search import engine as engine_module
from paperfeed.search.embed import MODEL_ID, Embedder, from_blobs, paper_text
from paperfeed.search.query import parse_query
from paperfeed.search.tiers import PRIOR_WEIGHT, PRIORS
from search_quality import FOLDS, ROOT, engine_for, evaluate, folds_of, run

Array = npt.NDArray[np.float64]
DEPTH = engine_module.FUSION_DEPTH
WEIGHTS = np.linspace(0.0, 1.0, 21)  # keyword weights tried per query


@dataclass
class Query:
    bm25: Array  # every document's BM25 (0 outside the query's best 1,000)
    top: Array  # the query's best 1,000 BM25 scores (what the engine standardises against)
    cos: Array  # every document's MiniLM cosine
    sample: Array  # the cosines the engine standardises against (an even sample of the corpus)
    vector: Array
    words: int
    extra: dict[str, Array] = field(default_factory=dict)


@dataclass
class Study:
    col: Collection
    queries: dict[str, Query]
    relevant: dict[str, set[int]]  # query -> document rows


def collect(col: Collection, cache: Path) -> Study:
    engine = engine_for(col, cache, "fp32")
    ids = [p.arxiv_id for p in col.papers]
    keymap = engine.store.paper_keys(ids)
    keys = [keymap[i] for i in ids]
    rows = {i: n for n, i in enumerate(ids)}
    queries = {}
    for qid, text in col.queries.items():
        parsed = parse_query(text)
        scored = dict(engine.keyword.search(parsed, engine_module.BM25_STATS_DEPTH, count=False)[0])
        vectors = engine.tiers.query(parsed.text)
        assert vectors.main is not None
        cos = engine.vectors.scores(vectors.main, keys)
        queries[qid] = Query(
            bm25=np.array([scored.get(k, 0.0) for k in keys]), top=np.array(list(scored.values())),
            cos=np.array([cos[k] for k in keys]), sample=np.asarray(engine.vectors.sample_scores(vectors.main), float),
            vector=np.asarray(vectors.main, float), words=len(parsed.text.split()),
        )  # fmt: skip
    relevant = {q: {rows[d] for d in docs if d in rows} for q, docs in col.qrels.items()}
    engine.close()
    return Study(col, queries, relevant)


def z_bm25(q: Query) -> Array:
    return (q.bm25 - q.top.mean()) / (q.top.std() or 1.0) if len(q.top) > 1 else np.zeros_like(q.bm25)


def z_cos(q: Query) -> Array:
    """As tiers.zscorer with the MiniLM prior."""
    k, (m0, s0), s = PRIOR_WEIGHT, PRIORS[MODEL_ID], q.sample
    mean = (s.sum() + k * m0) / (len(s) + k)
    spread = ((((s - mean) ** 2).sum() + k * (s0**2 + (m0 - mean) ** 2)) / (len(s) + k)) ** 0.5
    return (q.cos - mean) / spread


def pool(q: Query) -> npt.NDArray[np.intp]:
    lexical = np.argsort(-q.bm25, kind="stable")[:DEPTH]
    return np.union1d(lexical[q.bm25[lexical] > 0], np.argsort(-q.cos, kind="stable")[:DEPTH])


def ndcg10(order: npt.NDArray[np.intp], relevant: set[int]) -> float:
    dcg = sum(1 / np.log2(i + 2) for i, d in enumerate(order[:10]) if d in relevant)
    return float(dcg / sum(1 / np.log2(i + 2) for i in range(min(10, len(relevant)))))


Fuse = Callable[[Query, npt.NDArray[np.intp]], Array]


def scores(study: Study, fuse: Fuse) -> dict[str, float]:
    out = {}
    for qid, q in study.queries.items():
        p = pool(q)
        out[qid] = ndcg10(p[np.lexsort((p, -fuse(q, p)))], study.relevant[qid])
    return out


def linear(w: float) -> Fuse:
    return lambda q, p: w * z_bm25(q)[p] + (1 - w) * z_cos(q)[p]


def mean_of(values: dict[str, float]) -> float:
    return float(np.mean(list(values.values())))


def row(name: str, values: list[float], note: str = "") -> None:
    print(f"{name:<52} " + " ".join(f"{v:>8.4f}" for v in values) + f" {np.mean(values):>8.4f}  {note}")


# -- a weight per query, and a learned fusion: cross-validated over both collections -------------------------


def query_features(q: Query) -> list[float]:
    zb, zc = np.sort(z_bm25(q))[-2:], np.sort(z_cos(q))[-2:]
    lexical, semantic = set(np.argsort(-q.bm25)[:10]), set(np.argsort(-q.cos)[:10])
    return [float(q.words), float(zb[1] - zb[0]), float(zc[1] - zc[0]), len(lexical & semantic) / 10]


QUERY_FEATURES = ("query length", "BM25 gap, best two", "cosine gap, best two", "top-10 overlap")


def adaptive(studies: list[Study], per_weight: list[list[dict[str, float]]], feature: int) -> list[float]:
    """Held-out nDCG@10 of ``w = a + b * z(feature)`` (rounded to the nearest of WEIGHTS), (a, b) cross-validated
    over both collections; ``per_weight[c][i]`` holds collection c's per-query scores at WEIGHTS[i]."""
    grid = [(a, b) for a in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55) for b in (-0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15)]
    values = [{q: query_features(x)[feature] for q, x in s.queries.items()} for s in studies]
    flat = np.concatenate([list(v.values()) for v in values])
    mu, sd = flat.mean(), flat.std() or 1.0
    per: dict[object, list[dict[str, float]]] = {}
    for a, b in grid:
        per[(a, b)] = []
        for c, s in enumerate(studies):
            at = {q: int(np.abs(WEIGHTS - np.clip(a + b * (values[c][q] - mu) / sd, 0, 1)).argmin()) for q in s.queries}
            per[(a, b)].append({q: per_weight[c][at[q]][q] for q in s.queries})
    return held_out(per, studies)


def held_out(per: dict[object, list[dict[str, float]]], studies: list[Study]) -> list[float]:
    folds = [folds_of(list(s.queries)) for s in studies]
    held: list[list[float]] = [[] for _ in studies]
    for fold in range(FOLDS):
        best = max(per, key=lambda v: np.mean([np.mean([x for q, x in per[v][c].items() if folds[c][q] != fold])
                                               for c in range(len(studies))]))  # fmt: skip
        for c in range(len(studies)):
            held[c].extend(x for q, x in per[best][c].items() if folds[c][q] == fold)
    return [float(np.mean(h)) for h in held]


def candidate_features(q: Query, p: npt.NDArray[np.intp]) -> Array:
    zb, zc, bm25 = z_bm25(q)[p], z_cos(q)[p], q.bm25[p]
    rank_b, rank_c = np.argsort(np.argsort(-zb)), np.argsort(np.argsort(-zc))
    best = max(float(q.top.max()) if len(q.top) else 1.0, 1e-6)
    return np.column_stack([zb, zc, bm25 / best, zc - zc.max(), zb * zc, 1 / (60 + rank_b), 1 / (60 + rank_c),
                            bm25 > 0, np.log1p(bm25)])  # fmt: skip


def learned(studies: list[Study]) -> list[float]:
    folds = [folds_of(list(s.queries)) for s in studies]
    held: list[list[float]] = [[] for _ in studies]
    for fold in range(FOLDS):
        xs, ys, ws = [], [], []
        for c, s in enumerate(studies):
            train = [q for q in s.queries if folds[c][q] != fold]
            for qid in train:
                p = pool(s.queries[qid])
                xs.append(candidate_features(s.queries[qid], p))
                ys.append(np.isin(p, list(s.relevant[qid])))
                ws.append(np.full(len(p), 1000 / (len(p) * len(train))))  # each collection weighs the same
        model = LogisticRegression(max_iter=3000).fit(np.vstack(xs), np.concatenate(ys), np.concatenate(ws))
        for c, s in enumerate(studies):
            for qid, q in s.queries.items():
                if folds[c][qid] == fold:
                    p = pool(q)
                    fused = candidate_features(q, p) @ model.coef_[0]
                    held[c].append(ndcg10(p[np.lexsort((p, -fused))], s.relevant[qid]))
    return [float(np.mean(h)) for h in held]


def smoothed(vectors: Array, w: float, share: float, k: int = 3) -> Fuse:
    def fuse(q: Query, p: npt.NDArray[np.intp]) -> Array:
        base = linear(w)(q, p)
        top = np.argsort(-base)[:50]
        m = vectors[p[top]]
        similar = m @ m.T
        np.fill_diagonal(similar, -1)
        near = np.argsort(-similar, axis=1)[:, :k]
        out = base.copy()
        out[top] = (1 - share) * base[top] + share * base[top][near].mean(axis=1)
        return out

    return fuse


# -- other signals -------------------------------------------------------------------------------------------


def bm25_grid(studies: list[Study]) -> None:
    stemmer = Stemmer.Stemmer("english")
    print("\nplain BM25 (bm25s), nDCG@10 SciFact / CACM / mean by k1 (rows) and b (columns 0.3 0.5 0.75 0.9)")
    corpora = []
    for s in studies:
        texts = [f"{p.title}\n{p.abstract}" for p in s.col.papers]
        qids = list(s.queries)
        tokens = bm25s.tokenize([s.col.queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
        corpora.append((bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), qids, tokens))
    for k1 in (0.6, 0.9, 1.2, 1.5, 2.0):
        cells = []
        for b in (0.3, 0.5, 0.75, 0.9):
            found = []
            for s, (corpus, qids, tokens) in zip(studies, corpora, strict=True):
                retriever = bm25s.BM25(k1=k1, b=b)
                retriever.index(corpus, show_progress=False)
                docs, _ = retriever.retrieve(tokens, k=10, show_progress=False)
                found.append(np.mean([ndcg10(docs[i], s.relevant[q]) for i, q in enumerate(qids)]))
            cells.append(f"{found[0]:.4f} / {found[1]:.4f} / {np.mean(found):.4f}")
        print(f"  k1 {k1:<4} " + "   ".join(cells))


def passages(studies: list[Study], cache: Path) -> dict[str, tuple[npt.NDArray[np.intp], Array]]:
    """Each collection's passage vectors (owner row, vector), embedded once and cached."""
    path = cache / "fusion-study-passages.pkl"
    if path.exists():
        found: dict[str, tuple[npt.NDArray[np.intp], Array]] = pickle.loads(path.read_bytes())
        return found
    embedder = Embedder(precision="fp32")
    embedder.load("fp32")
    tokenizer, out = embedder._tokenizer, {}
    for s in studies:
        owners, texts = [], []
        for row_, paper in enumerate(s.col.papers):
            title = tokenizer(paper.title, add_special_tokens=False)["input_ids"]
            body = tokenizer(paper.abstract, add_special_tokens=False)["input_ids"]
            room = 254 - len(title)
            if len(body) <= room or room < 64:
                owners.append(row_)
                texts.append(paper_text(paper.title, paper.abstract))
                continue
            for start in range(0, len(body), room - 64):
                owners.append(row_)
                texts.append(paper.title + " " + tokenizer.decode(body[start : start + room]))
                if start + room >= len(body):
                    break
        print(f"  {s.col.name}: embedding {len(texts):,} passages of {len(s.col.papers):,} papers", flush=True)
        out[s.col.slug] = (np.array(owners), embedder.encode(texts, "fp32").astype(float))
    path.write_bytes(pickle.dumps(out))
    return out


def with_cosines(study: Study, make: Callable[[Query], Array]) -> Study:
    picks = np.linspace(0, len(study.col.papers) - 1, 2048).astype(int)
    changed = {}
    for qid, q in study.queries.items():
        cos = make(q)
        changed[qid] = Query(q.bm25, q.top, cos, cos[picks], q.vector, q.words)
    return Study(study.col, changed, study.relevant)


def passage_rows(studies: list[Study], cache: Path) -> None:
    found = passages(studies, cache)
    variants: dict[str, list[Study]] = {"truncated": [], "mean of passages": [], "best passage": []}
    for s in studies:
        owners, vectors = found[s.col.slug]
        n = len(s.col.papers)
        mean = np.zeros((n, vectors.shape[1]))
        np.add.at(mean, owners, vectors)
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)

        def best(q: Query, owners: npt.NDArray[np.intp] = owners, vectors: Array = vectors, n: int = n) -> Array:
            out = np.full(n, -1.0)
            np.maximum.at(out, owners, vectors @ q.vector)
            return out

        variants["truncated"].append(with_cosines(s, lambda q: q.cos))
        variants["mean of passages"].append(with_cosines(s, lambda q, m=mean: m @ q.vector))
        variants["best passage"].append(with_cosines(s, best))
        print(f"  {s.col.name}: {len(owners) / n:.2f} passages a paper")
    for name, group in variants.items():
        row(f"semantic, {name}", [mean_of(scores(s, linear(0.0))) for s in group])
        row(f"hybrid, {name}", [mean_of(scores(s, linear(engine_module.KEYWORD_WEIGHT))) for s in group])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--skip-passages", action="store_true", help="leave out the passage vectors")
    args = parser.parse_args()
    cols = load(args.data)
    studies = [collect(c, args.cache) for c in cols]
    w = engine_module.KEYWORD_WEIGHT
    print(f"{'nDCG@10':<52} " + " ".join(f"{c.name.split()[0]:>8}" for c in cols) + f" {'mean':>8}")
    engine_rows = [evaluate(c.qrels, run(engine_for(c, args.cache, "fp32"), "hybrid", c.queries))[0] for c in cols]
    row("hybrid, as the engine ranks it", engine_rows)
    fixed = [scores(s, linear(w)) for s in studies]
    row(f"hybrid replayed, fixed weight {w}", [mean_of(f) for f in fixed])
    per_weight = [[scores(s, linear(x)) for x in WEIGHTS] for s in studies]
    pairs = list(zip(studies, per_weight, strict=True))
    oracle = [float(np.mean([max(p[q] for p in pw) for q in s.queries])) for s, pw in pairs]
    matters = [sum(max(p[q] for p in pw) - min(p[q] for p in pw) > 1e-9 for q in s.queries)
               for s, pw in pairs]  # fmt: skip
    row("per-query best weight (oracle ceiling)", oracle,
        f"the weight changes nDCG@10 for {' and '.join(map(str, matters))} queries")  # fmt: skip
    for i, name in enumerate(QUERY_FEATURES):
        row(f"weight follows {name} (cross-validated)", adaptive(studies, per_weight, i))
    row("learned fusion, 9 features (cross-validated)", learned(studies))
    vectors = {s.col.slug: engine_vectors(s, args.cache) for s in studies}
    for share in (0.1, 0.2, 0.3):
        row(f"neighbour smoothing, share {share}", [mean_of(scores(s, smoothed(vectors[s.col.slug], w, share)))
                                                     for s in studies])  # fmt: skip
    bm25_grid(studies)
    if not args.skip_passages:
        print("\npassage vectors (the cosines standardised against an even sample of the same variant)")
        passage_rows(studies, args.cache)


def engine_vectors(study: Study, cache: Path) -> Array:
    """Every document's stored MiniLM vector, in the collection's order."""
    engine = engine_for(study.col, cache, "fp32")
    ids = [p.arxiv_id for p in study.col.papers]
    keymap = engine.store.paper_keys(ids)
    stored = {row_.key: row_.vector for row_ in engine.store.embeddings_since(MODEL_ID, (0, 0), 10**9)}
    engine.close()
    return from_blobs([stored[keymap[i]] for i in ids]).astype(float)


if __name__ == "__main__":
    main()
