"""A digest with a false-discovery guarantee, simulated on CiteULike-t: conformal selection (paperfeed.recommend.
conformal) against a fixed top-10 digest.

    .venv/bin/python bench/digest_quality.py [--data ../shared/data/citeulike_t] [--readers 1000] [--days 60]

Readers are CiteULike-t users (split P10, fold 1). A reader's held-out test papers are "relevant"; the training
papers are what they had before. Each simulated day offers a pool of 40 papers the reader has not seen, 2 of
them (while any are left) drawn from their relevant papers and the rest at random. The model score is the
content model's: cosine to the mean of the reader's training papers, over tf-idf of the papers' words and their
MiniLM vectors (the cache of bench/recommend_quality.py).

Feedback is revealed only for papers sent. Calibration therefore comes from one slot per mail filled with a
uniformly random pool paper, whose label is revealed like any other. That is what makes calibration items
exchangeable with the candidates, the assumption the guarantee needs; labels of the selected papers are biased
toward high scores and are not used. While a reader has fewer than 30 calibration labels, the pooled labels of
every reader are used, and that assumes readers are alike, which they are not quite.

For levels 0.1, 0.2 and 0.3 the script prints, beside a fixed top-10:
- the realised FDR of the selected papers: the false share of each reader-day's selection (0 for an empty one,
  as the FDR is defined), averaged over reader-days, with a 95% interval;
- the share of readers whose own realised FDR (their 60 days' mean) exceeds the level by more than 0.1;
- recall of the relevant papers offered;
- the mean mail size.
Goals: the FDR at most the level at every level; recall at level 0.3 at least the top-10's. The exploration part
of the issue (Thompson sampling over topics) is not simulated here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.algorithms import tfidf
from paperfeed.recommend.conformal import pvalues, select

ROOT = Path(__file__).resolve().parents[1]
POOL, RELEVANT_PER_DAY, CAP, WARM = 40, 2, 10, 30


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def item_vectors(data: Path, cache: Path) -> np.ndarray:
    from recommend_quality import read_mult, word_vectors

    vocabulary = (data / "vocabulary.dat").read_text().splitlines()
    counts = read_mult(data / "mult.dat.gz", len(vocabulary))
    words = tfidf(counts)
    dense = _normalised(np.asarray(words.toarray(), dtype=np.float32)) if words.shape[1] < 10_000 else None
    minilm = _normalised(word_vectors(counts, vocabulary, cache, data).astype(np.float32))
    if dense is None:
        return minilm
    return np.hstack([dense, minilm]) / np.sqrt(2)


def simulate(vectors: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, readers: np.ndarray, days: int,
             levels: tuple[float, ...], seed: int) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    rng = np.random.default_rng(seed)
    items = vectors.shape[0]
    methods = ["top-10", *(f"level {q}" for q in levels)]
    out: dict[str, dict[str, list[float]]] = {m: {"fdr": [], "reader_fdr": [], "recall": [], "size": []}
                                               for m in methods}  # fmt: skip
    pooled: list[tuple[float, bool]] = []  # every reader's random-slot labels, for readers with few of their own
    for user in readers:
        seen = set(train[user].indices.tolist())
        relevant = [i for i in test[user].indices.tolist() if i not in seen]
        rng.shuffle(relevant)
        profile = vectors[train[user].indices].mean(axis=0)
        own: list[tuple[float, bool]] = []
        tallies = {m: {"false": 0, "sent": 0, "hit": 0} for m in methods}
        daily: dict[str, list[float]] = {m: [] for m in methods}  # this reader's false share, day by day
        offered = 0
        for _day in range(days):
            good = [relevant.pop() for _ in range(min(RELEVANT_PER_DAY, len(relevant)))]
            others = rng.choice(items, POOL - len(good) + 10, replace=False)
            pool = list(dict.fromkeys([*good, *(int(i) for i in others if i not in seen and i not in good)]))[:POOL]
            truth = np.array([i in good for i in pool])
            offered += int(truth.sum())
            scores = vectors[pool] @ profile
            probe = int(rng.integers(len(pool)))  # the calibration slot: a uniformly random pool paper
            calib = own if len(own) >= WARM else pooled + own
            cs = np.array([s for s, _ in calib]) if calib else np.zeros(0)
            cr = np.array([r for _, r in calib], dtype=bool) if calib else np.zeros(0, dtype=bool)
            p = pvalues(cs, cr, scores, rng)
            for m in methods:
                chosen = list(np.argsort(-scores)[:CAP]) if m == "top-10" else select(p, float(m.split()[1]), CAP)
                false = int((~truth[chosen]).sum()) if chosen else 0
                out[m]["fdr"].append(false / max(len(chosen), 1))  # FDR = E[V / max(R, 1)]: an empty mail is 0
                daily[m].append(false / max(len(chosen), 1))
                if chosen:
                    tallies[m]["false"] += false
                    tallies[m]["sent"] += len(chosen)
                    tallies[m]["hit"] += len(chosen) - false
                out[m]["size"].append(len(chosen))
            label = (float(scores[probe]), bool(truth[probe]))
            own.append(label)
            pooled.append(label)
        for m in methods:
            t = tallies[m]
            out[m]["reader_fdr"].append(float(np.mean(daily[m])))
            if offered:
                out[m]["recall"].append(t["hit"] / offered)
    return out


def report(out: dict[str, dict[str, list[float]]], levels: tuple[float, ...]) -> None:
    print(f"\n{'digest':<11} {'FDR (95% CI)':<22} {'readers > level+0.1':>20} {'recall':>8} {'mean size':>10}")
    for m, values in out.items():
        fdr = np.array(values["fdr"])
        mean, half = (fdr.mean(), 1.96 * fdr.std() / np.sqrt(len(fdr))) if len(fdr) else (0.0, 0.0)
        level = float(m.split()[1]) if m != "top-10" else None
        readers = np.array(values["reader_fdr"])
        over = f"{np.mean(readers > level + 0.1):.3f}" if level is not None and len(readers) else "-"
        verdict = "" if level is None else ("  goal met" if mean <= level else "  goal MISSED")
        print(f"{m:<11} {mean:.3f} ({mean - half:.3f}-{mean + half:.3f})   {over:>20} "
              f"{np.mean(values['recall']):>8.3f} {np.mean(values['size']):>10.2f}{verdict}")  # fmt: skip
    top, loose = np.mean(out["top-10"]["recall"]), np.mean(out[f"level {max(levels)}"]["recall"])
    print(f"\nrecall at level {max(levels)}: {loose:.3f} vs top-10 {top:.3f} "
          f"({'goal met' if loose >= top else 'goal MISSED'}: at least the top-10's)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/citeulike_t")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from recommend_quality import read_lists, to_matrix

    started = time.perf_counter()
    vectors = item_vectors(args.data, args.cache)
    split = args.data / "splits" / "P10"
    train = to_matrix(read_lists(split / "train_P10_1.dat"), vectors.shape[0])
    test = to_matrix(read_lists(split / "test_P10_1.dat"), vectors.shape[0])
    rng = np.random.default_rng(args.seed)
    eligible = np.nonzero(np.diff(test.indptr) >= 10)[0]
    readers = rng.choice(eligible, min(args.readers, len(eligible)), replace=False)
    levels = (0.1, 0.2, 0.3)
    print(f"{len(readers):,} CiteULike-t readers, {args.days} days, pools of {POOL} with {RELEVANT_PER_DAY} relevant")
    out = simulate(vectors, train, test, readers, args.days, levels, args.seed)
    report(out, levels)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
