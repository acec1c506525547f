"""Conformal selection with false-discovery-rate control (Jin & Candès, "Selection by prediction with conformal
p-values", JMLR 2023), for a digest that can promise "at most q of what we send you is not for you".

Each candidate j has a model score s_j (higher: more likely relevant) and an unknown label. The calibration
items are labelled ones (relevant or not) drawn the same way as the candidates: exchangeable with them, which
is the assumption the guarantee rests on. For the null "j is not relevant", the conformal p-value counts the
calibration items that are *not* relevant and score at least as high as j:

    p_j = (1 + #{i in calibration: not relevant, s_i >= s_j}) / (n + 1)

(ties broken at random for exactness). Benjamini-Hochberg at level q over the candidates' p-values then picks a
set whose expected share of non-relevant items is at most q in finite samples. Pure functions over numpy arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def pvalues(
    calibration_scores: npt.ArrayLike, calibration_relevant: npt.ArrayLike, scores: npt.ArrayLike,
    rng: np.random.Generator | None = None,
) -> Floats:  # fmt: skip
    """Conformal p-values of the candidates ``scores`` against the labelled calibration items."""
    calib = np.asarray(calibration_scores, dtype=np.float64)
    relevant = np.asarray(calibration_relevant, dtype=bool)
    test = np.asarray(scores, dtype=np.float64)
    if calib.shape != relevant.shape:
        raise ValueError("calibration scores and labels differ in length")
    null = np.sort(calib[~relevant])  # the non-relevant calibration scores
    above = len(null) - np.searchsorted(null, test, side="right")  # strictly higher
    ties = np.searchsorted(null, test, side="right") - np.searchsorted(null, test, side="left")
    u = (rng or np.random.default_rng(0)).random(len(test))
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
