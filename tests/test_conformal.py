"""Conformal selection: p-values that are valid under the null, and Benjamini-Hochberg sets whose realised
false-discovery rate stays at the level over many trials of exchangeable data."""

from __future__ import annotations

import numpy as np
import pytest

from paperfeed.recommend.conformal import choose_model, pvalues, select


def _draw(rng: np.random.Generator, n: int, base_rate: float) -> tuple[np.ndarray, np.ndarray]:
    relevant = rng.random(n) < base_rate
    scores = rng.normal(np.where(relevant, 1.5, 0.0), 1.0)
    return scores, relevant


def test_pvalues_are_valid_for_the_non_relevant() -> None:
    """Jin & Candès's validity: P(p_j <= t and j is not relevant) <= t (jointly, not given that j is null)."""
    rng = np.random.default_rng(1)
    hits: list[np.ndarray] = []
    for _ in range(400):
        cs, cr = _draw(rng, 100, 0.3)
        ts, tr = _draw(rng, 40, 0.3)
        p = pvalues(cs, cr, ts, rng)
        hits.append(np.stack([p, ~tr]))
    p, null = np.concatenate(hits, axis=1)
    for t in (0.05, 0.1, 0.2, 0.5):
        joint = float(np.mean((p <= t) & (null > 0)))
        assert joint <= t + 0.005, t
        assert joint >= 0.5 * t * 0.7 / 2, t  # and not vacuous: the non-relevant share is 0.7


@pytest.mark.parametrize("level", [0.1, 0.2, 0.3])
def test_selection_keeps_the_false_discovery_rate_at_the_level(level: float) -> None:
    rng = np.random.default_rng(7)
    shares, sizes = [], []
    for _ in range(2_000):
        cs, cr = _draw(rng, 200, 0.3)
        ts, tr = _draw(rng, 50, 0.3)
        chosen = select(pvalues(cs, cr, ts, rng), level)
        shares.append(float(np.mean(~tr[chosen])) if chosen else 0.0)
        sizes.append(len(chosen))
    fdr, error = float(np.mean(shares)), float(np.std(shares) / np.sqrt(len(shares)))
    assert fdr <= level + 2 * error  # the guarantee, up to sampling error
    assert fdr >= level * 0.5 and np.mean(sizes) > 3  # and not trivially: it does select


def test_pvalues_and_selection_edge_cases() -> None:
    assert select([], 0.2) == []
    assert select([0.9, 0.8], 0.2) == []
    assert select([0.001, 0.5, 0.002], 0.1) == [0, 2]
    assert select([0.001, 0.002, 0.003], 0.1, cap=2) == [0, 1]
    p = pvalues([0.1, 0.9], [False, False], [1.0, 0.5, 0.0])
    assert p[0] < p[1] < p[2] <= 1.0
    assert np.all(pvalues([], [], [0.3]) <= 1.0)
    with pytest.raises(ValueError, match="level"):
        select([0.1], 1.5)
    with pytest.raises(ValueError, match="differ"):
        pvalues([0.1], [True, False], [0.2])


def test_choosing_the_model_keeps_the_rate_and_prefers_the_informative_one() -> None:
    """OptCS's model choice (AUC over the calibration and the candidates counted as not relevant): it picks the
    model that separates, and choosing on the same data keeps the realised FDR at the level."""
    rng = np.random.default_rng(11)
    shares, picked = [], []
    for _ in range(1_500):
        cr = rng.random(150) < 0.3
        tr = rng.random(40) < 0.3
        informative = [rng.normal(np.where(r, 1.5, 0.0), 1.0) for r in (cr, tr)]
        noise = [rng.normal(0.0, 1.0, len(r)) for r in (cr, tr)]
        cs, ts = np.stack([noise[0], informative[0]]), np.stack([noise[1], informative[1]])
        k = choose_model(cs, cr, ts)
        picked.append(k)
        chosen = select(pvalues(cs[k], cr, ts[k], rng), 0.2)
        shares.append(float(np.mean(~tr[chosen])) if chosen else 0.0)
    fdr, error = float(np.mean(shares)), float(np.std(shares) / np.sqrt(len(shares)))
    assert fdr <= 0.2 + 2 * error
    assert np.mean(picked) > 0.99  # the informative model, nearly always


def test_model_choice_edge_cases_and_conservative_pvalues() -> None:
    assert choose_model([[0.1, 0.2]], [True, False], [[0.3]]) == 0  # one model
    assert choose_model([[0.1, 0.2], [0.2, 0.1]], [False, False], [[0.3], [0.1]]) == 0  # no relevant label
    assert choose_model([[0.0, 1.0], [1.0, 0.0]], [False, True], [[0.5], [0.5]]) == 0
    assert choose_model([[1.0, 0.0], [0.0, 1.0]], [False, True], [[0.5], [0.5]]) == 1
    with pytest.raises(ValueError, match="line up"):
        choose_model([[0.1, 0.2]], [True], [[0.3]])
    assert list(pvalues([], [], [5.0, 0.0])) == [1.0, 1.0]  # no calibration: nothing can be selected
    assert select(pvalues([], [], [5.0, 0.0]), 0.3) == []
    p = pvalues([0.5, 0.2, 0.9], [False, False, True], [1.0, 0.5])
    assert list(p) == [0.25, 0.5]  # (1 + non-relevant at least as high) / (n + 1), ties counted in full
