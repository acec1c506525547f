"""The recommendation models on small data whose right answers are known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from conftest import present
from paperfeed.recommend.algorithms import (
    Blend,
    ContentModel,
    GraphFilter,
    Popularity,
    bucket_of,
    fit_blend,
    tfidf,
    top_k,
)

# 12 papers over a 6-word vocabulary: 0-3 about graphs (words 0, 1), 4-7 about vision (2, 3), 8-11 about speech (4, 5)
WORDS = [[0, 1], [0, 1, 1], [0, 0, 1], [1, 0], [2, 3], [2, 2, 3], [3, 2], [3, 3, 2], [4, 5], [5, 4], [4, 4, 5], [5, 5]]


def counts() -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for i, words in enumerate(WORDS):
        for w in set(words):
            rows.append(i)
            cols.append(w)
            vals.append(words.count(w))
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(len(WORDS), 6))


def likes(*items: int, n: int = 12) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(items), np.float32), ([0] * len(items), list(items))), shape=(1, n))


def test_a_graph_reader_gets_graph_papers_and_never_what_they_have() -> None:
    model = ContentModel(tfidf(counts()))
    liked = likes(0)
    top = top_k(model.score(liked), liked, 3)[0]
    assert set(top) == {1, 2, 3}


def test_dismissed_papers_push_their_topic_down() -> None:
    model = ContentModel(tfidf(counts()))
    liked, dismissed = likes(0, 4), likes(5)
    scores = model.score(liked, dismissed)[0]
    assert scores[1] > scores[6]  # vision was dismissed once, graphs were not


def test_an_interests_vector_alone_gives_sensible_results() -> None:
    x = tfidf(counts())
    model = ContentModel(x)
    interests = np.asarray(x[8].todense()).ravel()  # "speech" in the words of paper 8
    top = top_k(model.score(sp.csr_matrix((1, 12)), interests=interests[None, :]), sp.csr_matrix((1, 12)), 4)[0]
    assert set(top) == {8, 9, 10, 11}


def test_the_graph_filter_follows_co_occurrence() -> None:
    # users 0-2 read 0 and 1 together; user 3 reads 2 and 3 together
    r = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
    graph = GraphFilter(k=2, alpha=0.3).fit(r)
    scores = graph.score(sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32)))[0]
    assert scores[1] > scores[2]
    assert scores[1] > scores[3]


def test_the_blend_copes_with_a_model_that_has_no_data() -> None:
    content = np.array([[0.1, 0.9, 0.5]], dtype=np.float32)
    mixed = Blend().combine([1], [content, None, None, np.array([[3.0, 1.0, 2.0]], dtype=np.float32)])
    assert mixed.shape == (1, 3)
    assert np.isfinite(mixed).all()
    assert Blend().combine([0], [content, None, None, None]).argmax() == 1


def test_blend_weights_are_fitted_per_history_bucket() -> None:
    rng = np.random.default_rng(0)
    history = sp.csr_matrix((rng.random((40, 30)) < 0.1).astype(np.float32))
    held = sp.csr_matrix((rng.random((40, 30)) < 0.05).astype(np.float32))
    helpful = np.asarray(held.todense()) + rng.random((40, 30)) * 0.1  # a model that knows the answer
    useless = rng.random((40, 30)).astype(np.float32)
    blend = fit_blend(history, held, [useless, helpful, None, np.asarray(Popularity(history).score(40))], k=5)
    for weights in blend.weights.values():
        assert weights[1] > 0  # the informative model gets weight
        assert weights[2] == 0.0  # the missing one none
    assert [bucket_of(n) for n in (0, 1, 2, 4, 5, 8, 50)] == [0, 0, 1, 1, 2, 3, 3]


def test_sharpening_is_the_taylor_polynomial_of_the_heat_kernel() -> None:
    rng = np.random.default_rng(3)
    r = sp.csr_matrix((rng.random((30, 12)) < 0.3).astype(np.float32))
    rows = r[:5]
    plain = GraphFilter(k=4, alpha=0.3).fit(r)
    sharp = GraphFilter(k=4, alpha=0.3, sharpen=1.5).fit(r)
    base = plain.score(rows)
    assert plain.r_norm is not None
    p = (plain.r_norm.T @ plain.r_norm).toarray()
    step = -1.5 * p
    taylor = np.eye(12) + step + step @ step / 2 + step @ step @ step / 6 + step @ step @ step @ step / 24
    np.testing.assert_allclose(sharp.score(rows), base @ taylor, rtol=1e-4, atol=1e-5)
    assert not np.allclose(sharp.score(rows), base)


def test_collective_mf_places_a_paper_nobody_has_by_its_words() -> None:
    from paperfeed.recommend.algorithms import CollectiveMF

    # 40 readers, each with graph papers (0-3) or vision papers (4-7); nobody has 8-11 (speech) or graph paper 3
    r = sp.lil_matrix((40, len(WORDS)), dtype=np.float32)
    for u in range(40):
        for item in [0, 1, 2] if u % 2 == 0 else [4, 5, 6, 7]:
            r[u, item] = 1.0
    r = sp.csr_matrix(r)
    model = CollectiveMF(factors=3, iterations=20, seed=1).fit(r, tfidf(counts()))  # one factor a topic
    graph_reader = model.score(np.array([0]))[0]
    assert graph_reader[3] > graph_reader[4:].max() + 0.05  # unread, but its words are the reader's papers' words
    assert model.user_factors is not None
    assert model.user_factors.shape == (40, 3)  # readers only, not the words
    no_words = CollectiveMF(factors=3, iterations=20, seed=1).fit(r, sp.csr_matrix((len(WORDS), 6), dtype=np.float32))
    assert no_words.score(np.array([0]))[0, 3] == 0.0  # plain ALS cannot place it


def test_folding_in_solves_the_same_least_squares_step_als_takes() -> None:
    from paperfeed.recommend.algorithms import CollectiveMF

    r = sp.random(300, 400, density=0.005, random_state=1, format="csr", dtype=np.float32)
    r.data[:] = 1.0
    features = sp.random(400, 50, density=0.06, random_state=2, format="csr", dtype=np.float32)
    model = CollectiveMF(factors=16, iterations=30, seed=3).fit(r, features)
    assert model.item_factors is not None
    for u in np.flatnonzero(np.diff(r.indptr))[:5]:  # a reader's factors from their items alone: ALS's own ranking
        folded = model.fold_in_user(model.item_factors[r[u].indices]) @ model.item_factors.T
        assert np.corrcoef(folded, model.score(np.array([u]))[0])[0, 1] > 0.999
    nobody = np.flatnonzero(np.asarray(r.sum(axis=0)).ravel() == 0)[:20]  # ALS placed these by features alone
    np.testing.assert_allclose(model.fold_in_items(features[nobody]), model.item_factors[nobody], atol=2e-3)
    assert np.abs(model.item_factors[nobody]).max() > 0.02  # (the check above is not between two zeros)
    assert not model.fold_in_items(sp.csr_matrix((2, 50), dtype=np.float32)).any()  # no features: nothing known


def corpus() -> tuple[list[str], np.ndarray]:
    """24 papers on three topics: words of the topic, and a vector near the topic's direction."""
    rng = np.random.default_rng(0)
    topics = [("graph", "node", "edge", "message"), ("image", "pixel", "vision", "camera"),
              ("speech", "audio", "voice", "acoustic")]  # fmt: skip
    directions = rng.normal(size=(3, 384))
    texts, vectors = [], []
    for i in range(24):
        words = topics[i % 3]
        texts.append(" ".join(rng.choice(words, size=6)) + f" paper{i}")
        v = directions[i % 3] + 0.3 * rng.normal(size=384)
        vectors.append(v / np.linalg.norm(v))
    return texts, np.array(vectors, np.float32)


def test_the_served_collective_model_round_trips_and_folds_in_new_papers() -> None:
    from paperfeed.recommend.collective import CollectiveModel, PaperFeatures

    texts, vectors = corpus()
    features, x = PaperFeatures.fit_transform(texts, vectors)
    assert features.vocabulary == sorted(["graph", "node", "edge", "message", "image", "pixel", "vision", "camera",
                                          "speech", "audio", "voice", "acoustic"])  # fmt: skip  # "paperN": once
    assert (x != features.transform(texts, vectors)).nnz == 0  # fitting and serving see the same features
    keys = np.arange(100, 124)
    r = sp.lil_matrix((30, 24), dtype=np.float32)
    for u in range(30):
        for item in range(u % 3, 21, 3):  # nobody reads papers 21-23
            r[u, item] = 1.0
    model, users = CollectiveModel.fit(sp.csr_matrix(r), keys, features, x, seed=1, factors=3)  # a factor a topic
    assert users.shape[0] == 30
    loaded = CollectiveModel.from_bytes(model.to_bytes())

    def describe(wanted: Sequence[int]) -> tuple[list[str], list[np.ndarray | None]]:
        return [texts[k - 100] for k in wanted], [vectors[k - 100] for k in wanted]

    mine = [100, 103]  # two graph papers
    scores = loaded.score(mine, list(keys), describe)
    assert scores is not None
    np.testing.assert_allclose(scores, present(model.score(mine, list(keys), describe)), rtol=1e-2, atol=1e-2)
    assert set(np.argsort(-scores[0])[:8]) <= set(range(0, 24, 3))  # the graph papers, read or not

    def describe_new(
        wanted: Sequence[int],
    ) -> tuple[list[str], list[np.ndarray | None]]:  # paper 999 is a copy of unread graph paper 21
        return [texts[21] if k == 999 else texts[k - 100] for k in wanted], [vectors[21] for k in wanted]

    new = loaded.item_factors([999], describe_new)
    np.testing.assert_allclose(new[0], loaded.item_factors([121], describe)[0], atol=2e-2)
    assert loaded.score([], [100], describe) is None


def test_an_unreadable_collective_model_is_refused() -> None:
    import io

    import pytest

    from paperfeed.recommend.collective import CollectiveModel

    other = io.BytesIO()
    np.savez(other, keys=np.arange(3))  # an archive, but not of a model
    for data in (b"", b"not a model", b"PK\x03\x04" + b"\x00" * 40, other.getvalue()):
        with pytest.raises(ValueError, match="not a saved collective model"):
            CollectiveModel.from_bytes(data)
