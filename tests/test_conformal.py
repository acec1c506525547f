"""Conformal selection: p-values that are valid under the null, and Benjamini-Hochberg sets whose realised
false-discovery rate stays at the level over many trials of exchangeable data."""

from __future__ import annotations

import numpy as np
import pytest

from paperfeed.recommend.conformal import pvalues, select


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
