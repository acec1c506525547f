"""Conformal selection with false-discovery-rate control (Jin & Candès, "Selection by prediction with conformal
p-values", JMLR 2023), for a digest that can promise "at most q of what we send you is not for you".

Each candidate j has a model score s_j (higher: more likely relevant) and an unknown label. The calibration
items are labelled ones (relevant or not) drawn the same way as the candidates: exchangeable with them, which
is the assumption the guarantee rests on. For the null "j is not relevant", the conformal p-value counts the
calibration items that are *not* relevant and score at least as high as j:

    p_j = (1 + #{i in calibration: not relevant, s_i >= s_j}) / (n + 1)

(with ``rng``, ties broken at random for exactness; without, counted in full: a conservative p-value that is
1 when there is no calibration, so nothing is ever selected at random). Benjamini-Hochberg at level q over the
candidates' p-values then picks a set whose expected share of non-relevant items is at most q in finite
samples. :func:`choose_model` picks among several scoring models without breaking that (OptCS). Pure functions
over numpy arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def pvalues(
    calibration_scores: npt.ArrayLike, calibration_relevant: npt.ArrayLike, scores: npt.ArrayLike,
    rng: np.random.Generator | None = None,
) -> Floats:  # fmt: skip
    """Conformal p-values of the candidates ``scores`` against the labelled calibration items (randomised with
    ``rng``, else conservative)."""
    calib = np.asarray(calibration_scores, dtype=np.float64)
    relevant = np.asarray(calibration_relevant, dtype=bool)
    test = np.asarray(scores, dtype=np.float64)
    if calib.shape != relevant.shape:
        raise ValueError("calibration scores and labels differ in length")
    null = np.sort(calib[~relevant])  # the non-relevant calibration scores
    above = len(null) - np.searchsorted(null, test, side="right")  # strictly higher
    ties = np.searchsorted(null, test, side="right") - np.searchsorted(null, test, side="left")
    u = rng.random(len(test)) if rng is not None else np.ones(len(test))
    out: Floats = (above + u * (1 + ties)) / (len(calib) + 1)
    return np.minimum(out, 1.0)


def select(p: npt.ArrayLike, level: float, cap: int | None = None) -> list[int]:
    """Benjamini-Hochberg at ``level``: the indices selected, best p-value first, at most ``cap`` of them. The
    finite-sample guarantee is for the uncapped set; a cap keeps its smallest p-values (the most confident), and
    bench/digest_quality.py measures the capped sets' realised rate too."""
    values = np.asarray(p, dtype=np.float64)
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    m = len(values)
    if m == 0:
        return []
    order = np.argsort(values, kind="stable")
    passed = values[order] <= level * np.arange(1, m + 1) / m
    if not passed.any():
        return []
    k = int(np.nonzero(passed)[0].max()) + 1
    chosen = [int(i) for i in order[:k]]
    return chosen[:cap] if cap is not None else chosen


def choose_model(calibration_scores: npt.ArrayLike, calibration_relevant: npt.ArrayLike,
                 scores: npt.ArrayLike) -> int:  # fmt: skip
    """Which of K scoring models (rows of the K x n calibration and K x m candidate score matrices) to compute
    the p-values with, chosen so that choosing keeps them valid (the model-selection idea of Bai & Jin's OptCS,
    "Optimized Conformal Selection", 2024).

    The criterion is each model's AUC over the calibration items *and every candidate counted as not relevant*.
    For a candidate j that is in truth not relevant, that is a symmetric function of the calibration items and j
    together (the other candidates are the same whatever the order), so the exchangeability behind p_j survives
    the choice, and one model serves every candidate of the edition, as BH's guarantee needs. The first model
    wins ties and is the choice when the calibration has no relevant item."""
    calib = np.atleast_2d(np.asarray(calibration_scores, dtype=np.float64))
    relevant = np.asarray(calibration_relevant, dtype=bool)
    test = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if calib.shape[0] != test.shape[0] or calib.shape[1] != relevant.shape[0]:
        raise ValueError("calibration scores, labels and candidate scores do not line up")
    if not relevant.any() or calib.shape[0] == 1:
        return 0
    best, choice = -1.0, 0
    for k in range(calib.shape[0]):
        positives = np.sort(calib[k, relevant])
        negatives = np.concatenate([calib[k, ~relevant], test[k]])
        below = np.searchsorted(positives, negatives, side="left")  # positives under each negative
        ties = np.searchsorted(positives, negatives, side="right") - below
        auc = float(np.sum(len(positives) - below - ties) + 0.5 * np.sum(ties)) / (len(positives) * len(negatives))
        if auc > best + 1e-12:
            best, choice = auc, k
    return choice
