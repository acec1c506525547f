"""A digest with a false-discovery guarantee, simulated on CiteULike-t: conformal selection with an OptCS model
choice (paperfeed.recommend.conformal) beside fixed top-10 digests, and exploration on vs off
(paperfeed.recommend.explore).

    .venv/bin/python bench/digest_quality.py [--data ../shared/data/citeulike_t] [--readers 1000] [--days 60]
                                             [--pool 200]

Readers are CiteULike-t users (split P10, fold 1) with at least 10 held-out papers. A reader's held-out test
papers are "relevant"; the training papers are what they had before. Each simulated day offers a pool of 200
papers the reader has not seen (as many as a live edition's candidates; --pool to change it): the reader's
held-out papers are spread over the days at random, so most days offer none, one or two, and the rest of the
pool is drawn at random. Two scoring models, both fitted on the training split only:
- content: the content model, summed cosine to the reader's papers over tf-idf and MiniLM vectors of the words;
- ours: paperfeed.recommend's blend of content, graph filter, collective MF and popularity, with the weights per
  history size fitted on held-out histories of the training split (bench/recommend_quality.py's fit_weights).

Feedback is revealed only for papers sent. Calibration therefore comes from one slot per mail filled with a
uniformly random pool paper (marked as such in a real mail), whose label is revealed like any other. That is what
makes calibration items exchangeable with the candidates, the assumption the guarantee needs; labels of the
selected papers are biased toward high scores and are not used. While a reader has fewer than 30 calibration
labels, the pooled labels of every reader are added, which assumes readers are alike; the blend's scores are
z-scored per reader, which makes that closer to true. Each edition the model (content or ours) is chosen by OptCS
(conformal.choose_model) and Benjamini-Hochberg at the level picks the set, at most 10.

For levels 0.1, 0.2 and 0.3 the script prints, beside a fixed top-10 of each model:
- the realised FDR of the selected papers: the false share of each reader-day's selection (0 for an empty one,
  as the FDR is defined), averaged over reader-days, with a 95% interval;
- the share of readers whose own realised FDR (their 60 days' mean) exceeds the level by more than 0.1;
- recall of the relevant papers offered (the confident set only; the calibration slot is not counted);
- the mail's mean size (the confident set).
And, bounding what any selection from the blend's ranking can do: the longest prefix of it (at most 10) whose
false share is at most 0.3, chosen knowing the labels.

Then exploration: a top-10 digest by the content model whose profile learns from the papers marked relevant,
with or without one more paper, "something new", from a topic the reader has not rated (k-means clusters of the
MiniLM vectors, the "concepts"), the topic chosen by Thompson sampling over per-reader Beta posteriors; recall
of the top-10 over the last 30 days, so that exploring counts only through what it taught.

Goals: the FDR at most the level at every level; recall at level 0.3 at least the fixed top-10's; exploration on
at least matches off.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

from paperfeed.recommend.algorithms import CollectiveMF, GraphFilter, Popularity, tfidf
from paperfeed.recommend.conformal import choose_model, pvalues, select
from paperfeed.recommend.explore import Posterior, pick_topic

ROOT = Path(__file__).resolve().parents[1]
CAP, WARM, TOPICS = 10, 30, 50  # WARM: as paperfeed.digest.confident's WARM and MIN_CALIBRATION
MODELS = ("content", "ours")


@dataclass
class Corpus:
    vectors: np.ndarray  # MiniLM vectors of each paper's words, unit length
    topics: np.ndarray  # each paper's k-means cluster
    train: sp.csr_matrix
    test: sp.csr_matrix
    readers: np.ndarray
    scores: np.ndarray  # models x readers x papers
    pool: int = 200  # papers offered a day


def load(data: Path, cache: Path, readers: int, seed: int) -> Corpus:
    from sklearn.cluster import MiniBatchKMeans

    from recommend_quality import (
        TwoViewContent,
        concepts,
        fit_weights,
        read_lists,
        read_mult,
        score_parts,
        to_matrix,
        word_vectors,
    )

    vocabulary = (data / "vocabulary.dat").read_text().splitlines()
    counts = read_mult(data / "mult.dat.gz", len(vocabulary))
    x = tfidf(counts)
    minilm = word_vectors(counts, vocabulary, cache, data).astype(np.float32)
    minilm /= np.maximum(np.linalg.norm(minilm, axis=1, keepdims=True), 1e-12)
    features = sp.hstack([x, concepts(minilm)]).tocsr()
    split = data / "splits" / "P10"
    train = to_matrix(read_lists(split / "train_P10_1.dat"), x.shape[0])
    test = to_matrix(read_lists(split / "test_P10_1.dat"), x.shape[0])
    eligible = np.nonzero(np.diff(test.indptr) >= 10)[0]
    chosen = np.random.default_rng(seed).choice(eligible, min(readers, len(eligible)), replace=False)
    content = TwoViewContent(x, minilm, 1.0)
    blend = fit_weights(train, content, features, seed=seed)  # the training split's own held-out histories
    graph, pop, cmf = GraphFilter().fit(train), Popularity(train), CollectiveMF(seed=seed).fit(train, features)
    parts = score_parts(content, graph, cmf, pop, chosen, train[chosen])
    mixed = blend.combine(np.diff(train[chosen].indptr).tolist(), parts)  # type: ignore[attr-defined]
    scores = np.stack([np.asarray(parts[0], np.float32), np.asarray(mixed, np.float32)])
    topics = MiniBatchKMeans(TOPICS, random_state=seed, n_init=3).fit_predict(minilm)
    return Corpus(minilm, topics, train, test, chosen, scores)


@dataclass
class Tally:
    fdr: list[float] = field(default_factory=list)  # one per reader-day
    reader_fdr: list[float] = field(default_factory=list)  # one per reader
    recall: list[float] = field(default_factory=list)  # one per reader
    size: list[float] = field(default_factory=list)  # one per reader-day
    chose: list[int] = field(default_factory=list)  # the OptCS model, per reader-day


def _pools(corpus: Corpus, row: int, days: int, rng: np.random.Generator) -> list[tuple[list[int], np.ndarray]]:
    """Each day's pool: the reader's held-out papers spread over the days at random (each one on a uniformly
    random day, so most days offer none, one or two), the rest unseen papers drawn at random."""
    user = corpus.readers[row]
    seen = set(corpus.train[user].indices.tolist())
    relevant = [i for i in corpus.test[user].indices.tolist() if i not in seen]
    on_day = rng.integers(days, size=len(relevant))
    items = corpus.vectors.shape[0]
    out = []
    for day in range(days):
        good = [relevant[k] for k in np.flatnonzero(on_day == day)][: corpus.pool // 4]
        others = rng.choice(items, corpus.pool + 50, replace=False)
        pool = list(dict.fromkeys([*good, *(int(i) for i in others if i not in seen and i not in good)]))[: corpus.pool]
        out.append((pool, np.array([i in good for i in pool])))
    return out


def simulate_selection(corpus: Corpus, days: int, levels: tuple[float, ...], seed: int) -> dict[str, Tally]:
    rng = np.random.default_rng(seed)
    methods = [f"top-10 {m}" for m in MODELS] + [f"level {q}" for q in levels] + [f"oracle {max(levels)}"]
    out = {m: Tally() for m in methods}
    # every reader's calibration labels so far (scores of both models), for readers with few of their own
    pooled_scores = np.zeros((len(MODELS), len(corpus.readers) * days))
    pooled_labels = np.zeros(len(corpus.readers) * days, dtype=bool)
    n = 0
    for row in range(len(corpus.readers)):
        first = n  # this reader's own labels are pooled_*[first:n]
        hits = {m: 0 for m in methods}
        daily: dict[str, list[float]] = {m: [] for m in methods}
        offered = 0
        for pool, truth in _pools(corpus, row, days, rng):
            offered += int(truth.sum())
            scores = corpus.scores[:, row, pool]  # models x pool
            start = first if n - first >= WARM else 0
            cs, cr = pooled_scores[:, start:n], pooled_labels[start:n]
            model = choose_model(cs, cr, scores)
            p = pvalues(cs[model], cr, scores[model], rng)
            for m in methods:
                if m.startswith("top-10"):
                    chosen = list(np.argsort(-scores[MODELS.index(m.split()[1])])[:CAP])
                elif m.startswith("oracle"):
                    chosen = _oracle(scores[MODELS.index("ours")], truth, float(m.split()[1]))
                else:  # as the live digest: nothing is picked before WARM judged random picks in all
                    chosen = select(p, float(m.split()[1]), CAP) if n - start >= WARM else []
                    out[m].chose.append(model)
                false = int((~truth[chosen]).sum()) if chosen else 0
                share = false / max(len(chosen), 1)  # FDR = E[V / max(R, 1)]: an empty mail counts 0
                out[m].fdr.append(share)
                daily[m].append(share)
                hits[m] += len(chosen) - false
                out[m].size.append(len(chosen))
            probe = int(rng.integers(len(pool)))  # the calibration slot: a uniformly random pool paper
            pooled_scores[:, n], pooled_labels[n] = scores[:, probe], truth[probe]
            n += 1
        for m in methods:
            out[m].reader_fdr.append(float(np.mean(daily[m])))
            if offered:
                out[m].recall.append(hits[m] / offered)
    return out


def _oracle(scores: np.ndarray, truth: np.ndarray, level: float) -> list[int]:
    """The longest prefix (at most CAP) of the ranking whose false share is at most ``level``, chosen knowing the
    labels: a bound on the recall of any selection from this model's ranking that keeps every mail within the
    level (the FDR, a mean over mails, may exceed it on some)."""
    order = np.argsort(-scores)[:CAP]
    good = np.cumsum(truth[order])
    fine = np.flatnonzero((np.arange(1, len(order) + 1) - good) <= level * np.arange(1, len(order) + 1))
    return [int(i) for i in order[: fine.max() + 1]] if len(fine) and good[fine.max()] else []


def simulate_exploration(corpus: Corpus, days: int, explore: bool, seed: int) -> tuple[float, float]:
    """A top-10 content digest whose profile learns from the papers marked relevant, with or without one more
    paper from an unrated topic: recall over the last half of the days of the top-10 alone (so exploring counts
    only through what it taught) and of the whole mail."""
    rng = np.random.default_rng(seed)
    draws = np.random.default_rng(seed + 1)
    top, whole = [], []
    for row, user in enumerate(corpus.readers):
        history = corpus.train[user].indices
        profile = corpus.vectors[history].sum(axis=0)
        rated = set(corpus.topics[history].tolist())
        posterior: Posterior[int] = Posterior()
        hits = [0, 0]
        offered = 0
        for day, (pool, truth) in enumerate(_pools(corpus, row, days, rng)):
            order = list(np.argsort(-(corpus.vectors[pool] @ profile)))
            sent = order[:CAP]
            if explore:
                rest = [i for i in order[CAP:] if int(corpus.topics[pool[i]]) not in rated]
                topic = pick_topic(posterior, {int(corpus.topics[pool[i]]) for i in rest}, draws)
                extra = next((i for i in rest if int(corpus.topics[pool[i]]) == topic), None)
                if extra is not None and topic is not None:
                    sent = [*sent, extra]
                    posterior.update(topic, bool(truth[extra]))
            for i in sent:
                if truth[i]:
                    profile = profile + corpus.vectors[pool[i]]  # the reader marked it relevant
            if day >= days // 2:
                hits[0] += int(truth[order[:CAP]].sum())
                hits[1] += int(truth[sent].sum())
                offered += int(truth.sum())
        if offered:
            top.append(hits[0] / offered)
            whole.append(hits[1] / offered)
    return float(np.mean(top)), float(np.mean(whole))


def report(out: dict[str, Tally], levels: tuple[float, ...]) -> None:
    print(f"\n{'digest':<15} {'FDR (95% CI)':<22} {'readers > level+0.1':>20} {'recall':>8} {'mean size':>10}")
    for m, t in out.items():
        fdr = np.array(t.fdr)
        mean, half = (fdr.mean(), 1.96 * fdr.std() / np.sqrt(len(fdr))) if len(fdr) else (0.0, 0.0)
        level = float(m.split()[1]) if m.startswith("level") else None
        if m.startswith("oracle"):
            print(f"{m:<15} {'(knows the labels: a bound)':<43} {np.mean(t.recall):>8.3f} {np.mean(t.size):>10.2f}")
            continue
        readers = np.array(t.reader_fdr)
        over = f"{np.mean(readers > level + 0.1):.3f}" if level is not None and len(readers) else "-"
        verdict = "" if level is None else ("  goal met" if mean + half <= level else
                                            "  goal met (mean)" if mean <= level else "  goal MISSED")  # fmt: skip
        print(f"{m:<15} {mean:.3f} ({mean - half:.3f}-{mean + half:.3f})   {over:>20} "
              f"{np.mean(t.recall):>8.3f} {np.mean(t.size):>10.2f}{verdict}")  # fmt: skip
    loose = out[f"level {max(levels)}"]
    share = np.bincount(loose.chose, minlength=len(MODELS)) / max(len(loose.chose), 1)
    print("OptCS chose " + ", ".join(f"{name} {s:.0%}" for name, s in zip(MODELS, share, strict=True))
          + " of the editions")  # fmt: skip
    top = max(np.mean(out[f"top-10 {m}"].recall) for m in MODELS)
    print(f"recall at level {max(levels)}: {np.mean(loose.recall):.3f} vs the better fixed top-10 {top:.3f} "
          f"({'goal met' if np.mean(loose.recall) >= top else 'goal MISSED'}: at least the top-10's)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/citeulike_t")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pool", type=int, default=200, help="papers offered a day (a live edition: 200)")
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = load(args.data, args.cache, args.readers, args.seed)
    corpus.pool = args.pool
    levels = (0.1, 0.2, 0.3)
    print(f"{len(corpus.readers):,} CiteULike-t readers, {args.days} days, pools of {corpus.pool} with the reader's "
          f"held-out papers spread over the days (models fitted in {time.perf_counter() - started:.0f} s)")  # fmt: skip
    report(simulate_selection(corpus, args.days, levels, args.seed), levels)
    (off, _), (on, on_whole) = (simulate_exploration(corpus, args.days, e, args.seed) for e in (False, True))
    print(f"\nexploration, recall of the top-10 over the last {args.days - args.days // 2} days: on {on:.3f}, off "
          f"{off:.3f} ({'goal met' if on >= off else 'goal MISSED'}: on at least matches off); with the explored "
          f"paper itself, on {on_whole:.3f}")  # fmt: skip
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
